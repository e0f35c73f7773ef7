"""Sign-in and signing under attack: atomic lockout, rate limits, bounded audit, timing."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import pytest
from litestar.testing import TestClient
from sqlalchemy import select, update

from labledger.app import create_app
from labledger.db.tables import app_user, audit_event, rate_limit
from labledger.db.types import utc_now
from labledger.errors import Forbidden, TooManyRequests
from labledger.identity import passwords, users
from labledger.identity.principal import SYSTEM
from labledger.identity.users import check_password, set_active
from labledger.settings import RateLimits
from labledger.workflows.signing import SignatureInput, verify_signer
from tests.conftest import TEST_PASSWORD, TEST_SETTINGS
from tests.web.helpers import sign_in

THRESHOLD = TEST_SETTINGS.lockout_threshold
LIMITS = TEST_SETTINGS.rate_limits


@pytest.fixture(autouse=True)
def cheap_dummy_hash(monkeypatch) -> None:
    """Refusals verify against a dummy hash made with production cost; use the tests' cost."""
    monkeypatch.setattr(passwords, "_DUMMY_HASH", passwords.hash_password("timing"))


def _events(db, action: str) -> list:
    with db.read() as conn:
        return conn.execute(select(audit_event).where(audit_event.c.action == action)).all()


def _user(db, username: str):
    with db.read() as conn:
        return conn.execute(select(app_user).where(app_user.c.username == username)).one()


def _check(db, username: str, password: str, client: str | None = None, **options):
    with db.write() as conn:
        return check_password(conn, username, password, client=client, **options)


def _end_windows(db) -> None:
    """Move every rate-limit window into the past, as if a minute had gone by."""
    with db.write() as conn:
        conn.execute(update(rate_limit).values(window_start=utc_now() - timedelta(minutes=5)))


# --- atomic lockout ---


def test_parallel_wrong_passwords_check_at_most_the_threshold(db, make_person):
    make_person("ann", "analyst")
    guesses = 24
    start = threading.Barrier(guesses, timeout=30)

    def guess(_: int) -> str:
        start.wait()
        return _check(db, "ann", "a wrong guess").message

    with ThreadPoolExecutor(max_workers=guesses) as pool:
        messages = list(pool.map(guess, range(guesses)))

    checked = [e for e in _events(db, "login.failed") if e.reason == "wrong password"]
    assert len(checked) == THRESHOLD, "only the threshold's worth of guesses is checked"
    assert len(_events(db, "login.refused")) == guesses - THRESHOLD
    assert len(_events(db, "user.lock")) == 1
    ann = _user(db, "ann")
    assert ann.locked_at is not None and ann.failed_attempts == THRESHOLD
    assert messages.count("Too many failed attempts: the account is now locked.") == 1


# --- bounded audit input ---


def test_a_huge_username_is_stored_only_in_part(client, db):
    huge = "x" * 10_000
    response = sign_in(client, huge, "whatever")
    assert response.status_code == 401
    (event,) = _events(db, "login.failed")
    assert len(event.actor) <= 64
    stored = event.details["user"]
    assert stored.startswith("x" * 64) and len(stored) < 100
    assert "+9936 characters" in stored


def test_a_nul_byte_in_a_username_is_refused_and_stored_visibly(db):
    check = _check(db, "ti\x00na", "whatever", "192.0.2.10", throttled=True)
    assert check.principal is None and check.message == "Invalid username or password."
    (event,) = _events(db, "login.failed")
    assert event.details["user"] == "ti\\x00na"
    only_nul = _check(db, "\x00" * 100, "whatever", "192.0.2.10", throttled=True)
    assert only_nul.message == "Invalid username or password."
    assert _events(db, "login.failed")[-1].details["user"].endswith("...(+336 characters)")


def test_an_absurd_sign_in_form_is_refused_before_it_is_read(client, db):
    response = client.post("/login", data={"username": "x" * 5_000_000, "password": "p"})
    assert response.status_code == 413
    assert _events(db, "login.failed") == []


# --- rate limits ---


@pytest.mark.requirement("REQ-ACC-05")
def test_sign_in_from_one_address_is_limited_then_free_again(client, db, make_person):
    make_person("ann", "analyst")
    for _ in range(LIMITS.per_address):
        assert sign_in(client, "ann", "a wrong guess").status_code == 401
    refused = sign_in(client, "ann", TEST_PASSWORD)
    assert refused.status_code == 429, "over the limit even the right password waits"
    assert 1 <= int(refused.headers["retry-after"]) <= LIMITS.window_seconds
    assert "Too many failed attempts: try again in" in refused.text
    assert _user(db, "ann").locked_at is None, "the limit stops guesses before the lockout"
    assert len(_events(db, "rate_limit.exceeded")) == 2  # the address and the account
    again = sign_in(client, "ann", "a wrong guess")
    assert again.status_code == 429
    assert len(_events(db, "rate_limit.exceeded")) == 2, "a flood is audited once per window"
    _end_windows(db)
    assert sign_in(client, "ann", TEST_PASSWORD).status_code in (302, 303)


def test_another_address_is_unaffected(db, make_person):
    make_person("ann", "analyst")
    make_person("bob", "analyst")
    street, lab = "203.0.113.9", "192.0.2.10"
    for number in range(LIMITS.per_address):  # guesses spread over accounts
        guessed = "ann" if number % 2 else "carl"
        assert _check(db, guessed, "a wrong guess", street, throttled=True).retry_after is None
    assert _check(db, "bob", TEST_PASSWORD, street, throttled=True).retry_after is not None
    signed_in = _check(db, "ann", TEST_PASSWORD, lab, throttled=True)
    assert signed_in.principal is not None and signed_in.principal.username == "ann"
    assert _check(db, "bob", TEST_PASSWORD, lab, throttled=True).principal is not None


def test_parallel_guesses_from_one_address_check_at_most_its_limit(db, make_person):
    make_person("ann", "analyst")
    guesses = 16
    start = threading.Barrier(guesses, timeout=30)

    def guess(number: int) -> int | None:
        start.wait()
        account = "ann" if number % 2 else f"user{number}"
        return _check(db, account, "a wrong guess", "203.0.113.9", throttled=True).retry_after

    with ThreadPoolExecutor(max_workers=guesses) as pool:
        waits = list(pool.map(guess, range(guesses)))

    assert len(_events(db, "login.failed")) == LIMITS.per_address
    assert sum(wait is not None for wait in waits) == guesses - LIMITS.per_address


def test_many_addresses_cannot_lock_an_account_within_a_window(db):
    for number in range(2 * THRESHOLD):
        _check(db, "admin", "a wrong guess", f"198.51.100.{number}", throttled=True)
    admin = _user(db, "admin")
    assert admin.locked_at is None and admin.failed_attempts == LIMITS.per_account


def test_a_successful_sign_in_gives_its_attempt_back(db, make_person):
    make_person("ann", "analyst")
    for _ in range(LIMITS.per_address + 2):
        assert _check(db, "ann", TEST_PASSWORD, "192.0.2.10", throttled=True).principal


@pytest.mark.requirement("REQ-SIG-05")
def test_wrong_signature_passwords_are_limited(db, make_person):
    ann = make_person("ann", "analyst").principal

    def sign() -> None:
        verify_signer(
            db,
            ann,
            SignatureInput("ann", "a wrong guess"),
            session=None,
            throttled=True,
        )

    for _ in range(LIMITS.per_account):
        with pytest.raises(Forbidden):
            sign()
    with pytest.raises(TooManyRequests) as refused:
        sign()
    assert refused.value.retry_after >= 1 and refused.value.extra["blocked_by"] == ["password"]
    assert len(_events(db, "signature.failed")) == LIMITS.per_account


def test_wrong_api_tokens_from_one_address_are_limited(client, admin):
    wrong = {"Authorization": "Bearer llt_not-a-token"}
    for _ in range(LIMITS.per_address):
        assert client.get("/api/v1/types", headers=wrong).status_code == 401
    refused = client.get("/api/v1/types", headers=wrong)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["status"] == 429 and int(refused.headers["retry-after"]) >= 1
    assert client.get("/api/v1/types", headers=admin.headers).status_code == 200


def test_the_api_token_limit_is_the_one_the_database_carries(db):
    """The app has no settings of its own: those of the database it is given decide."""
    tight = replace(db.settings, rate_limits=RateLimits(per_address=1, per_account=1))
    wrong = {"Authorization": "Bearer llt_not-a-token"}
    with TestClient(create_app(replace(db, settings=tight))) as client:
        assert client.get("/api/v1/types", headers=wrong).status_code == 401
        assert client.get("/api/v1/types", headers=wrong).status_code == 429


# --- timing ---


@pytest.fixture
def verifications(monkeypatch) -> list[str | None]:
    """The hashes every password verification ran against (None: the dummy hash)."""
    seen: list[str | None] = []
    real = users.verify_password

    def counted(password_hash: str | None, password: str) -> bool:
        seen.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(users, "verify_password", counted)
    return seen


@pytest.mark.parametrize("state", ["unknown", "deactivated", "locked"])
def test_a_refusal_takes_a_hash_verification_whatever_the_account_state(
    db, make_person, verifications, state
):
    make_person("ann", "analyst")
    if state == "deactivated":
        with db.write() as conn:
            set_active(conn, SYSTEM, "ann", False)
    if state == "locked":
        with db.write() as conn:
            conn.execute(update(app_user).values(locked_at=utc_now()))
    username = "nobody" if state == "unknown" else "ann"
    assert _check(db, username, TEST_PASSWORD).principal is None
    assert verifications == [None], "one verification against the dummy hash"
