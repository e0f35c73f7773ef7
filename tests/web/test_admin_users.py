"""Users and roles in the browser: created, changed and audited by the identity services."""

from __future__ import annotations

import re

from sqlalchemy import func, select, update

from labledger.db.tables import app_user, audit_event, role
from labledger.identity.roles import list_roles
from labledger.identity.users import get_user
from tests.conftest import TEST_PASSWORD
from tests.web.helpers import csrf_token, sign_in
from tests.web.test_admin_types import ADMIN_PERMISSIONS

_PASSWORD = re.compile(r'<code class="password" id="one-time-password">([^<]+)</code>')


def counts(db) -> tuple[int, int, int]:
    with db.read() as conn:
        return tuple(
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (app_user, role, audit_event)
        )


def actions(db) -> list[str]:
    with db.read() as conn:
        return list(
            conn.execute(select(audit_event.c.action).order_by(audit_event.c.seq)).scalars()
        )


def user(db, username):
    with db.read() as conn:
        return get_user(conn, username)


def act(client, action: str, username: str = "", **fields):
    token = csrf_token(client, "/admin/users")
    return client.post(
        "/admin/users",
        data={"_csrf_token": token, "action": action, "username": username, **fields},
    )


def test_user_and_role_pages_refuse_people_without_the_permission(client, db, make_person):
    make_person("ann", "analyst")
    make_person("cora", "configurer", permissions=("configure",))
    sign_in(client, "ann", TEST_PASSWORD)
    assert client.get("/admin/users").status_code == 403
    assert client.get("/admin/roles").status_code == 403
    before = counts(db)
    token = csrf_token(client, "/")
    response = client.post(
        "/admin/users",
        data={"_csrf_token": token, "action": "create", "username": "mallory", "full_name": "M"},
    )
    assert response.status_code == 403 and "manage_users" in response.text
    response = client.post(
        "/admin/roles",
        data={"_csrf_token": token, "key": "analyst", "label": "X", "permissions": "configure"},
    )
    assert response.status_code == 403
    assert counts(db) == before
    # Defining roles is configuration: a configurer may, without managing users.
    sign_in(client, "cora", TEST_PASSWORD)
    assert client.get("/admin/roles").status_code == 200
    assert client.get("/admin/users").status_code == 403


def test_an_admin_creates_a_user_whose_one_time_password_shows_once(client, db, make_person):
    make_person("ada", "configurer", permissions=ADMIN_PERMISSIONS)
    make_person("ann", "analyst")
    sign_in(client, "ada", TEST_PASSWORD)
    response = act(
        client, "create", "bob", full_name="Bob Builder", email="bob@example.org", roles="analyst"
    )
    assert response.status_code == 200 and "User bob was created." in response.text
    password = _PASSWORD.search(response.text).group(1)
    assert password not in client.get("/admin/users").text, "shown only once"
    assert user(db, "bob")["roles"] == ["analyst"] and user(db, "bob")["must_change_password"]
    assert actions(db)[-1] == "user.create"
    client.post("/logout", data={"_csrf_token": csrf_token(client, "/")})
    assert sign_in(client, "bob", password).headers["location"] == "/"
    assert client.get("/", follow_redirects=False).headers["location"] == "/account/password"


def test_a_refused_user_keeps_the_form_and_changes_nothing(client, db, make_person):
    make_person("ada", "configurer", permissions=ADMIN_PERMISSIONS)
    sign_in(client, "ada", TEST_PASSWORD)
    before = counts(db)
    response = act(client, "create", "Bad Name!", full_name="", roles="analyst")
    assert response.status_code == 422
    text = response.text
    assert 'id="username-error"' in text and "lower-case letters" in text
    assert 'id="full_name-error"' in text and "prints on signatures" in text
    assert 'value="Bad Name!"' in text, "what was typed stays in the form"
    response = act(client, "create", "ada", full_name="Another Ada")
    assert response.status_code == 409 and "is taken" in response.text
    assert counts(db) == before


def test_roles_activation_unlock_and_password_reset(client, db, make_person):
    make_person("ada", "configurer", permissions=ADMIN_PERMISSIONS)
    make_person("ann", "analyst")
    make_person("rex", "reviewer")
    sign_in(client, "ada", TEST_PASSWORD)
    response = act(client, "roles", "ann", roles=["analyst", "reviewer"])
    assert "The roles of ann were saved." in response.text
    assert user(db, "ann")["roles"] == ["analyst", "reviewer"]
    assert "ann was deactivated." in act(client, "deactivate", "ann").text
    assert not user(db, "ann")["active"]
    assert 'id="user-ann" class="inactive"' in client.get("/admin/users").text
    assert "ann was activated." in act(client, "activate", "ann").text
    with db.write() as conn:
        conn.execute(
            update(app_user)
            .where(app_user.c.username == "rex")
            .values(locked_at=app_user.c.created_at, failed_attempts=5)
        )
    assert "locked" in client.get("/admin/users").text
    assert "rex was unlocked." in act(client, "unlock", "rex").text
    assert not user(db, "rex")["locked"]
    response = act(client, "reset", "rex")
    password = _PASSWORD.search(response.text).group(1)
    assert user(db, "rex")["must_change_password"]
    assert actions(db)[-5:] == [
        "user.roles",
        "user.deactivate",
        "user.activate",
        "user.unlock",
        "user.password_reset",
    ]
    client.post("/logout", data={"_csrf_token": csrf_token(client, "/")})
    assert sign_in(client, "rex", password).headers["location"] == "/"


def test_an_admin_cannot_deactivate_themselves(client, db, make_person):
    make_person("ada", "configurer", permissions=ADMIN_PERMISSIONS)
    sign_in(client, "ada", TEST_PASSWORD)
    before = counts(db)
    response = act(client, "deactivate", "ada")
    assert response.status_code == 409 and "cannot deactivate your own account" in response.text
    assert counts(db) == before and user(db, "ada")["active"]


def test_roles_are_created_and_changed_in_the_browser(client, db, make_person):
    make_person("ada", "configurer", permissions=ADMIN_PERMISSIONS)
    sign_in(client, "ada", TEST_PASSWORD)
    token = csrf_token(client, "/admin/roles")
    response = client.post(
        "/admin/roles",
        data={"_csrf_token": token, "key": "qa", "label": "Quality", "permissions": "read_audit"},
    )
    assert response.status_code == 200 and "Role qa was saved." in response.text
    response = client.post(
        "/admin/roles",
        data={
            "_csrf_token": token,
            "key": "qa",
            "label": "Quality assurance",
            "description": "Signs approvals",
        },
    )
    with db.read() as conn:
        qa = next(r for r in list_roles(conn) if r["key"] == "qa")
    assert qa == {
        "key": "qa",
        "label": "Quality assurance",
        "description": "Signs approvals",
        "permissions": [],
    }
    assert actions(db)[-2:] == ["role.save", "role.save"]
    before = counts(db)
    response = client.post(
        "/admin/roles",
        data={"_csrf_token": token, "key": "Bad Key", "label": "", "permissions": "fly"},
    )
    assert response.status_code == 422
    assert 'id="new-key-error"' in response.text and "unknown permission(s): fly" in response.text
    assert counts(db) == before
