"""Rate limits on refused attempts, counted in the database for every worker.

Guessing passwords must be slow, and the per-account lockout must not become
a weapon: whoever can reach the sign-in page could otherwise lock any account,
an administrator's included, by typing wrong passwords for it. So refused
attempts are counted per client address and per account in fixed windows,
and both limits sit below the lockout threshold (``settings.RateLimits``):
within one window neither one address nor many addresses naming one account
can make enough wrong guesses to lock it; they get 429 and ``Retry-After``.

A key (what is counted, and for whom) has one row: when its window began and
how many attempts it has counted. An attempt is counted *before* the password
is checked, in one atomic upsert, so parallel requests cannot all slip
through before the first failure is written; an attempt that succeeds gives
its count back. Once a key is over its limit, later attempts are refused by a
read alone, so a flood of requests writes nothing, and the first attempt over
the limit is audited once per window (``rate_limit.exceeded``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from litestar.connection import ASGIConnection
from sqlalchemy import Connection, case, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from labledger.audit.trail import AuditEntry, append
from labledger.db.tables import rate_limit
from labledger.db.types import utc_now
from labledger.settings import RateLimits

#: How many characters of typed input (a username, an address) are stored.
TYPED_INPUT_LIMIT = 64


def bounded(text: str, limit: int = TYPED_INPUT_LIMIT) -> str:
    """``text`` cut to ``limit`` characters and marked when cut, NUL bytes written out.

    What a refused attempt typed is stored in the audit trail and in counter
    keys; anyone can type megabytes, so only its beginning is kept, and a NUL
    (which PostgreSQL cannot store in text) is kept as the four characters ``\\x00``.
    """
    shown = text.replace("\x00", "\\x00")
    if len(shown) <= limit:
        return shown
    return f"{shown[:limit]}...(+{len(shown) - limit} characters)"


def client_address(request: ASGIConnection) -> str | None:  # type: ignore[type-arg]
    """The address a request came from (behind ``serve``, a local proxy's ``X-Forwarded-For``)."""
    return request.client.host if request.client else None


@dataclass(frozen=True)
class Counter:
    """One thing counted (``sign-in:address:192.0.2.7``) and how many it may reach."""

    key: str
    limit: int


def counters(
    limits: RateLimits, action: str, *, address: str | None, account: str | None
) -> list[Counter]:
    """The counters one attempt at ``action`` is counted against."""
    found = []
    if address:
        found.append(Counter(f"{action}:address:{bounded(address)}", limits.per_address))
    if account is not None:
        found.append(Counter(f"{action}:account:{bounded(account)}", limits.per_account))
    return found


def _seconds_left(window_start: datetime, window: timedelta, now: datetime) -> int:
    return max(1, math.ceil((window_start + window - now).total_seconds()))


def blocked_for(conn: Connection, found: list[Counter], window: timedelta) -> int | None:
    """Seconds until every counter over its limit has a fresh window, or None if none is over."""
    if not found:
        return None
    now = utc_now()
    limit_of = {c.key: c.limit for c in found}
    rows = conn.execute(
        select(rate_limit.c.key, rate_limit.c.window_start, rate_limit.c.attempts).where(
            rate_limit.c.key.in_(limit_of), rate_limit.c.window_start > now - window
        )
    ).all()
    waits = [
        _seconds_left(r.window_start, window, now) for r in rows if r.attempts > limit_of[r.key]
    ]
    return max(waits, default=None)


def _count(conn: Connection, counter: Counter, window: timedelta, now: datetime) -> tuple[int, int]:
    """Add one attempt to ``counter``, in a new window if its last one ended.

    Returns the attempts counted in the window and the seconds it has left.
    """
    insert_ = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = insert_(rate_limit).values(key=counter.key, window_start=now, attempts=1)
    expired = rate_limit.c.window_start <= now - window
    row = conn.execute(
        statement.on_conflict_do_update(
            index_elements=[rate_limit.c.key],
            set_={
                "attempts": case((expired, 1), else_=rate_limit.c.attempts + 1),
                "window_start": case((expired, now), else_=rate_limit.c.window_start),
            },
        ).returning(rate_limit.c.attempts, rate_limit.c.window_start)
    ).one()
    return row.attempts, _seconds_left(row.window_start, window, now)


def count_attempt(conn: Connection, found: list[Counter], window: timedelta) -> int | None:
    """Count one attempt against every counter; seconds to wait if that went over a limit.

    The first attempt over a limit in a window is audited; later ones are
    refused by ``blocked_for`` without being counted. The audit event is
    appended after every counter is counted, so a transaction always takes
    the counters' row locks before the audit trail's and two of them cannot
    deadlock.
    """
    now = utc_now()
    waits = []
    exceeded = []
    for counter in found:
        attempts, seconds_left = _count(conn, counter, window, now)
        if attempts > counter.limit:
            waits.append(seconds_left)
        if attempts == counter.limit + 1:
            exceeded.append(_exceeded_event(counter, window))
    if exceeded:
        append(conn, exceeded)
    return max(waits, default=None)


def _exceeded_event(counter: Counter, window: timedelta) -> AuditEntry:
    return AuditEntry(
        actor="system",
        action="rate_limit.exceeded",
        details={"counter": counter.key, "limit": counter.limit},
        reason=f"more than {counter.limit} refused attempts in "
        f"{int(window.total_seconds())} seconds",
    )


def admit(conn: Connection, limits: RateLimits, found: list[Counter]) -> int | None:
    """Count one attempt unless a counter is already over: None to go on, else seconds to wait."""
    window = timedelta(seconds=limits.window_seconds)
    wait = blocked_for(conn, found, window)
    if wait is None:
        wait = count_attempt(conn, found, window)
    return wait


def give_back(conn: Connection, found: list[Counter]) -> None:
    """An attempt that succeeded does not count against anyone."""
    if found:
        conn.execute(
            update(rate_limit)
            .where(rate_limit.c.key.in_([c.key for c in found]), rate_limit.c.attempts > 0)
            .values(attempts=rate_limit.c.attempts - 1)
        )
