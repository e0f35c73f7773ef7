"""What a user is told after an administrator reset their password.

An administrator who resets a password knows the one-time password, so the
user must be able to see that it happened and whether anyone tried their
account: who reset it and when, their last successful sign-in before this
one, and the failed sign-in and signing attempts since. Everything is read
from the audit trail, which already holds those events; nothing else is
stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from labledger.db.tables import audit_event

RESET, CHANGE = "user.password_reset", "user.password_change"
EXPIRED = "user.password_expired"
SIGN_IN = "login"
#: Attempts that did not get in: wrong passwords, and tries on a locked or deactivated account.
FAILED_ATTEMPTS = ("login.failed", "login.refused", "signature.failed", "signature.refused")


@dataclass(frozen=True)
class ResetNotice:
    reset_by: str
    reset_at: datetime
    #: The sign-in before the current one (None: none was recorded).
    last_sign_in: datetime | None
    #: Failed sign-ins and signatures since ``last_sign_in``.
    failed_attempts: int


def _last_password_event(conn: Connection, username: str) -> Any:
    """The user's latest password reset, change or expiry (the events name the user in details)."""
    rows = conn.execute(
        select(
            audit_event.c.actor,
            audit_event.c.action,
            audit_event.c.occurred_at,
            audit_event.c.details,
        )
        .where(audit_event.c.action.in_((RESET, CHANGE, EXPIRED)))
        .order_by(audit_event.c.seq.desc())
    ).mappings()
    return next((r for r in rows if (r["details"] or {}).get("user") == username), None)


def password_expired(conn: Connection, username: str) -> bool:
    """True while an expiry is the latest password event of ``username`` (no change since)."""
    event = _last_password_event(conn, username)
    return event is not None and event["action"] == EXPIRED


def password_reset_notice(conn: Connection, username: str) -> ResetNotice | None:
    """The notice for ``username`` while an administrator's reset is their latest password event."""
    event = _last_password_event(conn, username)
    if event is None or event["action"] != RESET:
        return None
    sign_ins = conn.execute(
        select(audit_event.c.seq, audit_event.c.occurred_at)
        .where(audit_event.c.actor == username, audit_event.c.action == SIGN_IN)
        .order_by(audit_event.c.seq.desc())
        .limit(2)
    ).all()
    # The latest sign-in is the current one; the one before it is what the user remembers.
    previous = sign_ins[1] if len(sign_ins) > 1 else None
    failed = conn.execute(
        select(func.count())
        .select_from(audit_event)
        .where(
            audit_event.c.actor == username,
            audit_event.c.action.in_(FAILED_ATTEMPTS),
            audit_event.c.seq > (previous.seq if previous else 0),
        )
    ).scalar_one()
    return ResetNotice(
        reset_by=event["actor"],
        reset_at=event["occurred_at"],
        last_sign_in=previous.occurred_at if previous else None,
        failed_attempts=failed,
    )
