"""The event feed: the outbox read in the order events committed, with a cursor to resume from.

Every change writes its outbox event in its own transaction, through
``labledger.audit.trail.append``. Events get their place in the feed, a
*position*, once they have committed (``integration.positions``), so when
position N is visible every event with a smaller one is too, and no event
gets a smaller one later. Two consequences the feed is built on:

- a page is bounded by the highest position given when it is read (read
  first, in its own statement), so a page never skips an event;
- when a page is not full, the cursor moves to that highest position, so a
  consumer with a narrow filter does not rescan old events on every poll.

The cursor is that position, as text (events written before positions
existed kept their id as position, so old cursors resume where they were).

Who sees what: record events (kinds ``record.*``) follow read permission on
their type, as the records themselves do (``configure`` reads every type);
user events (``user.*``) need ``manage_users``; every other event
(configuration, imports, webhooks) needs ``configure``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from sqlalchemy import ColumnElement, Connection, Select, and_, false, func, not_, or_, select

from labledger.canonical import iso_utc
from labledger.db.engine import Database
from labledger.db.tables import outbox_event, outbox_position
from labledger.errors import FieldError, ValidationFailed
from labledger.identity.principal import CONFIGURE, MANAGE_USERS, Principal
from labledger.integration.positions import assign_positions
from labledger.metadata.types import list_types

#: Largest page a feed request may ask for.
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100

RECORD_KINDS = "record."
USER_KINDS = "user."


def _split(raw: str | Iterable[str] | None) -> tuple[str, ...]:
    if raw is None:
        return ()
    items = raw.split(",") if isinstance(raw, str) else raw
    return tuple(sorted({item.strip() for item in items if item.strip()}))


@dataclass(frozen=True)
class EventFilter:
    """Which events a consumer wants: type keys, kinds and record states (empty: any).

    A kind ending in ``.*`` matches every kind with that prefix (``record.*``).
    The feed and webhook subscriptions share this one definition of a match.
    """

    types: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    states: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        types: str | Iterable[str] | None = None,
        kinds: str | Iterable[str] | None = None,
        states: str | Iterable[str] | None = None,
    ) -> EventFilter:
        return cls(_split(types), _split(kinds), _split(states))

    def conditions(self) -> list[ColumnElement[bool]]:
        """SQL conditions for the type and kind parts (states live in the payload)."""
        result: list[ColumnElement[bool]] = []
        if self.types:
            result.append(outbox_event.c.type_key.in_(self.types))
        if self.kinds:
            exact = [k for k in self.kinds if not k.endswith(".*")]
            prefixes = [k[:-1] for k in self.kinds if k.endswith(".*")]
            options: list[ColumnElement[bool]] = [outbox_event.c.kind.in_(exact)] if exact else []
            options += [outbox_event.c.kind.startswith(p, autoescape=True) for p in prefixes]
            result.append(or_(*options))
        return result

    def matches(self, event: dict[str, Any]) -> bool:
        """Does ``event`` (an ``event_view``) pass every part of the filter?

        The state of an event is the record's state after it: ``state`` of a
        create or update, ``to`` of a transition. Events without one (a
        signature, a configuration change) never match a state filter.
        """
        if self.types and event["type"] not in self.types:
            return False
        kind = event["kind"]
        if self.kinds and not any(
            kind.startswith(k[:-1]) if k.endswith(".*") else kind == k for k in self.kinds
        ):
            return False
        if self.states:
            payload = event["payload"] or {}
            return payload.get("state", payload.get("to")) in self.states
        return True

    def as_dict(self) -> dict[str, list[str]]:
        return {"types": list(self.types), "kinds": list(self.kinds), "states": list(self.states)}


def event_view(row: Any) -> dict[str, Any]:
    """An outbox event as the feed and webhooks send it (identical in both)."""
    return {
        "id": row["id"],
        "kind": row["kind"],
        "type": row["type_key"],
        "record_id": row["record_id"],
        "audit_seq": row["audit_seq"],
        "created_at": iso_utc(row["created_at"]),
        "payload": row["payload"],
    }


def visible_condition(conn: Connection, actor: Principal) -> ColumnElement[bool] | None:
    """The events ``actor`` may see, as an SQL condition (None: all of them)."""
    configure = actor.has_permission(CONFIGURE)
    users = actor.has_permission(MANAGE_USERS)
    if configure and users:
        return None
    is_record = outbox_event.c.kind.startswith(RECORD_KINDS)
    is_user = outbox_event.c.kind.startswith(USER_KINDS)
    options: list[ColumnElement[bool]] = []
    if configure:
        options.append(not_(is_user))
    else:
        readable = [item["key"] for item in list_types(conn, actor)]
        if readable:
            options.append(and_(is_record, outbox_event.c.type_key.in_(readable)))
    if users:
        options.append(is_user)
    return or_(*options) if options else false()


def feed_head(conn: Connection) -> int:
    """The highest feed position given so far (0 when there is none)."""
    head: int = conn.execute(
        select(func.coalesce(func.max(outbox_position.c.position), 0))
    ).scalar_one()
    return head


def positioned_events(*conditions: ColumnElement[bool]) -> Select[Any]:
    """Outbox events with their feed position, in feed order."""
    return (
        select(outbox_event, outbox_position.c.position)
        .join(outbox_position, outbox_position.c.outbox_id == outbox_event.c.id)
        .where(*conditions)
        .order_by(outbox_position.c.position)
    )


class FeedRequest(TypedDict, total=False):
    """What a consumer asks of the feed (see ``read_feed``)."""

    after: str | None
    events: EventFilter | None
    limit: int


def read_events(db: Database, actor: Principal, **request: Unpack[FeedRequest]) -> dict[str, Any]:
    """``read_feed`` after giving the events committed since the last read their positions."""
    assign_positions(db)
    with db.read() as conn:
        return read_feed(conn, actor, **request)


def parse_cursor(raw: str | None) -> int:
    """The cursor a consumer sends back (``after``); absent means from the beginning."""
    if raw is None or raw == "":
        return 0
    if not raw.isdigit() or len(raw) > 19:
        raise ValidationFailed(
            "Bad feed cursor.",
            [FieldError("after", "must be a cursor returned by the feed (its 'next')")],
        )
    return int(raw)


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed("Bad page size.", [FieldError("limit", f"must be 1 to {MAX_LIMIT}")])


def read_feed(
    conn: Connection,
    actor: Principal,
    *,
    after: str | None = None,
    events: EventFilter | None = None,
    limit: int = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """One page of events after the cursor, oldest first.

    Returns ``{"items": [...], "next": cursor, "more": bool}``: send ``next``
    as ``after`` to resume; ``more`` says a full page came back and the next
    one may follow at once. A cursor walk sees every event it may see once.
    """
    start = parse_cursor(after)
    check_limit(limit)
    head = feed_head(conn)
    conditions = [
        outbox_position.c.position > start,
        outbox_position.c.position <= head,
        *(events or EventFilter()).conditions(),
    ]
    visible = visible_condition(conn, actor)
    if visible is not None:
        conditions.append(visible)
    rows = conn.execute(positioned_events(*conditions).limit(limit + 1)).mappings().all()
    items = [event_view(row) for row in rows[:limit]]
    more = len(rows) > limit
    position = rows[limit - 1]["position"] if more else max(head, start)
    return {"items": items, "next": str(position), "more": more}
