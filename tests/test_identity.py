"""Identity: hashed secrets, lockout, deactivation, one-time passwords, permissions."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from labledger.db.tables import api_token, app_user, audit_event, metadata
from labledger.errors import Conflict, Forbidden, ValidationFailed
from labledger.identity.principal import MANAGE_USERS, SYSTEM
from labledger.identity.roles import save_role
from labledger.identity.tokens import create_token, principal_for_token, revoke_token
from labledger.identity.users import (
    change_own_password,
    check_password,
    create_user,
    get_user,
    set_active,
    set_roles,
    unlock,
)
from labledger.metadata.types import publish_type
from tests.conftest import TEST_PASSWORD
from tests.definitions import acting, batch_type, measurement_type, unchanged


def _everything_stored(db) -> str:
    """Every value of every platform table, as text."""
    with db.read() as conn:
        return "\n".join(
            str(tuple(row))
            for table in metadata.sorted_tables
            for row in conn.execute(select(table))
        )


def _actions(db, username: str) -> list[tuple[str, str]]:
    with db.read() as conn:
        rows = conn.execute(
            select(audit_event.c.actor, audit_event.c.action, audit_event.c.details).order_by(
                audit_event.c.seq
            )
        )
        return [(r.actor, r.action) for r in rows if (r.details or {}).get("user") == username]


@pytest.mark.requirement("REQ-ACC-04")
def test_passwords_are_argon2id_and_tokens_are_stored_only_as_sha256(db, make_person):
    ann = make_person("ann", "analyst")
    with db.read() as conn:
        password_hash = conn.execute(
            select(app_user.c.password_hash).where(app_user.c.username == "ann")
        ).scalar_one()
        token_row = conn.execute(
            select(api_token).where(api_token.c.user_id == ann.principal.id)
        ).one()
    assert password_hash.startswith("$argon2id$")
    assert token_row.token_hash == hashlib.sha256(ann.token.encode()).hexdigest()
    stored = _everything_stored(db)
    assert TEST_PASSWORD not in stored
    assert ann.token not in stored and ann.token[10:] not in stored
    with db.read() as conn:
        assert principal_for_token(conn, ann.token).username == "ann"
        assert principal_for_token(conn, ann.token + "x") is None
        assert principal_for_token(conn, "not-a-token") is None


@pytest.mark.requirement("REQ-ACC-05")
def test_five_wrong_passwords_lock_the_account_until_an_audited_unlock(db, make_person):
    ann = make_person("ann", "analyst")
    admin = acting("root", "admin", permissions=(MANAGE_USERS,))

    def attempt(password: str):
        with db.write() as conn:
            return check_password(conn, "ann", password)

    for _ in range(4):
        assert attempt("wrong password").principal is None
    assert not get_user_locked(db)
    assert "now locked" in attempt("wrong password").message
    assert get_user_locked(db)
    refused = attempt(TEST_PASSWORD)
    assert refused.principal is None and "locked" in refused.message
    with db.read() as conn:
        assert principal_for_token(conn, ann.token) is None, "a locked account's token stops too"
    assert _actions(db, "ann")[-7:] == [("ann", "login.failed")] * 5 + [
        ("system", "user.lock"),
        ("ann", "login.refused"),
    ]

    with pytest.raises(Forbidden), db.write() as conn:
        unlock(conn, acting("bob", "analyst"), "ann")
    with db.write() as conn:
        unlock(conn, admin, "ann")
    assert _actions(db, "ann")[-1] == ("root", "user.unlock")
    assert attempt("wrong password").principal is None
    assert attempt(TEST_PASSWORD).principal.username == "ann"
    assert _actions(db, "ann")[-1] == ("ann", "login")
    with db.read() as conn:
        failures = conn.execute(
            select(app_user.c.failed_attempts).where(app_user.c.username == "ann")
        ).scalar_one()
    assert failures == 0, "a success clears the count of failures"


def get_user_locked(db) -> bool:
    with db.read() as conn:
        return get_user(conn, "ann")["locked"]


@pytest.mark.requirement("REQ-ACC-05")
def test_unknown_and_absurd_usernames_fail_like_wrong_passwords(db):
    for username in ("nobody", "x" * 300, ""):
        with db.write() as conn:
            result = check_password(conn, username, "whatever")
        assert result.principal is None and result.message == "Invalid username or password."
    with db.read() as conn:
        failed = conn.execute(
            select(audit_event.c.actor).where(audit_event.c.action == "login.failed")
        ).scalars()
        assert all(len(actor) <= 64 for actor in failed)


@pytest.mark.requirement("REQ-ACC-03")
def test_deactivated_users_tokens_stop_working_and_usernames_are_never_reused(
    db, client, make_person
):
    ann = make_person("ann", "analyst")
    assert client.get("/api/v1/types", headers=ann.headers).status_code == 200
    with db.write() as conn:
        set_active(conn, SYSTEM, "ann", False)
    response = client.get("/api/v1/types", headers=ann.headers)
    assert response.status_code == 401
    assert _actions(db, "ann")[-1] == ("system", "user.deactivate")
    with db.write() as conn:
        assert not check_password(conn, "ann", TEST_PASSWORD).principal
    with unchanged(db), pytest.raises(Conflict, match="never reused"), db.write() as conn:
        create_user(conn, SYSTEM, username="ann", full_name="Another Ann")
    with db.write() as conn:
        set_active(conn, SYSTEM, "ann", True)
    assert client.get("/api/v1/types", headers=ann.headers).status_code == 200
    with db.write() as conn:
        revoke_token(conn, SYSTEM, ann.token[:10])
    assert client.get("/api/v1/types", headers=ann.headers).status_code == 401


@pytest.mark.requirement("REQ-ACC-04")
def test_admin_chosen_passwords_are_one_time(db):
    with db.write() as conn:
        password = create_user(
            conn, SYSTEM, username="ann", full_name="Ann", password="initial secret 1"
        )
        generated = create_user(conn, SYSTEM, username="bob", full_name="Bob")
    assert password == "initial secret 1" and len(generated) >= 12
    with db.read() as conn:
        assert get_user(conn, "ann")["must_change_password"]
        assert get_user(conn, "bob")["must_change_password"]
        assert get_user(conn, "admin")["must_change_password"], "the first admin too"
    with db.write() as conn:
        principal = check_password(conn, "ann", "initial secret 1").principal
    assert principal.must_change_password
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        change_own_password(conn, "ann", "initial secret 1", "short", min_length=10)
    assert refused.value.errors[0].field == "new_password"
    with db.write() as conn:
        change_own_password(conn, "ann", "initial secret 1", "my own secret 2", min_length=10)
        assert not get_user(conn, "ann")["must_change_password"]
    assert _actions(db, "ann")[-1] == ("ann", "user.password_change")


@pytest.mark.requirement("REQ-ACC-02")
def test_user_and_role_administration_needs_permissions_and_is_audited(db):
    analyst = acting("bob", "analyst")
    with unchanged(db):
        with pytest.raises(Forbidden), db.write() as conn:
            create_user(conn, analyst, username="eve", full_name="Eve")
        with pytest.raises(Forbidden), db.write() as conn:
            create_token(conn, analyst, "admin")
        with pytest.raises(Forbidden), db.write() as conn:
            save_role(conn, analyst, {"key": "boss", "label": "Boss"})
        with pytest.raises(ValidationFailed) as refused, db.write() as conn:
            save_role(conn, SYSTEM, {"key": "boss", "label": "Boss", "permissions": ["everything"]})
        assert refused.value.errors[0].field == "permissions"
        with pytest.raises(ValidationFailed) as refused, db.write() as conn:
            save_role(conn, SYSTEM, {"key": "boss", "label": "Boss", "description": "\x00"})
        assert refused.value.errors[0].field == "description"
        with pytest.raises(ValidationFailed) as refused, db.write() as conn:
            create_user(conn, SYSTEM, username="Eve!", full_name=" ", roles=["nobody"])
        assert {e.field for e in refused.value.errors} == {"username", "full_name"}
        with pytest.raises(ValidationFailed) as refused, db.write() as conn:
            create_user(conn, SYSTEM, username="eve", full_name="Eve", roles=["nobody"])
        assert "nobody" in refused.value.errors[0].message
        with pytest.raises(ValidationFailed), db.write() as conn:
            create_user(conn, SYSTEM, username="eve", full_name="Eve", password="eve-is-my-name")
        with pytest.raises(ValidationFailed) as refused, db.write() as conn:
            create_user(conn, SYSTEM, username="eve", full_name="E\x00ve", email="e\x00")
        assert {e.field for e in refused.value.errors} == {"full_name", "email"}
    with db.write() as conn:
        save_role(conn, SYSTEM, {"key": "analyst", "label": "Analyst"})
        create_user(conn, SYSTEM, username="eve", full_name="Eve")
        set_roles(conn, SYSTEM, "eve", ["analyst"])
    assert _actions(db, "eve")[-2:] == [("system", "user.create"), ("system", "user.roles")]


@pytest.mark.requirement("REQ-ACC-02")
def test_publishing_needs_the_configure_permission(db, client, admin, make_person):
    ann = make_person("ann", "analyst", "reviewer")
    with unchanged(db):
        with pytest.raises(Forbidden), db.write() as conn:
            publish_type(conn, ann.principal, batch_type())
        response = client.put("/api/v1/types/batch", json=batch_type(), headers=ann.headers)
        assert response.status_code == 403
    response = client.put("/api/v1/types/batch", json=batch_type(), headers=admin.headers)
    assert response.status_code == 200 and response.json()["version"] == 1


@pytest.mark.requirement("REQ-ACC-01")
def test_every_read_and_write_checks_the_types_permissions(db, client, admin, make_person, publish):
    ann = make_person("ann", "analyst", "reviewer")
    outsider = make_person("olga", "visitor")
    publish(batch_type())
    publish(measurement_type())
    created = client.post(
        "/api/v1/records/measurement", json={"data": {"name": "pH"}}, headers=ann.headers
    )
    assert created.status_code == 201
    url = f"/api/v1/records/measurement/{created.json()['id']}"
    calls = [
        ("get", "/api/v1/records/measurement", {}),
        ("get", url, {}),
        ("get", f"{url}/audit", {}),
        ("post", "/api/v1/records/measurement", {"json": {"data": {"name": "x"}}}),
        (
            "patch",
            url,
            {"json": {"data": {"name": "y"}, "reason": "r"}, "headers": {"If-Match": "1"}},
        ),
        ("get", "/api/v1/types/measurement", {}),
        ("get", "/api/v1/audit", {}),
    ]
    with unchanged(db):
        for method, path, options in calls:
            headers = {**outsider.headers, **options.pop("headers", {})}
            response = getattr(client, method)(path, headers=headers, **options)
            assert response.status_code == 403, (method, path, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
    listed = client.get("/api/v1/types", headers=outsider.headers).json()["items"]
    assert [t["key"] for t in listed] == ["batch"], "batch is readable by everyone ('*')"
    # Readers who may not create or edit.
    reviewer = make_person("rita", "reviewer")
    assert client.get(url, headers=reviewer.headers).status_code == 200
    assert (
        client.post(
            "/api/v1/records/measurement", json={"data": {"name": "x"}}, headers=reviewer.headers
        ).status_code
        == 403
    )
