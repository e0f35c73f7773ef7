"""API tokens: random bearer secrets, stored only as their SHA-256.

A token is shown once, when it is created. It is 256 bits of randomness, so a
fast hash is enough to make a stolen database useless for calling the API,
and looking a token up costs one indexed query.

Tokens are made and revoked from the command line (for any user, by an
administrator) and from a person's own account page (only their own); both
paths go through the functions here, so the rules and the audit events are
the same.

A token's last use is kept for access reviews (``note_token_use``), written at
most once per ``LAST_USE_MINUTES`` per token: each worker remembers when it
last wrote it (``token_cache.LastUseThrottle``) and the update itself skips a
token written by any worker within that time, so a busy API client costs one
small write every few minutes, not one per request.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import ColumnElement, Connection, Row, func, insert, or_, select, update

from labledger.audit.trail import AuditEntry, append
from labledger.db.engine import Database
from labledger.db.tables import api_token, app_user
from labledger.db.types import utc_now
from labledger.errors import FieldError, Forbidden, NotFound, ValidationFailed
from labledger.identity.principal import MANAGE_USERS, Principal
from labledger.identity.token_cache import LAST_USE_SECONDS, forget_identities
from labledger.identity.users import principal_where

TOKEN_PREFIX = "llt_"  # noqa: S105 - a public marker, not a secret
#: Active tokens one user may hold: enough for every program they run, and nobody can
#: fill the table by creating tokens in a loop.
MAX_ACTIVE_TOKENS = 20
#: Longest name a token may have: what its column holds.
MAX_NAME_LENGTH: int = api_token.c.name.type.length  # type: ignore[attr-defined]
#: How precise a token's last use is: it is written at most this often per token.
LAST_USE_MINUTES = int(LAST_USE_SECONDS // 60)


class TokenRow(TypedDict):
    """What is kept of a token and may be shown: never the token itself."""

    id: int
    prefix: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


def token_digest(token: str) -> str:
    """What is stored of a token, and what a token is looked up (and cached) by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _checked_name(name: str) -> str:
    """The name trimmed, or a refusal at the ``name`` field: it is shown in token lists
    and the audit trail, so it must be one line of text that fits its column."""
    name = name.strip()
    if not name:
        problem = "give the token a name that says what uses it"
    elif len(name) > MAX_NAME_LENGTH:
        problem = f"use at most {MAX_NAME_LENGTH} characters (this name has {len(name)})"
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        problem = "use one line of text, without control characters"
    else:
        return name
    raise ValidationFailed("The token name is not valid.", [FieldError("name", problem)])


def create_token(conn: Connection, actor: Principal, username: str, name: str = "api") -> str:
    """Create a token for ``username`` and return it (the only time it is shown)."""
    if actor.username != username and not actor.has_permission(MANAGE_USERS):
        raise Forbidden("Creating a token for another user needs the 'manage_users' permission.")
    name = _checked_name(name)
    user_id = conn.execute(
        select(app_user.c.id).where(app_user.c.username == username, app_user.c.active)
    ).scalar()
    if user_id is None:
        raise NotFound(f"There is no active user '{username}'.")
    active = conn.execute(
        select(func.count())
        .select_from(api_token)
        .where(api_token.c.user_id == user_id, api_token.c.revoked_at.is_(None))
    ).scalar_one()
    if active >= MAX_ACTIVE_TOKENS:
        raise ValidationFailed(
            f"{username} already has {active} active tokens.",
            [FieldError("name", f"at most {MAX_ACTIVE_TOKENS} tokens may be active: revoke one")],
        )
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


def _active_token(conn: Connection, *where: ColumnElement[bool]) -> Row[Any, Any, Any] | None:
    """The active token matching ``where`` with its user's name, or None."""
    return conn.execute(
        select(api_token.c.id, api_token.c.prefix, app_user.c.username)
        .join(app_user, app_user.c.id == api_token.c.user_id)
        .where(api_token.c.revoked_at.is_(None), *where)
    ).first()


def _revoke(conn: Connection, actor: Principal, row: Row[Any, Any, Any]) -> None:
    """Stop the token ``row`` names at once, in every worker, and audit it."""
    conn.execute(update(api_token).where(api_token.c.id == row.id).values(revoked_at=utc_now()))
    forget_identities()
    append(
        conn,
        [AuditEntry(actor=actor.username, action="token.revoke", details={"token": row.prefix})],
    )


def revoke_token(conn: Connection, actor: Principal, prefix: str) -> None:
    """Revoke the active token starting with ``prefix`` (an administrator may name anyone's)."""
    row = _active_token(conn, api_token.c.prefix == prefix)
    if row is None:
        raise NotFound(f"There is no active token '{prefix}'.")
    if actor.username != row.username and not actor.has_permission(MANAGE_USERS):
        raise Forbidden("Revoking another user's token needs the 'manage_users' permission.")
    _revoke(conn, actor, row)


def revoke_own_token(conn: Connection, actor: Principal, token_id: int) -> str:
    """Revoke one of ``actor``'s own active tokens by its id; returns its prefix.

    Ids are easy to guess, so another person's token is "not found" here
    whatever the actor's permissions: this path never reveals or touches
    anyone else's tokens (an administrator uses ``revoke_token`` for those).
    """
    row = _active_token(conn, api_token.c.id == token_id, app_user.c.username == actor.username)
    if row is None:
        raise NotFound(
            "There is no such active token of yours.",
            [FieldError("token", "not one of your active tokens: reload the page and try again")],
        )
    _revoke(conn, actor, row)
    return str(row.prefix)


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


def note_token_use(db: Database, digest: str, now: datetime | None = None) -> bool:
    """Write that the token with ``digest`` (``token_digest``) was used ``now``, unless its
    last use was written less than ``LAST_USE_MINUTES`` ago; never waits for a lock.

    Returns whether the write was done or not needed (False: the database was
    busy, so the caller tries again on a later use).
    """
    moment = now or utc_now()
    done = db.write_unless_busy(
        lambda conn: (
            conn.execute(
                update(api_token)
                .where(
                    api_token.c.token_hash == digest,
                    or_(
                        api_token.c.last_used_at.is_(None),
                        api_token.c.last_used_at <= moment - timedelta(minutes=LAST_USE_MINUTES),
                    ),
                )
                .values(last_used_at=moment)
            ).rowcount
        )
    )
    return done is not None


def list_tokens(conn: Connection, actor: Principal, username: str) -> list[TokenRow]:
    """A user's tokens by prefix, name and dates (the tokens themselves are not stored)."""
    if actor.username != username and not actor.has_permission(MANAGE_USERS):
        raise Forbidden("Listing another user's tokens needs the 'manage_users' permission.")
    rows = conn.execute(
        select(
            api_token.c.id,
            api_token.c.prefix,
            api_token.c.name,
            api_token.c.created_at,
            api_token.c.revoked_at,
            api_token.c.last_used_at,
        )
        .join(app_user, app_user.c.id == api_token.c.user_id)
        .where(app_user.c.username == username)
        .order_by(api_token.c.id)
    )
    return [
        TokenRow(
            id=r.id,
            prefix=r.prefix,
            name=r.name,
            created_at=r.created_at,
            revoked_at=r.revoked_at,
            last_used_at=r.last_used_at,
        )
        for r in rows
    ]
