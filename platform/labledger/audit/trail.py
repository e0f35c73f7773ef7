"""Writing audit events (and their outbox events) inside the caller's transaction.

Every event carries the hash of the one before it, so the trail is a chain
(a hash chain per *lane*, see below): ``hash = SHA-256(prev_hash ":" lane ":"
position ":" seq ":" body_hash)``, where ``body_hash`` is the hash of the
canonical form of everything else the event says. An event that produced
something (a record row, a signature, a definition) also carries that thing's
hash in ``result_hash``, so ``audit verify`` can prove the live rows are what
the chain says they are.

**Lanes.** A chain has one tip, and a writer must hold it from its append
until its commit is on disk, so with one chain every writer waits for every
other. The trail is ``LANES`` chains instead, each with its tip in a row of
``audit_head`` (id = lane): a transaction appends all its events to the lane
of the record its first event is about (lane 1 for events about no record),
locking only that lane's tip, so writers of records in different lanes never
wait for each other. Each event has its position in its lane (``lane_seq``,
no gaps) and a global sequence number (``seq``: the order of the trail, taken
while the lane is held, so it follows each lane's order; on PostgreSQL it
comes from a sequence and may skip numbers a rolled-back write took). A
checkpoint event locks every lane and names every lane's tip, so one short
line held outside the system covers all of them (``audit.checkpoints``).

Because the link needs only the previous hash, the place in the chain and a
body hash computed beforehand, PostgreSQL can forge it itself: the first
event of a transaction is written by one statement that locks the lane's tip,
inserts the event (and its outbox row) and moves the tip. The tip is then
locked for that statement and the commit, not for the rest of the
transaction. Holding the lane also means its tip cannot move under the
transaction, so later appends in it take the tip from the transaction cache.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    cast,
    func,
    insert,
    select,
    update,
)

from labledger.audit.results import StoredRow
from labledger.canonical import content_hash, iso_utc, plain_content_hash
from labledger.db.tables import audit_event, audit_event_seq, audit_head, outbox_event
from labledger.db.txcache import transaction_cache
from labledger.db.types import utc_now
from labledger.errors import WritesSuspended

#: prev_hash of the first event of every lane.
GENESIS_HASH = "0" * 64
#: The hash version of new events: a link over (prev_hash, lane, position, seq, body hash),
#: see ``event_hash``.
EVENT_HASH_VERSION = 4
#: The lanes of the chain: ``audit_head`` holds one row for each, ids 1 to LANES.
LANES = 16


def lane_of(record_id: int | None) -> int:
    """The lane of the events about a record (lane 1 for events about none)."""
    return 1 if record_id is None else 1 + record_id % LANES


@dataclass(frozen=True)
class Tip:
    """Where a lane ends: its last event's position and hash, and that event's
    sequence number (None when not known: a lane's tip as stored)."""

    lane: int
    position: int
    hash: str
    seq: int | None = None


@dataclass
class AuditEntry:
    """What happened, by whom, to what; the trail adds sequence, time and hashes."""

    actor: str
    action: str
    type_key: str | None = None
    record_id: int | None = None
    record_number: str | None = None
    changes: dict[str, Any] | None = None
    reason: str | None = None
    config_version: int | None = None
    details: dict[str, Any] | None = None
    #: Outbox kind to publish for integrations (None: nothing is published).
    outbox_kind: str | None = None
    outbox_payload: dict[str, Any] = field(default_factory=dict)
    #: Hash of what the event produced (see ``audit.results``), None if nothing.
    result_hash: str | None = None


HASHED_COLUMNS = (
    "seq",
    "occurred_at",
    "actor",
    "action",
    "type_key",
    "record_id",
    "record_number",
    "changes",
    "reason",
    "config_version",
    "details",
    "prev_hash",
)


#: What versions 3 and 4 leave out of the body hash: the event's place in the chain.
_LINK_COLUMNS = ("seq", "prev_hash")


def event_hash(row: StoredRow) -> str:
    """The hash an event must carry, from its stored fields (including prev_hash).

    Version 4 hashes the body (every field but its place in the chain) and
    links it: ``SHA-256(prev_hash ":" lane ":" position ":" seq ":"
    body_hash)``, which PostgreSQL can compute as it appends. Version 3 was
    the same link in the single chain before lanes (``SHA-256(prev_hash ":"
    seq ":" body_hash)``). Version 2 hashed all fields, prev_hash included,
    in one canonical document. Version 1 (``hash_version`` empty) did that
    without the version and result columns, in the first canonical form.
    Every event keeps verifying as it was written.
    """
    version = row["hash_version"] or 1
    if version >= EVENT_HASH_VERSION:
        return lane_link(row["prev_hash"], row["lane"], row["lane_seq"], row["seq"], body_hash(row))
    if version == 3:
        return chain_link(row["prev_hash"], row["seq"], body_hash(row))
    body = {name: row[name] for name in HASHED_COLUMNS}
    body["occurred_at"] = iso_utc(row["occurred_at"])
    if version == 1:
        return content_hash(body, 1)
    body["hash_version"] = version
    body["result_hash"] = row["result_hash"]
    return plain_content_hash(body)


def body_hash(row: StoredRow) -> str:
    """The hash of everything a version-3 event says except where it sits in the chain."""
    body = {name: row[name] for name in HASHED_COLUMNS if name not in _LINK_COLUMNS}
    body["occurred_at"] = iso_utc(row["occurred_at"])
    body["hash_version"] = row["hash_version"]
    body["result_hash"] = row["result_hash"]
    return plain_content_hash(body)


def lane_link(prev_hash: str, lane: int, position: int, seq: int, body: str) -> str:
    """An event's hash from the one before it in its lane, its place and its body hash
    (``_APPEND_FIRST`` computes the same in SQL)."""
    return hashlib.sha256(f"{prev_hash}:{lane}:{position}:{seq}:{body}".encode()).hexdigest()


def chain_link(prev_hash: str, seq: int, body: str) -> str:
    """The hash of a version-3 event, written in the single chain before lanes."""
    return hashlib.sha256(f"{prev_hash}:{seq}:{body}".encode()).hexdigest()


def event_intact(row: StoredRow) -> bool:
    """Whether an event's stored fields still give its stored hash.

    Version 1 hashed an integral float as ``int(value)``; PostgreSQL's JSONB
    gave the same number back as the exact decimal that was written, so a
    version-1 event holding, say, 6.02214076e23 never matched again. For such
    events the large integers read back are also tried as the floats they
    were, which clears that false alarm without weakening version 2.
    """
    stored: str = row["hash"]
    if event_hash(row) == stored:
        return True
    if row["hash_version"]:
        return False
    rounded = {**row, "changes": _as_floats(row["changes"]), "details": _as_floats(row["details"])}
    return event_hash(rounded) == stored


def _as_floats(value: Any) -> Any:
    """Integers beyond 2**53 as the floats version 1 saw (other values unchanged)."""
    if isinstance(value, dict):
        return {k: _as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_floats(v) for v in value]
    if type(value) is int and abs(value) > 2**53:
        try:
            return float(value)
        except OverflowError:
            return value
    return value


#: Transaction cache section: the lane tip this transaction holds locked, and the
#: events waiting inside ``written_together``.
_HEAD_SECTION = "audit_head"
#: Built once: every write runs them.
#: A lane's tip, locked, while every lane has its row: a row missing or one too many
#: must stop writes (see ``_lock_tip``).
_COMPLETE = select(func.count()).select_from(audit_head).scalar_subquery() == LANES
_LOCK_TIP = (
    select(audit_head.c.seq, audit_head.c.hash)
    .where(audit_head.c.id == bindparam("lane"), _COMPLETE)
    .with_for_update()
)
_LOCK_ALL = (
    select(audit_head.c.id, audit_head.c.seq, audit_head.c.hash)
    .order_by(audit_head.c.id)
    .with_for_update()
)
_MOVE_HEAD = (
    update(audit_head)
    .where(audit_head.c.id == bindparam("lane"))
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)
_INSERT_EVENTS = insert(audit_event)
_INSERT_OUTBOX = insert(outbox_event)
#: PostgreSQL: the next ``n`` sequence numbers; SQLite: the last one (it writes alone).
_NEXT_SEQS = select(audit_event_seq.next_value()).select_from(
    func.generate_series(1, bindparam("n"))
)
_LAST_SEQ = select(func.coalesce(func.max(audit_event.c.seq), 0))


def _bound_values(table: Table, prefix: str, computed: Any = ()) -> dict[str, Any]:
    """A parameter named ``prefix`` + column for every column of ``table`` the database
    does not fill itself (its serial key) and that is not ``computed``."""
    return {
        c.name: bindparam(prefix + c.name, type_=c.type)
        for c in table.c
        if c.name not in computed and not (c.primary_key and c.autoincrement is True)
    }


def _bound_insert(table: Table, prefix: str, name: str) -> Any:
    """INSERT of one row with every value a bound parameter, as a CTE."""
    return insert(table).values(_bound_values(table, prefix)).cte(name)


def _prefixed(prefix: str, row: dict[str, Any]) -> dict[str, Any]:
    return {prefix + key: value for key, value in row.items()}


#: PostgreSQL: one event (with or without its outbox row) and the tip's move, one statement.
_APPEND_ONE = {
    False: _MOVE_HEAD.add_cte(_bound_insert(audit_event, "e_", "new_event")),
    True: _MOVE_HEAD.add_cte(_bound_insert(audit_event, "e_", "new_event")).add_cte(
        _bound_insert(outbox_event, "o_", "new_outbox")
    ),
}


def _append_first(with_outbox: bool) -> Any:
    """PostgreSQL: lock a lane's tip, insert one event linked to it (and its outbox row)
    and move the tip, in one statement that returns the event's place.

    The sequence number is taken once the lane is locked, so it follows the
    lane's order. Nothing is written unless every lane has its row (see
    ``_lock_tip``): then the statement returns no row.
    """
    lane = bindparam("lane", type_=Integer)
    tip = _LOCK_TIP.cte("old_tip")
    placed = select(
        audit_event_seq.next_value().label("seq"),
        (tip.c.seq + 1).label("position"),
        tip.c.hash.label("prev_hash"),
    ).cte("placed")
    body = bindparam("body_hash", type_=String)
    text_of = (placed.c.prev_hash, cast(lane, Text), cast(placed.c.position, Text))
    joined = func.concat_ws(":", *text_of, cast(placed.c.seq, Text), body)
    link = func.encode(func.sha256(func.convert_to(joined, "UTF8")), "hex")
    linked = {
        "seq": placed.c.seq,
        "lane": lane,
        "lane_seq": placed.c.position,
        "prev_hash": placed.c.prev_hash,
        "hash": link,
    }
    new_event = (
        _linked_insert(audit_event, "e_", linked, placed)
        .returning(audit_event.c.seq, audit_event.c.lane_seq, audit_event.c.hash)
        .cte("new_event")
    )
    statement = update(audit_head).add_cte(new_event)
    if with_outbox:
        linked_outbox = {
            "audit_seq": new_event.c.seq,
            "lane": lane,
            "lane_seq": new_event.c.lane_seq,
        }
        statement = statement.add_cte(
            _linked_insert(outbox_event, "o_", linked_outbox, new_event).cte("new_outbox")
        )
    # Scalar subqueries, not a join: a join would be lost when the tip row is re-read
    # after waiting for the writer before (the new values come from the event).
    written = select(new_event.c.lane_seq).scalar_subquery()
    return (
        statement.where(audit_head.c.id == lane, written.is_not(None))
        .values(seq=written, hash=select(new_event.c.hash).scalar_subquery())
        .returning(
            select(new_event.c.seq).scalar_subquery().label("seq"),
            audit_head.c.seq.label("lane_seq"),
            audit_head.c.hash,
        )
    )


def _linked_insert(table: Table, prefix: str, linked: dict[str, Any], source: Any) -> Any:
    """INSERT ... SELECT of one row per row of ``source``: the ``linked`` columns computed
    from it, every other value a parameter named prefix + column."""
    values = {**linked, **_bound_values(table, prefix, computed=linked)}
    return insert(table).from_select(list(values), select(*values.values()).select_from(source))


_APPEND_FIRST = {False: _append_first(False), True: _append_first(True)}


def append(conn: Connection, entries: Sequence[AuditEntry]) -> list[int]:
    """Append ``entries`` to the chain and publish their outbox events.

    Must run inside the write transaction of the change it describes, so that
    the change and its audit entry commit together or not at all. The first
    append of a transaction chooses the lane (``lane_of`` the record of its
    first event); every later one in the transaction goes to the same lane.
    Inside ``written_together`` the events are chained at once and written at
    the end of the block. Returns the events' sequence numbers.
    """
    if not entries:
        return []
    head = transaction_cache(conn, _HEAD_SECTION)
    pending: _Pending | None = head.get("pending")
    rows, outbox_rows = _unlinked(entries)
    tip: Tip | None = head.get("tip")
    if tip is None:  # the first append of the transaction takes the lock
        lane = lane_of(entries[0].record_id)
        if conn.dialect.name == "postgresql" and len(rows) == 1 and pending is None:
            head["tip"] = _append_linked_by_database(conn, lane, rows[0], outbox_rows)
            return [head["tip"].seq]
        tip = _lock_tip(conn, lane)
    head["tip"] = tip = _link(rows, outbox_rows, tip, _next_seqs(conn, tip, len(rows)))
    if pending is None:
        _write(conn, tip, rows, outbox_rows)
    else:
        pending.rows += rows
        pending.outbox_rows += outbox_rows
    return [row["seq"] for row in rows]


def _append_linked_by_database(
    conn: Connection, lane: int, row: dict[str, Any], outbox_rows: list[dict[str, Any]]
) -> Tip:
    """Write one event the database links to its lane's tip (``_append_first``); the new tip."""
    params = {"lane": lane, "body_hash": body_hash(row), **_prefixed("e_", row)}
    if outbox_rows:
        linked = {k: v for k, v in outbox_rows[0].items() if k != "audit_seq"}
        params.update(_prefixed("o_", linked))
    placed = conn.execute(_APPEND_FIRST[bool(outbox_rows)], params).first()
    if placed is None:
        raise _damaged_tip()
    return Tip(lane, placed.lane_seq, placed.hash, placed.seq)


def _next_seqs(conn: Connection, tip: Tip, count: int) -> list[int]:
    """Sequence numbers for ``count`` events appended after ``tip`` (held locked)."""
    if conn.dialect.name == "postgresql":
        return sorted(conn.execute(_NEXT_SEQS, {"n": count}).scalars())
    last = tip.seq if tip.seq is not None else conn.execute(_LAST_SEQ).scalar_one()
    return list(range(last + 1, last + 1 + count))


def held_tip(conn: Connection) -> tuple[int, str]:
    """(seq, hash) of this transaction's last appended event."""
    tip: Tip = transaction_cache(conn, _HEAD_SECTION)["tip"]
    assert tip.seq is not None  # set by every append
    return tip.seq, tip.hash


def _lock_tip(conn: Connection, lane: int) -> Tip:
    """Lock a lane's tip; refuse every change if a lane's row is missing or one too many.

    Appending after a damaged tip would fork or restart a lane and hide the
    damage, so nothing is recorded until an administrator has looked
    (``labledger audit verify`` names the problem).
    """
    found = conn.execute(_LOCK_TIP, {"lane": lane}).first()
    if found is None:
        raise _damaged_tip()
    return Tip(lane, found.seq, found.hash)


def lock_every_lane(conn: Connection) -> list[Tip]:
    """Lock every lane's tip, in lane order, and return them (for a checkpoint).

    Writers hold one lane each, so taking them in order cannot deadlock; once
    all are held, no event can be added anywhere until this transaction ends.
    """
    tips = [Tip(row.id, row.seq, row.hash) for row in conn.execute(_LOCK_ALL).all()]
    if [tip.lane for tip in tips] != list(range(1, LANES + 1)):
        raise _damaged_tip()
    return tips


def _damaged_tip() -> WritesSuspended:
    return WritesSuspended(
        "No change can be recorded: the audit trail's chain tip is missing or damaged. "
        "An administrator must run 'labledger audit verify'."
    )


@dataclass
class _Pending:
    rows: list[dict[str, Any]] = field(default_factory=list)
    outbox_rows: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def written_together(conn: Connection) -> Iterator[None]:
    """Inside the block, ``append`` chains events as usual but writes them all at its end.

    For work that appends dozens of events in one transaction (a bundle import
    publishing 50 types): one insert instead of a round trip per event. No
    savepoint may be rolled back inside the block (that would forget the
    waiting events with the rest of the transaction cache: refused loudly).
    Leaving the block by an exception writes nothing: the caller rolls back.
    """
    head = transaction_cache(conn, _HEAD_SECTION)
    if "pending" in head:  # already inside a block: its end writes these too
        yield
        return
    pending = head["pending"] = _Pending()
    try:
        yield
    except BaseException:
        transaction_cache(conn, _HEAD_SECTION).pop("pending", None)
        raise
    if transaction_cache(conn, _HEAD_SECTION).pop("pending", None) is not pending:
        raise RuntimeError("a savepoint was rolled back while audit events waited to be written")
    if pending.rows:
        _write(
            conn, transaction_cache(conn, _HEAD_SECTION)["tip"], pending.rows, pending.outbox_rows
        )


def _unlinked(
    entries: Sequence[AuditEntry],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The event rows of ``entries`` and their outbox rows, not yet placed in the chain
    (no seq, prev_hash or hash; an outbox row's ``audit_seq`` holds its event's index)."""
    now = utc_now()
    rows: list[dict[str, Any]] = []
    outbox_rows: list[dict[str, Any]] = []
    for index, entry in enumerate(entries):
        rows.append(
            {
                "occurred_at": now,
                "actor": entry.actor,
                "action": entry.action,
                "type_key": entry.type_key,
                "record_id": entry.record_id,
                "record_number": entry.record_number,
                "changes": entry.changes,
                "reason": entry.reason,
                "config_version": entry.config_version,
                "details": entry.details,
                "hash_version": EVENT_HASH_VERSION,
                "result_hash": entry.result_hash,
            }
        )
        if entry.outbox_kind:
            outbox_rows.append(
                {
                    "created_at": now,
                    "kind": entry.outbox_kind,
                    "type_key": entry.type_key,
                    "record_id": entry.record_id,
                    "audit_seq": index,
                    "payload": entry.outbox_payload,
                }
            )
    return rows, outbox_rows


def _link(
    rows: list[dict[str, Any]], outbox_rows: list[dict[str, Any]], tip: Tip, seqs: list[int]
) -> Tip:
    """Place ``rows`` in ``tip``'s lane after it, with the sequence numbers ``seqs``, and
    point their outbox rows at them; returns the lane's new tip."""
    lane, position, prev = tip.lane, tip.position, tip.hash
    for row, seq in zip(rows, seqs, strict=True):
        position += 1
        row.update(seq=seq, lane=lane, lane_seq=position, prev_hash=prev)
        row["hash"] = prev = lane_link(prev, lane, position, seq, body_hash(row))
    for outbox_row in outbox_rows:
        event = rows[outbox_row["audit_seq"]]
        outbox_row.update(audit_seq=event["seq"], lane=lane, lane_seq=event["lane_seq"])
    return Tip(lane, position, prev, seqs[-1])


def _write(
    conn: Connection, tip: Tip, rows: list[dict[str, Any]], outbox_rows: list[dict[str, Any]]
) -> None:
    """Insert chained rows and move their lane's tip to ``tip``, the last of them."""
    head_values = {"lane": tip.lane, "new_seq": tip.position, "new_hash": tip.hash}
    if conn.dialect.name == "postgresql" and len(rows) == 1 and len(outbox_rows) <= 1:
        # The common write, in one round trip: the inserts ride along as CTEs.
        params = {**head_values, **_prefixed("e_", rows[0])}
        if outbox_rows:
            params.update(_prefixed("o_", outbox_rows[0]))
        conn.execute(_APPEND_ONE[bool(outbox_rows)], params)
    else:
        conn.execute(_INSERT_EVENTS, rows)
        if outbox_rows:
            conn.execute(_INSERT_OUTBOX, outbox_rows)
        conn.execute(_MOVE_HEAD, head_values)
