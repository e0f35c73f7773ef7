"""What API handlers receive: the database, the settings and the caller.

The API accepts bearer tokens only, never the browser's session cookie, so a
cross-site form can never make an API call with a user's session; that is why
the API needs no CSRF token.
"""

from __future__ import annotations

from typing import Any, NoReturn

from anyio.to_thread import run_sync
from litestar import Request
from litestar.di import Provide

from labledger.db.engine import Database
from labledger.errors import TooManyRequests, Unauthorized
from labledger.identity.principal import Principal
from labledger.identity.throttle import admit, client_address, counters
from labledger.identity.token_cache import TokenCache, current_generation
from labledger.identity.tokens import note_token_use, principal_for_token, token_digest
from labledger.settings import Settings


def provide_db(request: Request[Any, Any, Any]) -> Database:
    db: Database = request.app.state.db
    return db


def provide_settings(request: Request[Any, Any, Any]) -> Settings:
    """The installation's settings: the ones the database carries (``Database.settings``)."""
    return provide_db(request).settings


async def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    """The caller the bearer token names. A token this worker saw working within the last
    second costs nothing (``identity.token_cache``); any other is looked up in a worker
    thread, so the request's only other thread hop is its handler's. The token's last
    use is written every few minutes (``tokens.note_token_use``), not per request."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Send an API token as 'Authorization: Bearer <token>'.")
    cache: TokenCache = request.app.state.token_cache
    key = token_digest(token)
    principal = cache.get(key)
    if principal is None:
        generation = current_generation()
        principal = await run_sync(_look_up, request, token)
        cache.put(key, principal, generation)
    if cache.last_use.due(key) and await run_sync(note_token_use, provide_db(request), key):
        cache.last_use.written(key)
    return principal


def _look_up(request: Request[Any, Any, Any], token: str) -> Principal:
    db = provide_db(request)
    with db.read() as conn:
        principal = principal_for_token(conn, token)
    if principal is None:
        _refuse_token(db, request)
    return principal


def _refuse_token(db: Database, request: Request[Any, Any, Any]) -> NoReturn:
    """A 401 for a token that does not work; 429 once its address has sent too many."""
    limits = db.settings.rate_limits
    found = counters(limits, "api-token", address=client_address(request), account=None)
    with db.write() as conn:
        wait = admit(conn, limits, found)
    if wait is not None:
        raise TooManyRequests(
            f"Too many requests with a wrong API token: try again in {wait} seconds.",
            extra={"retry_after": wait},
        )
    raise Unauthorized("The API token is unknown, revoked, or its user is inactive or locked.")


APP_DEPENDENCIES = {
    "db": Provide(provide_db, sync_to_thread=False),
    "settings": Provide(provide_settings, sync_to_thread=False),
}
API_DEPENDENCIES = {"principal": Provide(provide_principal)}
