"""The signed-in person's own API tokens: list them, create one, revoke one.

Thin over ``identity.tokens``: the service checks the name, finds only the
person's own tokens and writes the audit events, exactly as for the command
line. A new token is shown once, on the page that answers its creation; the
database keeps only its hash, so reloading the page cannot show it again.
Every answer here says ``Cache-Control: no-store``, so that page is not kept
in the browser's cache either.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.datastructures import CacheControlHeader
from litestar.response import Template

from labledger.db.engine import Database
from labledger.errors import FieldError, NotFound, ServiceError, ValidationFailed
from labledger.identity.sessions import WebSession
from labledger.identity.tokens import (
    MAX_NAME_LENGTH,
    create_token,
    list_tokens,
    revoke_own_token,
)
from labledger.web.account import Form
from labledger.web.display import utc_text
from labledger.web.forms import row_id
from labledger.web.pages import page


def _token_id(text: str) -> int:
    """The id a revoke form sends, or a refusal at its field (never a database error)."""
    token_id = row_id(text)
    if token_id is not None:
        return token_id
    raise ValidationFailed(
        "The token to revoke is not valid.",
        [FieldError("token", "choose the token to revoke from the list on this page")],
    )


def _tokens_page(
    session: WebSession,
    db: Database,
    *,
    refusal: ServiceError | None = None,
    **context: Any,
) -> Template:
    """The page: the person's tokens, the form for a new one and what just happened.

    A refusal comes back with its status (422, 404) and its messages at their
    fields: ``name`` at the new-token form, ``token`` above the list.
    """
    username = session.principal.username
    with db.read() as conn:
        tokens = list_tokens(conn, session.principal, username)
    errors = {e.field: e.message for e in refusal.errors} if refusal else {}
    return page(
        "account/tokens.html",
        session,
        status_code=refusal.status if refusal else 200,
        tokens=tokens,
        errors=errors,
        detail=refusal.detail if refusal else None,
        max_name_length=MAX_NAME_LENGTH,
        utc=utc_text,
        **context,
    )


class TokensController(Controller):
    path = "/account/tokens"
    include_in_schema = False
    cache_control = CacheControlHeader(no_store=True)

    @get("/", sync_to_thread=True)
    def tokens(self, session: WebSession, db: Database) -> Template:
        return _tokens_page(session, db)

    @post("/", sync_to_thread=True, status_code=200)
    def create(self, data: Form, session: WebSession, db: Database) -> Template:
        name = data.get("name", "")
        principal = session.principal
        try:
            with db.write() as conn:
                secret = create_token(conn, principal, principal.username, name)
        except ValidationFailed as exc:
            return _tokens_page(session, db, refusal=exc, name=name)
        return _tokens_page(session, db, secret=secret, created_name=name.strip())

    @post("/revoke", sync_to_thread=True, status_code=200)
    def revoke(self, data: Form, session: WebSession, db: Database) -> Template:
        try:
            token_id = _token_id(data.get("token", ""))
            with db.write() as conn:
                prefix = revoke_own_token(conn, session.principal, token_id)
        except (ValidationFailed, NotFound) as exc:
            return _tokens_page(session, db, refusal=exc)
        return _tokens_page(session, db, revoked=prefix)
