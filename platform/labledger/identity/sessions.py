"""Browser sessions, stored server-side so any number of workers share them.

The cookie holds a random token; the database holds only its SHA-256. A
session ends on logout, or when it has been idle longer than the configured
timeout; either way the next request must sign in again (and so must the next
signature). Resuming a session, which every page does, only reads (see
``resume_session``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from labledger.audit.trail import AuditEntry, append
from labledger.db.engine import Database
from labledger.db.tables import instance_setting, web_session
from labledger.db.types import utc_now
from labledger.identity.principal import Principal
from labledger.identity.users import load_principal

SESSION_COOKIE = "labledger_session"
#: Don't rewrite last_seen_at on every request: once a minute is precise enough.
_TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class WebSession:
    principal: Principal
    token_hash: str
    #: True once the user signed with username and password in this session.
    signed_in_session: bool


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(conn: Connection, principal: Principal) -> str:
    """Open a session for a user who just proved their password; returns the cookie value."""
    token = secrets.token_urlsafe(32)
    now = utc_now()
    conn.execute(
        insert(web_session).values(
            token_hash=_digest(token),
            user_id=principal.id,
            created_at=now,
            last_seen_at=now,
            signed_in_session=False,
        )
    )
    return token


def resume_session(
    db: Database, token: str | None, idle_minutes: int, now: datetime | None = None
) -> WebSession | None:
    """The live session for a cookie value, or None (unknown, ended, idle too long).

    Every page asks this, so it only reads, in a read transaction that never
    waits for the writer. It writes in two cases. A session found idle too
    long, or whose user was deactivated or locked, is ended with its audit
    entry, which must be recorded, so that write waits its turn; it happens
    once per session. And last-seen moves forward at most once a minute, in
    a write that gives up if it would wait for a lock: a request that skips
    it leaves it to the next one, which finds last-seen still due.
    """
    if not token:
        return None
    now = now or utc_now()
    token_hash = _digest(token)
    idle_limit = timedelta(minutes=idle_minutes)
    with db.read() as conn:
        row = (
            conn.execute(
                select(web_session).where(
                    web_session.c.token_hash == token_hash, web_session.c.ended_at.is_(None)
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        idle = now - row["last_seen_at"]
        principal = None if idle > idle_limit else load_principal(conn, row["user_id"])
    if idle > idle_limit:
        # Ended only if still idle: another request may have just touched it.
        with db.write() as conn:
            _end(
                conn,
                token_hash,
                "session.timeout",
                now,
                web_session.c.last_seen_at < now - idle_limit,
            )
        return None
    if principal is None:  # deactivated or locked since signing in
        with db.write() as conn:
            _end(conn, token_hash, "session.revoked", now)
        return None
    if idle > _TOUCH_INTERVAL:
        db.write_unless_busy(lambda conn: _touch(conn, token_hash, now))
    return WebSession(principal, token_hash, row["signed_in_session"])


def _touch(conn: Connection, token_hash: str, now: datetime) -> None:
    """Move last-seen to ``now`` unless another request moved it within the minute."""
    conn.execute(
        update(web_session)
        .where(
            web_session.c.token_hash == token_hash,
            web_session.c.ended_at.is_(None),
            web_session.c.last_seen_at < now - _TOUCH_INTERVAL,
        )
        .values(last_seen_at=now)
    )


def _end(
    conn: Connection, token_hash: str, action: str, now: datetime, *conditions: ColumnElement[bool]
) -> None:
    user = conn.execute(
        update(web_session)
        .where(
            web_session.c.token_hash == token_hash, web_session.c.ended_at.is_(None), *conditions
        )
        .values(ended_at=now)
        .returning(web_session.c.user_id)
    ).scalar()
    if user is not None:
        principal = load_principal(conn, user)
        name = principal.username if principal else f"user:{user}"
        append(conn, [AuditEntry(actor=name, action=action, details={"user": name})])


def end_session(conn: Connection, token: str | None) -> None:
    """Log out: the session can never be used again."""
    if token:
        _end(conn, _digest(token), "logout", utc_now())


def mark_signed_in_session(conn: Connection, session: WebSession) -> None:
    conn.execute(
        update(web_session)
        .where(web_session.c.token_hash == session.token_hash)
        .values(signed_in_session=True)
    )


def instance_secret(conn: Connection, key: str) -> str:
    """A random secret shared by every worker, created on first use."""
    insert_ = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(
        insert_(instance_setting)
        .values(key=key, value=secrets.token_urlsafe(48))
        .on_conflict_do_nothing(index_elements=[instance_setting.c.key])
    )
    secret: str = conn.execute(
        select(instance_setting.c.value).where(instance_setting.c.key == key)
    ).scalar_one()
    return secret
