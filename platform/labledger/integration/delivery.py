"""Delivering outbox events to webhook subscriptions, at least once.

One round (``deliver_due``) does three things, each in its own short
transaction, never inside a user's:

1. **dispatch** — for each active subscription, read the outbox events after
   its cursor, add a pending delivery for each one its filter matches, and
   move the cursor (all in one transaction, so an event is queued exactly
   once per subscription);
2. **claim** — reserve due deliveries for this worker until a lease runs out
   (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers
   take different rows; SQLite serialises writers with ``BEGIN IMMEDIATE``);
3. **send and settle** — POST each claimed event, outside any transaction,
   then record the attempt and the outcome: delivered, retry later with
   exponential backoff, or dead once the subscription's attempts are used up.

A worker killed after claiming leaves its deliveries pending with a lease;
once the lease runs out another worker (or the restarted one) claims and
sends them again. A receiver may therefore see an event twice and drops the
repeat by its ``X-Labledger-Event-Id``; it never misses one.

Every step takes the time as a parameter, so retries and leases are tested
by passing times, not by waiting.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from time import perf_counter
from typing import Any

import httpx
from sqlalchemy import Connection, insert, or_, select, update

from labledger.db.engine import Database
from labledger.db.integration_tables import webhook_attempt, webhook_delivery, webhook_subscription
from labledger.db.tables import outbox_event, outbox_position
from labledger.db.types import utc_now
from labledger.integration.allowlist import Allowlist
from labledger.integration.feed import event_view, feed_head, positioned_events
from labledger.integration.positions import assign_positions
from labledger.integration.signing import signed_headers
from labledger.integration.subscriptions import (
    DEAD,
    DELIVERED,
    PENDING,
    RESPONSE_EXCERPT,
    event_filter,
)

log = logging.getLogger("labledger.worker")


@dataclass(frozen=True)
class DeliveryPolicy:
    """How the worker sends: timeouts, batch sizes, backoff and leases (seconds)."""

    #: Longest wait for a receiver's answer.
    timeout: float = 10.0
    #: Deliveries claimed per round.
    batch: int = 20
    #: Delay before the first retry; each further retry waits twice as long ...
    base_delay: float = 30.0
    #: ... up to this.
    max_delay: float = 6 * 3600.0
    #: How long a claim lasts; None: long enough to send the whole batch, plus 30 s.
    lease: float | None = None
    #: Outbox events a subscription's dispatch reads per round.
    dispatch_batch: int = 1000

    def lease_for(self, claimed: int) -> timedelta:
        seconds = self.lease if self.lease is not None else self.timeout * claimed + 30.0
        return timedelta(seconds=seconds)

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed attempt: base, 2 x base, 4 x base ..."""
        return timedelta(seconds=min(self.base_delay * 2 ** max(attempts - 1, 0), self.max_delay))


class DeliveryError(Exception):
    """No usable answer came (refused, timed out, not allowed): the message says which."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: str


#: Sends one request: (url, body, headers, timeout) -> Answer, or raises DeliveryError.
Transport = Callable[[str, bytes, dict[str, str], float], Answer]


def http_post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST with a timeout, without following redirects, reading at most the start of the
    answer (a receiver cannot make the worker hold a huge body in memory)."""
    try:
        with httpx.stream(
            "POST", url, content=body, headers=headers, timeout=timeout, follow_redirects=False
        ) as response:
            start = b""
            for chunk in response.iter_bytes():
                start += chunk
                if len(start) >= RESPONSE_EXCERPT:
                    break
    except httpx.TimeoutException:
        raise DeliveryError(f"no answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
    return Answer(response.status_code, start[:RESPONSE_EXCERPT].decode("utf-8", "replace"))


@dataclass(frozen=True)
class Claim:
    """A delivery reserved by this worker, with what sending it needs."""

    delivery_id: int
    token: str
    attempts: int
    max_attempts: int
    subscription: str
    url: str
    secret: str
    event: dict[str, Any]

    @property
    def body(self) -> bytes:
        return json.dumps(
            self.event, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    response: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class RoundResult:
    """What one round did; ``worked`` is false when there was nothing to do."""

    queued: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    #: Deliveries whose lease ran out while they were sent (another worker owns them).
    lost: int = 0
    outcomes: list[tuple[int, str | None]] = field(default_factory=list)

    @property
    def worked(self) -> bool:
        return bool(self.queued or self.outcomes)


def _behind(head: int) -> Any:
    return (webhook_subscription.c.active.is_(True)) & (webhook_subscription.c.last_event_id < head)


def dispatch(db: Database, now: datetime, *, batch: int = 1000) -> int:
    """Queue deliveries for new outbox events; returns how many were queued."""
    assign_positions(db)
    with db.read() as conn:
        head = feed_head(conn)
        behind = conn.execute(
            select(webhook_subscription.c.id).where(_behind(head)).limit(1)
        ).first()
    if behind is None:
        return 0
    queued = 0
    with db.write() as conn:
        head = feed_head(conn)
        subscriptions = conn.execute(
            select(webhook_subscription)
            .where(_behind(head))
            .order_by(webhook_subscription.c.id)
            .with_for_update(skip_locked=True)
        ).mappings()
        for subscription in list(subscriptions):
            queued += _dispatch_one(conn, subscription, head, now, batch)
    return queued


def _dispatch_one(conn: Connection, subscription: Any, head: int, now: datetime, batch: int) -> int:
    wanted = event_filter(subscription)
    rows = list(
        conn.execute(
            positioned_events(
                outbox_position.c.position > subscription["last_event_id"],
                outbox_position.c.position <= head,
                *wanted.conditions(),
            ).limit(batch)
        ).mappings()
    )
    matched = [row["id"] for row in rows if wanted.matches(event_view(row))]
    if matched:
        conn.execute(
            insert(webhook_delivery),
            [
                {
                    "subscription_id": subscription["id"],
                    "event_id": event_id,
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for event_id in matched
            ],
        )
    # Positions follow commits, so everything up to head has been seen once the page is short.
    position = rows[-1]["position"] if len(rows) == batch else head
    conn.execute(
        update(webhook_subscription)
        .where(webhook_subscription.c.id == subscription["id"])
        .values(last_event_id=position)
    )
    return len(matched)


def claim(db: Database, now: datetime, policy: DeliveryPolicy) -> list[Claim]:
    """Reserve up to ``policy.batch`` due deliveries of active subscriptions."""
    token = secrets.token_hex(16)
    with db.write() as conn:
        ids = list(
            conn.execute(
                select(webhook_delivery.c.id)
                .join(
                    webhook_subscription,
                    webhook_subscription.c.id == webhook_delivery.c.subscription_id,
                )
                .where(
                    webhook_delivery.c.status == PENDING,
                    webhook_subscription.c.active.is_(True),
                    webhook_delivery.c.next_attempt_at <= now,
                    or_(
                        webhook_delivery.c.claimed_until.is_(None),
                        webhook_delivery.c.claimed_until <= now,
                    ),
                )
                .order_by(webhook_delivery.c.next_attempt_at, webhook_delivery.c.id)
                .limit(policy.batch)
                .with_for_update(skip_locked=True, of=webhook_delivery)
            ).scalars()
        )
        if not ids:
            return []
        conn.execute(
            update(webhook_delivery)
            .where(webhook_delivery.c.id.in_(ids))
            .values(claimed_until=now + policy.lease_for(len(ids)), claim_token=token)
        )
        rows = conn.execute(
            select(
                webhook_delivery.c.id.label("delivery_id"),
                webhook_delivery.c.attempts,
                webhook_subscription.c.name,
                webhook_subscription.c.url,
                webhook_subscription.c.secret,
                webhook_subscription.c.max_attempts,
                outbox_event,
            )
            .join(
                webhook_subscription,
                webhook_subscription.c.id == webhook_delivery.c.subscription_id,
            )
            .join(outbox_event, outbox_event.c.id == webhook_delivery.c.event_id)
            .where(webhook_delivery.c.id.in_(ids))
            .order_by(webhook_delivery.c.next_attempt_at, webhook_delivery.c.id)
        ).mappings()
        return [
            Claim(
                delivery_id=row["delivery_id"],
                token=token,
                attempts=row["attempts"],
                max_attempts=row["max_attempts"],
                subscription=row["name"],
                url=row["url"],
                secret=row["secret"],
                event=event_view(row),
            )
            for row in rows
        ]


def send(
    claimed: Claim,
    now: datetime,
    policy: DeliveryPolicy,
    allowlist: Allowlist,
    transport: Transport = http_post,
) -> Outcome:
    """One attempt: POST the signed event, unless the allowlist no longer allows the URL."""
    started = perf_counter()
    problem = allowlist.problem(claimed.url)
    if problem:
        return Outcome(None, f"not sent: the URL {problem}", None, 0)
    body = claimed.body
    headers = signed_headers(
        secret=claimed.secret,
        event_id=claimed.event["id"],
        subscription=claimed.subscription,
        body=body,
        now=now,
    )
    try:
        answer = transport(claimed.url, body, headers, policy.timeout)
    except DeliveryError as exc:
        return Outcome(None, str(exc), None, _elapsed_ms(started))
    return Outcome(answer.status, None, answer.body, _elapsed_ms(started))


def _elapsed_ms(started: float) -> int:
    return int((perf_counter() - started) * 1000)


def settle(
    db: Database, claimed: Claim, outcome: Outcome, now: datetime, policy: DeliveryPolicy
) -> str | None:
    """Record the attempt and the delivery's new status: delivered, pending (a retry
    is scheduled) or dead; returns that status.

    A worker whose lease ran out, and whose delivery another worker claimed
    since, still records its attempt but leaves the status to the new owner
    (and returns None).
    """
    attempts = claimed.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_attempt_at": now,
        "last_status": outcome.status_code,
        "last_error": outcome.error,
        "claimed_until": None,
        "claim_token": None,
    }
    if outcome.ok:
        values.update(status=DELIVERED, delivered_at=now)
    elif attempts >= claimed.max_attempts:
        values.update(status=DEAD)
    else:
        values.update(status=PENDING, next_attempt_at=now + policy.backoff(attempts))
    with db.write() as conn:
        conn.execute(
            insert(webhook_attempt).values(
                delivery_id=claimed.delivery_id,
                attempted_at=now,
                duration_ms=outcome.duration_ms,
                status_code=outcome.status_code,
                error=outcome.error,
                response=outcome.response,
            )
        )
        owned = conn.execute(
            update(webhook_delivery)
            .where(
                webhook_delivery.c.id == claimed.delivery_id,
                webhook_delivery.c.claim_token == claimed.token,
            )
            .values(values)
        ).rowcount
    return values["status"] if owned else None


def deliver_due(
    db: Database,
    *,
    now: datetime | None = None,
    policy: DeliveryPolicy | None = None,
    allowlist: Allowlist | None = None,
    transport: Transport = http_post,
) -> RoundResult:
    """One round: queue new events, claim what is due, send it, record the outcomes.

    ``now`` fixes the time for the whole round (tests pass times to step
    through backoff and leases); without it each step reads the clock.
    ``allowlist`` defaults to the one in the database's settings
    (``LABLEDGER_WEBHOOK_ALLOWLIST``).
    """
    policy = policy or DeliveryPolicy()
    allowlist = Allowlist.from_settings(db.settings) if allowlist is None else allowlist

    def clock() -> datetime:
        return now if now is not None else utc_now()

    result = RoundResult(queued=dispatch(db, clock(), batch=policy.dispatch_batch))
    for claimed in claim(db, clock(), policy):
        outcome = send(claimed, clock(), policy, allowlist, transport)
        status = settle(db, claimed, outcome, clock(), policy)
        result.outcomes.append((claimed.delivery_id, status))
        if status == DELIVERED:
            result.delivered += 1
        elif status == DEAD:
            result.dead += 1
        elif status == PENDING:
            result.retrying += 1
        else:
            result.lost += 1
        log.info(
            "event %s to %s: %s (%s)",
            claimed.event["id"],
            claimed.subscription,
            status or "claim lost to another worker",
            outcome.status_code if outcome.error is None else outcome.error,
        )
    return result
