"""A person's own API tokens in the browser: listed, created (shown once), revoked."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from labledger.db.tables import api_token, audit_event
from labledger.identity.tokens import MAX_ACTIVE_TOKENS, MAX_NAME_LENGTH, token_digest
from tests.conftest import TEST_PASSWORD
from tests.definitions import unchanged
from tests.web.helpers import csrf_token, sign_in

PAGE = "/account/tokens"
_SECRET = re.compile(r'id="new-token-secret">(llt_[^<]+)<')


def _create(client, name: str):
    return client.post(PAGE, data={"name": name, "_csrf_token": csrf_token(client, PAGE)})


def _revoke(client, token_id: object):
    form = {"token": str(token_id), "_csrf_token": csrf_token(client, PAGE)}
    return client.post(f"{PAGE}/revoke", data=form)


def _secret_of(response) -> str:
    match = _SECRET.search(response.text)
    assert match, "the new token is shown on the answer to its creation"
    return match.group(1)


def _token_id(db, token: str) -> int:
    with db.read() as conn:
        return conn.execute(
            select(api_token.c.id).where(api_token.c.token_hash == token_digest(token))
        ).scalar_one()


def _token_count(db) -> int:
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(api_token)).scalar_one()


def _token_events(db) -> list[tuple[str, str, dict]]:
    with db.read() as conn:
        rows = conn.execute(
            select(audit_event.c.actor, audit_event.c.action, audit_event.c.details)
            .where(audit_event.c.action.like("token.%"))
            .order_by(audit_event.c.seq)
        )
        return [(r.actor, r.action, r.details) for r in rows]


def _works(client, token: str) -> bool:
    response = client.get("/api/v1/types", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code in (200, 401)
    return response.status_code == 200


def test_the_page_needs_a_session(client):
    response = client.get(PAGE, follow_redirects=False)
    assert response.status_code in (302, 303)
    assert response.headers["location"] == f"/login?next={PAGE}"


def test_the_page_lists_only_ones_own_tokens_and_never_a_secret(client, make_person):
    ann = make_person("ann", "analyst")
    bob = make_person("bob", "analyst")
    sign_in(client, "ann", TEST_PASSWORD)
    assert f'href="{PAGE}"' in client.get("/").text, "the account area links to the page"
    response = client.get(PAGE)
    assert response.status_code == 200
    assert "no-store" in response.headers["cache-control"]
    assert ann.token[:10] in response.text and "active" in response.text
    assert ann.token not in response.text, "only the prefix is shown"
    assert bob.token[:10] not in response.text


def test_a_new_token_is_shown_once_works_and_is_audited(client, db, make_person):
    make_person("ann", "analyst")
    sign_in(client, "ann", TEST_PASSWORD)
    created = _create(client, "  instrument import  ")
    assert created.status_code == 200
    assert "no-store" in created.headers["cache-control"]
    assert "Copy it now: it is not shown again." in created.text
    secret = _secret_of(created)
    assert _works(client, secret)

    again = client.get(PAGE)
    assert secret not in again.text and "instrument import" in again.text
    assert secret[:10] in again.text
    with db.read() as conn:
        stored = conn.execute(select(api_token).where(api_token.c.prefix == secret[:10])).one()
    assert stored.token_hash == token_digest(secret) and stored.name == "instrument import"
    assert _token_events(db)[-1] == (
        "ann",
        "token.create",
        {"user": "ann", "token": secret[:10], "name": "instrument import"},
    )


def test_revoking_ones_token_stops_it_and_is_audited(client, db, make_person):
    make_person("ann", "analyst")
    sign_in(client, "ann", TEST_PASSWORD)
    secret = _secret_of(_create(client, "script"))
    token_id = _token_id(db, secret)
    assert f'name="token" value="{token_id}"' in client.get(PAGE).text, "a revoke button"

    revoked = _revoke(client, token_id)
    assert revoked.status_code == 200 and "was revoked" in revoked.text
    assert "no-store" in revoked.headers["cache-control"]
    assert not _works(client, secret), "the API refuses a revoked token at once"
    assert f'name="token" value="{token_id}"' not in revoked.text, "no button once revoked"
    assert _token_events(db)[-1] == ("ann", "token.revoke", {"token": secret[:10]})

    with unchanged(db):
        twice = _revoke(client, token_id)
    assert twice.status_code == 404 and "not one of your active tokens" in twice.text


@pytest.mark.parametrize("permissions", [(), ("manage_users",)])
def test_another_persons_token_cannot_be_revoked(client, db, make_person, permissions):
    make_person("ann", "lead", permissions=permissions)
    bob = make_person("bob", "analyst")
    sign_in(client, "ann", TEST_PASSWORD)
    events = _token_events(db)
    with unchanged(db):
        refused = _revoke(client, _token_id(db, bob.token))
    assert refused.status_code == 404
    assert 'class="field-error">not one of your active tokens' in refused.text
    assert bob.token[:10] not in refused.text, "nothing about bob's token is revealed"
    assert _works(client, bob.token)
    assert _token_events(db) == events


def test_forms_without_csrf_are_refused(client, db, make_person):
    ann = make_person("ann", "analyst")
    sign_in(client, "ann", TEST_PASSWORD)
    tokens = _token_count(db)
    with unchanged(db):
        created = client.post(PAGE, data={"name": "forged"})
        revoked = client.post(f"{PAGE}/revoke", data={"token": str(_token_id(db, ann.token))})
    assert created.status_code == 403 and revoked.status_code == 403
    assert _token_count(db) == tokens
    assert _works(client, ann.token)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "give the token a name"),
        ("   ", "give the token a name"),
        ("x" * (MAX_NAME_LENGTH + 1), f"use at most {MAX_NAME_LENGTH} characters"),
        ("two\nlines", "use one line of text"),
    ],
)
def test_a_bad_name_is_refused_at_its_field(client, db, make_person, name, message):
    make_person("ann", "analyst")
    sign_in(client, "ann", TEST_PASSWORD)
    tokens = _token_count(db)
    with unchanged(db):
        refused = _create(client, name)
    assert refused.status_code == 422
    assert f'<p class="field-error" id="name-error">{message}' in refused.text
    assert 'aria-invalid="true"' in refused.text
    assert not _SECRET.search(refused.text)
    assert _token_count(db) == tokens


@pytest.mark.parametrize(
    ("token_id", "status"),
    [("", 422), ("abc", 422), ("-1", 422), ("\u0661", 422), ("9" * 30, 422), ("987654", 404)],
)
def test_a_bad_token_id_is_refused_at_its_field(client, db, make_person, token_id, status):
    ann = make_person("ann", "analyst")
    sign_in(client, "ann", TEST_PASSWORD)
    with unchanged(db):
        refused = _revoke(client, token_id)
    assert refused.status_code == status
    assert 'id="token-error"' in refused.text and 'class="field-error"' in refused.text
    assert _works(client, ann.token)


def test_a_person_holds_at_most_so_many_active_tokens(client, db, make_person):
    make_person("ann", "analyst")  # holds one token already
    sign_in(client, "ann", TEST_PASSWORD)
    for n in range(MAX_ACTIVE_TOKENS - 1):
        assert _create(client, f"program {n}").status_code == 200
    with unchanged(db):
        refused = _create(client, "one too many")
    assert refused.status_code == 422
    assert f"at most {MAX_ACTIVE_TOKENS} tokens may be active" in refused.text
    assert not _SECRET.search(refused.text)
    assert _works(client, _secret_of(_create_after_revoking_one(client, db)))


def _create_after_revoking_one(client, db):
    """Revoking a token makes room for a new one."""
    with db.read() as conn:
        oldest = conn.execute(select(func.min(api_token.c.id))).scalar_one()
    assert _revoke(client, oldest).status_code == 200
    return _create(client, "replacement")
