"""Signing in and out in the browser: sessions, timeouts, lockout, CSRF."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from labledger.db.tables import audit_event, rate_limit, web_session
from labledger.db.types import utc_now
from labledger.identity.principal import SYSTEM
from labledger.identity.sessions import SESSION_COOKIE
from labledger.identity.users import reset_password
from tests.conftest import TEST_PASSWORD
from tests.web.helpers import csrf_token, sign_in


def test_pages_need_a_session(client):
    response = client.get("/", follow_redirects=False)
    assert response.status_code in (302, 303)
    assert response.headers["location"] == "/login?next=/"


def test_sign_in_and_out(client, db, make_person):
    make_person("ann", "analyst")
    response = sign_in(client, "ann", TEST_PASSWORD)
    assert response.status_code in (302, 303) and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    home = client.get("/")
    assert home.status_code == 200 and "My work" in home.text and "Ann Tester" in home.text
    with db.read() as conn:
        stored = conn.execute(select(web_session.c.token_hash)).scalars().all()
    assert client.cookies[SESSION_COOKIE] not in stored, "only the hash is stored"
    token = csrf_token(client, "/")
    client.post("/logout", data={"_csrf_token": token}, follow_redirects=False)
    assert client.get("/", follow_redirects=False).status_code in (302, 303)


@pytest.mark.requirement("REQ-ACC-05")
def test_wrong_password_and_lockout(client, db, make_person):
    make_person("ann", "analyst")
    for _ in range(4):
        response = sign_in(client, "ann", "not the password")
        assert response.status_code == 401 and "Invalid username or password" in response.text
    assert sign_in(client, "ann", "not the password").status_code == 429, "the rate limit first"
    with db.write() as conn:  # a minute later the rate limit has let go; the count has not
        conn.execute(update(rate_limit).values(window_start=utc_now() - timedelta(minutes=2)))
    response = sign_in(client, "ann", "not the password")
    assert "locked" in response.text
    assert "locked" in sign_in(client, "ann", TEST_PASSWORD).text
    with db.read() as conn:
        actions = conn.execute(select(audit_event.c.action)).scalars().all()
    assert actions.count("login.failed") == 5 and "user.lock" in actions


@pytest.mark.requirement("REQ-ACC-06")
def test_idle_session_ends(client, db, make_person):
    make_person("ann", "analyst")
    sign_in(client, "ann", TEST_PASSWORD)
    with db.write() as conn:
        conn.execute(update(web_session).values(last_seen_at=utc_now() - timedelta(minutes=16)))
    assert client.get("/", follow_redirects=False).status_code in (302, 303)
    with db.read() as conn:
        assert "session.timeout" in conn.execute(select(audit_event.c.action)).scalars().all()


@pytest.mark.requirement("REQ-ACC-07")
def test_forms_need_csrf(client, make_person):
    make_person("ann", "analyst")
    response = client.post("/login", data={"username": "ann", "password": TEST_PASSWORD})
    assert response.status_code == 403


def test_api_ignores_the_session_cookie(client, make_person):
    make_person("ann", "analyst")
    sign_in(client, "ann", TEST_PASSWORD)
    assert client.get("/api/v1/types").status_code == 401


def test_one_time_password_must_be_changed(client, db, make_person):
    make_person("ann", "analyst")
    with db.write() as conn:
        one_time = reset_password(conn, SYSTEM, "ann")
    sign_in(client, "ann", one_time)
    response = client.get("/", follow_redirects=False)
    assert response.headers["location"] == "/account/password"
    token = csrf_token(client, "/account/password")
    form = {
        "old_password": one_time,
        "new_password": "a brand new secret",
        "repeat_password": "a brand new secret",
        "_csrf_token": token,
    }
    changed = client.post("/account/password", data=form)
    assert changed.status_code == 200 and "was changed" in changed.text
    assert client.get("/").status_code == 200


def test_login_never_redirects_off_site(client, make_person):
    make_person("ann", "analyst")
    token = csrf_token(client)
    response = client.post(
        "/login",
        follow_redirects=False,
        data={
            "username": "ann",
            "password": TEST_PASSWORD,
            "next": "//evil.example/",
            "_csrf_token": token,
        },
    )
    assert response.headers["location"] == "/"
