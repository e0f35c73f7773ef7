"""The password policy, the sessions a password change ends, and password expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from labledger.db.tables import app_user, audit_event, web_session
from labledger.db.types import utc_now
from labledger.errors import ValidationFailed
from labledger.identity.passwords import MAX_PASSWORD_LENGTH, check_policy, common_passwords
from labledger.identity.principal import SYSTEM
from labledger.identity.sessions import resume_session, start_session
from labledger.identity.users import (
    change_own_password,
    check_password,
    create_user,
    expire_password_if_due,
    get_user,
    reset_password,
)
from labledger.settings import Settings
from tests.conftest import TEST_PASSWORD
from tests.definitions import counts, database_url
from tests.test_cli import run

NEW_PASSWORD = "a fresh passphrase 7"


def _refusal(password: str, **policy: object) -> str:
    """The field message ``check_policy`` gives for ``password`` (fails if it is accepted)."""
    with pytest.raises(ValidationFailed) as refused:
        check_policy(password, **{"username": "ann", "min_length": 10, **policy})  # type: ignore[arg-type]
    (error,) = refused.value.errors
    return error.message


def test_the_shipped_list_holds_at_least_ten_thousand_common_passwords():
    listed = common_passwords()
    assert len(listed) >= 10_000
    assert all(entry == entry.lower() for entry in listed)


@pytest.mark.requirement("REQ-ACC-04")
@pytest.mark.parametrize("password", ["aaaaaaaaaa", "password12", "1234567890", "PassWord12"])
def test_common_passwords_are_refused_whatever_their_case(password):
    assert "most common passwords" in _refusal(password)


def test_passwords_over_the_maximum_are_refused():
    check_policy("x7-" * (MAX_PASSWORD_LENGTH // 3), username="ann", min_length=10)
    assert f"at most {MAX_PASSWORD_LENGTH} characters" in _refusal("q" * (MAX_PASSWORD_LENGTH + 1))
    assert f"at most {MAX_PASSWORD_LENGTH}" in _refusal("z" * 100_000)


def test_every_problem_is_reported_under_the_field_given():
    with pytest.raises(ValidationFailed) as refused:
        check_policy(" ann ", username="ann", min_length=10, field="new_password")
    (error,) = refused.value.errors
    assert error.field == "new_password"
    for problem in ("at least 10 characters", "start or end with a space", "the username"):
        assert problem in error.message


def _sessions(db, username: str) -> list[str | None]:
    """Whether each session of ``username`` is open (None) or when it ended, oldest first."""
    with db.read() as conn:
        user_id = conn.execute(
            select(app_user.c.id).where(app_user.c.username == username)
        ).scalar_one()
        return list(
            conn.execute(
                select(web_session.c.ended_at)
                .where(web_session.c.user_id == user_id)
                .order_by(web_session.c.created_at, web_session.c.token_hash)
            ).scalars()
        )


def _audited(db, action: str) -> list[tuple[str, str | None]]:
    with db.read() as conn:
        rows = conn.execute(
            select(audit_event.c.actor, audit_event.c.reason)
            .where(audit_event.c.action == action)
            .order_by(audit_event.c.seq)
        ).all()
    return [(r.actor, r.reason) for r in rows]


def test_the_current_password_cannot_be_chosen_again(db, make_person):
    make_person("ann", "analyst")
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        change_own_password(conn, "ann", TEST_PASSWORD, TEST_PASSWORD, min_length=10)
    assert refused.value.errors[0].field == "new_password"
    assert "must differ from the current password" in refused.value.errors[0].message
    assert _audited(db, "user.password_change") == []


def test_a_common_password_creates_no_user(db):
    before = counts(db)
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        create_user(conn, SYSTEM, username="ann", full_name="Ann", password="password12")
    assert refused.value.errors[0].field == "password"
    assert counts(db) == before


@pytest.mark.requirement("REQ-ACC-06")
def test_changing_ones_password_ends_ones_other_sessions_only(db, make_person):
    ann = make_person("ann", "analyst")
    bob = make_person("bob", "analyst")
    with db.write() as conn:
        current = start_session(conn, ann.principal)
        other = start_session(conn, ann.principal)
        bobs = start_session(conn, bob.principal)
    kept = resume_session(db, current, idle_minutes=15)
    assert kept is not None
    with db.write() as conn:
        change_own_password(
            conn, "ann", TEST_PASSWORD, NEW_PASSWORD, min_length=10, keep_session=kept.token_hash
        )
    assert resume_session(db, current, idle_minutes=15) is not None
    assert resume_session(db, other, idle_minutes=15) is None
    assert resume_session(db, bobs, idle_minutes=15) is not None
    assert _audited(db, "session.revoked") == [("ann", "password changed")]


def test_an_administrators_reset_ends_all_the_users_sessions(db, make_person, admin):
    ann = make_person("ann", "analyst")
    with db.write() as conn:
        tokens = [start_session(conn, ann.principal) for _ in range(2)]
    with db.write() as conn:
        reset_password(conn, admin.principal, "ann")
    assert all(resume_session(db, t, idle_minutes=15) is None for t in tokens)
    assert all(ended is not None for ended in _sessions(db, "ann"))
    assert _audited(db, "session.revoked") == [("admin", "password reset")] * 2


def _age_password(db, username: str, days: int) -> None:
    with db.write() as conn:
        conn.execute(
            update(app_user)
            .where(app_user.c.username == username)
            .values(password_changed_at=utc_now() - timedelta(days=days))
        )


def _sign_in(db, username: str, password: str, max_age_days: int):
    with db.write() as conn:
        principal = check_password(conn, username, password).principal
        assert principal is not None
        return expire_password_if_due(conn, principal, max_age_days)


@pytest.mark.requirement("REQ-ACC-04")
def test_an_expired_password_must_be_changed_at_sign_in(db, make_person):
    make_person("ann", "analyst")
    _age_password(db, "ann", 91)
    assert not _sign_in(db, "ann", TEST_PASSWORD, 0).must_change_password, "0: never expires"
    assert not _sign_in(db, "ann", TEST_PASSWORD, 92).must_change_password
    assert _audited(db, "user.password_expired") == []

    assert _sign_in(db, "ann", TEST_PASSWORD, 90).must_change_password
    with db.read() as conn:
        assert get_user(conn, "ann")["must_change_password"], "stored, so every session sees it"
    assert _audited(db, "user.password_expired") == [("system", "password older than 90 days")]

    with db.write() as conn:
        change_own_password(conn, "ann", TEST_PASSWORD, NEW_PASSWORD, min_length=10)
    assert not _sign_in(db, "ann", NEW_PASSWORD, 90).must_change_password


def test_a_new_users_password_ages_from_its_creation(db, make_person):
    make_person("ann", "analyst")
    with db.read() as conn:
        assert get_user(conn, "ann")["must_change_password"] is False
    assert not _sign_in(db, "ann", TEST_PASSWORD, 1).must_change_password


def test_the_cli_refuses_a_common_password_with_the_reason(db, capsys, monkeypatch):
    before = counts(db)
    code, _, err = run(
        capsys,
        "--database",
        database_url(db),
        "user",
        "add",
        "ann",
        "--full-name",
        "Ann",
        "--password-stdin",
        stdin="1234567890\n",
        monkeypatch=monkeypatch,
    )
    assert code != 0
    assert "does not meet the policy" in err and "password: is one of the most common" in err
    assert counts(db) == before


def test_expiry_is_off_unless_the_administrator_sets_a_number_of_days(monkeypatch):
    monkeypatch.delenv("LABLEDGER_PASSWORD_MAX_AGE_DAYS", raising=False)
    assert Settings.from_env().password_max_age_days == 0
    monkeypatch.setenv("LABLEDGER_PASSWORD_MAX_AGE_DAYS", "90")
    assert Settings.from_env().password_max_age_days == 90
