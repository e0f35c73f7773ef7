"""The change-password page: the policy at the field, other sessions ended, expiry enforced."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from litestar.testing import TestClient
from sqlalchemy import update

from labledger.app import create_app
from labledger.db.tables import app_user
from labledger.db.types import utc_now
from labledger.identity.sessions import SESSION_COOKIE, start_session
from tests.conftest import TEST_PASSWORD
from tests.web.helpers import csrf_token, sign_in

NEW_PASSWORD = "a fresh passphrase 7"


def _change(client, old: str, new: str):
    return client.post(
        "/account/password",
        data={
            "old_password": old,
            "new_password": new,
            "repeat_password": new,
            "_csrf_token": csrf_token(client, "/account/password"),
        },
    )


def test_a_refused_password_is_explained_at_its_field(client, make_person):
    make_person("ann", "analyst")
    sign_in(client, "ann", TEST_PASSWORD)
    page = client.get("/account/password").text
    assert "at least 10 characters and at most 256" in page

    for refused, reason in (
        ("password12", "is one of the most common passwords"),
        (TEST_PASSWORD, "must differ from the current password"),
        ("k" * 300, "must be at most 256 characters long"),
    ):
        response = _change(client, TEST_PASSWORD, refused)
        assert response.status_code == 422
        assert 'id="new_password" name="new_password"' in response.text
        assert 'aria-invalid="true" aria-describedby="new_password-error"' in response.text
        assert reason in response.text
    assert sign_in(client, "ann", TEST_PASSWORD).status_code in (302, 303), (
        "the password is unchanged"
    )


def test_changing_the_password_signs_out_the_other_sessions(client, db, make_person):
    ann = make_person("ann", "analyst")
    with db.write() as conn:
        elsewhere = start_session(conn, ann.principal)
    sign_in(client, "ann", TEST_PASSWORD)
    here = client.cookies[SESSION_COOKIE]

    assert _change(client, TEST_PASSWORD, NEW_PASSWORD).status_code == 200
    assert client.get("/", follow_redirects=False).status_code == 200, "this session goes on"
    client.cookies.set(SESSION_COOKIE, elsewhere)
    assert client.get("/", follow_redirects=False).headers["location"] == "/login?next=/"
    client.cookies.set(SESSION_COOKIE, here)
    assert client.get("/", follow_redirects=False).status_code == 200


def test_an_expired_password_must_be_changed_before_anything_else(db, settings, make_person):
    make_person("ann", "analyst")
    with db.write() as conn:
        conn.execute(
            update(app_user)
            .where(app_user.c.username == "ann")
            .values(password_changed_at=utc_now() - timedelta(days=31))
        )
    app = create_app(replace(db, settings=replace(settings, password_max_age_days=30)))
    with TestClient(app, raise_server_exceptions=False) as client:
        assert sign_in(client, "ann", TEST_PASSWORD).status_code in (302, 303)
        for blocked in ("/", "/records", "/admin/users"):
            response = client.get(blocked, follow_redirects=False)
            assert response.headers["location"] == "/account/password", blocked
        page = client.get("/account/password").text
        assert 'id="expired-notice"' in page and "Your password has expired" in page
        assert "set by an administrator" not in page
        refused = _change(client, TEST_PASSWORD, "password12")
        assert refused.status_code == 422 and 'id="expired-notice"' in refused.text

        assert _change(client, TEST_PASSWORD, NEW_PASSWORD).status_code == 200
        assert client.get("/", follow_redirects=False).status_code == 200
        assert 'id="expired-notice"' not in client.get("/account/password").text
