"""A worker remembers whose API token it saw for a second, and never longer.

The cache saves the token look-up (a statement and a transaction) on every API
request; what it must not do is keep a revoked token, a deactivated user or an
old set of permissions working: in the worker that made the change not at all,
in any other worker not beyond a second.
"""

from __future__ import annotations

from sqlalchemy import update

from labledger.db.tables import api_token, app_user
from labledger.db.types import utc_now
from labledger.identity.principal import SYSTEM
from labledger.identity.roles import save_role
from labledger.identity.token_cache import TOKEN_CACHE_SECONDS, TokenCache
from labledger.identity.tokens import revoke_token
from labledger.identity.users import set_active
from tests.definitions import add_roles, batch_type, traffic


class Clock:
    """A clock the test moves by hand (no test waits for the cache to expire)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _types(client, person):
    return client.get("/api/v1/types", headers=person.headers).status_code


def test_a_change_made_by_another_worker_takes_effect_within_a_second(db, app, client, admin):
    clock = Clock()
    app.state.token_cache = TokenCache(clock=clock)
    assert _types(client, admin) == 200
    with db.write() as conn:  # another worker revokes the token: this one is not told
        conn.execute(update(api_token).values(revoked_at=utc_now()))

    clock.now += TOKEN_CACHE_SECONDS * 0.9
    assert _types(client, admin) == 200  # still remembered
    clock.now += TOKEN_CACHE_SECONDS * 0.1
    assert _types(client, admin) == 401


def test_a_deactivated_user_is_refused_within_a_second(db, app, client, admin, make_person):
    clock = Clock()
    app.state.token_cache = TokenCache(clock=clock)
    ann = make_person("ann", "analyst")
    assert _types(client, ann) == 200
    with db.write() as conn:
        conn.execute(update(app_user).where(app_user.c.username == "ann").values(active=False))
    clock.now += TOKEN_CACHE_SECONDS
    assert _types(client, ann) == 401


def test_changes_made_in_this_worker_take_effect_at_once(db, client, admin, make_person):
    ann = make_person("ann", "analyst")
    bo = make_person("bo", "analyst")
    assert _types(client, ann) == _types(client, bo) == 200

    with db.write() as conn:
        revoke_token(conn, SYSTEM, ann.token[:10])
    assert _types(client, ann) == 401
    assert _types(client, bo) == 200
    with db.write() as conn:
        set_active(conn, admin.principal, "bo", False)
    assert _types(client, bo) == 401


def test_a_role_losing_a_permission_loses_it_at_once(db, client, make_person, publish):
    add_roles(db, "analyst")
    publish(batch_type())
    clerk = make_person("cleo", "clerk", permissions=("configure",))
    definition = batch_type(label="Batch v2")
    assert (
        client.put("/api/v1/types/batch", json=definition, headers=clerk.headers).status_code == 200
    )
    with db.write() as conn:
        save_role(conn, SYSTEM, {"key": "clerk", "label": "Clerk", "permissions": []})
    definition = batch_type(label="Batch v3")
    assert (
        client.put("/api/v1/types/batch", json=definition, headers=clerk.headers).status_code == 403
    )


def test_an_api_create_with_a_known_token_is_one_transaction(db, client, make_person, publish):
    """With the token remembered, authentication costs no statement and no transaction:
    the create is the request's only transaction."""
    add_roles(db, "analyst")
    publish(batch_type())
    ann = make_person("ann", "analyst")
    path = "/api/v1/records/batch"
    assert client.post(path, json={"data": {"code": "B-1"}}, headers=ann.headers).status_code == 201
    with traffic(db) as seen:
        answer = client.post(path, json={"data": {"code": "B-2"}}, headers=ann.headers)
    assert answer.status_code == 201
    assert seen.transactions == 1
    assert not [s for s in seen.statements if "api_token" in s or "app_user" in s]
