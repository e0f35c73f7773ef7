"""API tokens: random bearer secrets, stored only as their SHA-256.

A token is shown once, when it is created. It is 256 bits of randomness, so a
fast hash is enough to make a stolen database useless for calling the API,
and looking a token up costs one indexed query.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import Connection, insert, select, update

from labledger.audit.trail import AuditEntry, append
from labledger.db.tables import api_token, app_user
from labledger.db.types import utc_now
from labledger.errors import Forbidden, NotFound
from labledger.identity.principal import MANAGE_USERS, Principal
from labledger.identity.token_cache import forget_identities
from labledger.identity.users import principal_where

TOKEN_PREFIX = "llt_"  # noqa: S105 - a public marker, not a secret


def token_digest(token: str) -> str:
    """What is stored of a token, and what a token is looked up (and cached) by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(conn: Connection, actor: Principal, username: str, name: str = "api") -> str:
    """Create a token for ``username`` and return it (the only time it is shown)."""
    if actor.username != username and not actor.has_permission(MANAGE_USERS):
        raise Forbidden("Creating a token for another user needs the 'manage_users' permission.")
    user_id = conn.execute(
        select(app_user.c.id).where(app_user.c.username == username, app_user.c.active)
    ).scalar()
    if user_id is None:
        raise NotFound(f"There is no active user '{username}'.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    conn.execute(
        insert(api_token).values(
            user_id=user_id,
            name=name,
            token_hash=token_digest(token),
            prefix=token[:10],
            created_at=utc_now(),
        )
    )
    append(
        conn,
        [
            AuditEntry(
                actor=actor.username,
                action="token.create",
                details={"user": username, "token": token[:10], "name": name},
            )
        ],
    )
    return token


def revoke_token(conn: Connection, actor: Principal, prefix: str) -> None:
    row = conn.execute(
        select(api_token.c.id, app_user.c.username)
        .join(app_user, app_user.c.id == api_token.c.user_id)
        .where(api_token.c.prefix == prefix, api_token.c.revoked_at.is_(None))
    ).first()
    if row is None:
        raise NotFound(f"There is no active token '{prefix}'.")
    if actor.username != row.username and not actor.has_permission(MANAGE_USERS):
        raise Forbidden("Revoking another user's token needs the 'manage_users' permission.")
    conn.execute(update(api_token).where(api_token.c.id == row.id).values(revoked_at=utc_now()))
    forget_identities()
    append(
        conn,
        [AuditEntry(actor=actor.username, action="token.revoke", details={"token": prefix})],
    )


def principal_for_token(conn: Connection, token: str) -> Principal | None:
    """The active user a bearer token belongs to, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    return principal_where(
        conn,
        api_token.c.token_hash == token_digest(token),
        api_token.c.revoked_at.is_(None),
        source=api_token.join(app_user, app_user.c.id == api_token.c.user_id),
    )


def list_tokens(conn: Connection, actor: Principal, username: str) -> list[dict[str, object]]:
    """A user's tokens by prefix, name and dates (the tokens themselves are not stored)."""
    if actor.username != username and not actor.has_permission(MANAGE_USERS):
        raise Forbidden("Listing another user's tokens needs the 'manage_users' permission.")
    rows = conn.execute(
        select(api_token.c.prefix, api_token.c.name, api_token.c.created_at, api_token.c.revoked_at)
        .join(app_user, app_user.c.id == api_token.c.user_id)
        .where(app_user.c.username == username)
        .order_by(api_token.c.id)
    ).mappings()
    return [dict(r) for r in rows]
