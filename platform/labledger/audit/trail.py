"""Writing audit events (and their outbox events) inside the caller's transaction.

Every event carries the hash of the one before it, so the trail is a chain:
``hash = SHA-256(prev_hash ":" seq ":" body_hash)``, where ``body_hash`` is
the hash of the canonical form of everything else the event says. An event that
produced something (a record row, a signature, a definition) also carries
that thing's hash in ``result_hash``, so ``audit verify`` can prove the live
rows are what the chain says they are. The chain tip lives in
the one-row ``audit_head`` table; a writer locks that row, so appends are
serialised and sequence numbers have no gaps. Because the lock is held until
commit, outbox ids are also handed out in commit order, which the event feed
relies on. Holding the lock also means the tip cannot move under the
transaction, so later appends in it take the tip from the transaction cache.

Because the link needs only the previous hash, the sequence number and a body
hash computed beforehand, PostgreSQL can forge it itself: the first event of a
transaction is written by one statement that locks the tip, inserts the event
(and its outbox row) and moves the tip. The tip is then locked for that
statement and the commit, not for the rest of the transaction, so concurrent
writers queue on it only briefly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Connection,
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
from labledger.db.tables import audit_event, audit_head, outbox_event
from labledger.db.txcache import transaction_cache
from labledger.db.types import utc_now
from labledger.errors import WritesSuspended

#: prev_hash of the first event.
GENESIS_HASH = "0" * 64
#: The hash version of new events: a link over (prev_hash, seq, body hash), see ``event_hash``.
EVENT_HASH_VERSION = 3


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


#: What version 3 leaves out of the body hash: the event's place in the chain.
_LINK_COLUMNS = ("seq", "prev_hash")


def event_hash(row: StoredRow) -> str:
    """The hash an event must carry, from its stored fields (including prev_hash).

    Version 3 hashes the body (every field but seq and prev_hash) and links it:
    ``SHA-256(prev_hash ":" seq ":" body_hash)``, which PostgreSQL can compute
    as it appends. Version 2 hashed all fields, prev_hash included, in one
    canonical document. Version 1 (``hash_version`` empty) did that without
    the version and result columns, in the first canonical form. Every event
    keeps verifying as it was written.
    """
    version = row["hash_version"] or 1
    if version >= EVENT_HASH_VERSION:
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


def chain_link(prev_hash: str, seq: int, body: str) -> str:
    """An event's hash from the one before it, its sequence number and its body hash
    (``_APPEND_FIRST`` computes the same in SQL)."""
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


#: Transaction cache section: the chain tip this transaction holds locked, and the
#: events waiting inside ``written_together``.
_HEAD_SECTION = "audit_head"
#: Built once: every write runs them.
#: Every row, not only id 1: a second row must stop writes as surely as a missing one.
_LOCK_HEAD = select(audit_head.c.seq, audit_head.c.hash).with_for_update()
_MOVE_HEAD = (
    update(audit_head)
    .where(audit_head.c.id == 1)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)
_INSERT_EVENTS = insert(audit_event)
_INSERT_OUTBOX = insert(outbox_event)


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


#: PostgreSQL: one event (with or without its outbox row) and the head move, one statement.
_APPEND_ONE = {
    False: _MOVE_HEAD.add_cte(_bound_insert(audit_event, "e_", "new_event")),
    True: _MOVE_HEAD.add_cte(_bound_insert(audit_event, "e_", "new_event")).add_cte(
        _bound_insert(outbox_event, "o_", "new_outbox")
    ),
}


def _append_first(with_outbox: bool) -> Any:
    """PostgreSQL: lock the tip, insert one event linked to it (and its outbox row) and
    move the tip, in one statement that returns the new tip.

    Every head row is locked, and nothing is written unless there is exactly
    one (see ``_lock_tip``): then the statement returns no row.
    """
    tip = select(audit_head.c.seq, audit_head.c.hash).with_for_update().cte("old_tip")
    alone = select(func.count()).select_from(tip).scalar_subquery() == 1
    seq = tip.c.seq + 1
    body = bindparam("body_hash", type_=String)
    link = func.encode(
        func.sha256(func.convert_to(tip.c.hash + ":" + cast(seq, Text) + ":" + body, "UTF8")),
        "hex",
    )
    event = {"seq": seq, "prev_hash": tip.c.hash, "hash": link}
    statement = update(audit_head).add_cte(
        _linked_insert(audit_event, "e_", event, alone, "new_event")
    )
    if with_outbox:
        outbox = {"audit_seq": seq}
        statement = statement.add_cte(
            _linked_insert(outbox_event, "o_", outbox, alone, "new_outbox")
        )
    return (
        statement.where(audit_head.c.id == 1, alone)
        .values(seq=select(seq).scalar_subquery(), hash=select(link).scalar_subquery())
        .returning(audit_head.c.seq, audit_head.c.hash)
    )


def _linked_insert(
    table: Table, prefix: str, linked: dict[str, Any], condition: Any, name: str
) -> Any:
    """INSERT ... SELECT of one row, if ``condition`` holds, as a CTE: the ``linked``
    columns computed from the tip, every other value a parameter named prefix + column."""
    values = {**linked, **_bound_values(table, prefix, computed=linked)}
    return (
        insert(table).from_select(list(values), select(*values.values()).where(condition)).cte(name)
    )


_APPEND_FIRST = {False: _append_first(False), True: _append_first(True)}


def append(conn: Connection, entries: Sequence[AuditEntry]) -> list[int]:
    """Append ``entries`` to the chain and publish their outbox events.

    Must run inside the write transaction of the change it describes, so that
    the change and its audit entry commit together or not at all. Inside
    ``written_together`` the events are chained at once and written at the
    end of the block.
    """
    if not entries:
        return []
    head = transaction_cache(conn, _HEAD_SECTION)
    pending: _Pending | None = head.get("pending")
    rows, outbox_rows = _unlinked(entries)
    if "tip" not in head:  # the first append of the transaction takes the lock
        if conn.dialect.name == "postgresql" and len(rows) == 1 and pending is None:
            head["tip"] = _append_linked_by_database(conn, rows[0], outbox_rows)
            return [head["tip"][0]]
        head["tip"] = _lock_tip(conn)
    _link(rows, outbox_rows, *head["tip"])
    head["tip"] = (rows[-1]["seq"], rows[-1]["hash"])
    if pending is None:
        _write(conn, rows, outbox_rows)
    else:
        pending.rows += rows
        pending.outbox_rows += outbox_rows
    return [row["seq"] for row in rows]


def _append_linked_by_database(
    conn: Connection, row: dict[str, Any], outbox_rows: list[dict[str, Any]]
) -> tuple[int, str]:
    """Write one event the database links to the tip (``_append_first``); the new tip."""
    params = {"body_hash": body_hash(row), **_prefixed("e_", row)}
    if outbox_rows:
        linked = {k: v for k, v in outbox_rows[0].items() if k != "audit_seq"}
        params.update(_prefixed("o_", linked))
    tip = conn.execute(_APPEND_FIRST[bool(outbox_rows)], params).first()
    if tip is None:
        raise _damaged_tip()
    return tip.seq, tip.hash


def held_tip(conn: Connection) -> tuple[int, str]:
    """(seq, hash) of the chain tip after this transaction's last append."""
    tip: tuple[int, str] = transaction_cache(conn, _HEAD_SECTION)["tip"]
    return tip


def _lock_tip(conn: Connection) -> tuple[int, str]:
    """Lock the chain tip; refuse every change if it is missing or doubled.

    Appending after a damaged tip would fork or restart the chain and hide the
    damage, so nothing is recorded until an administrator has looked
    (``labledger audit verify`` names the problem).
    """
    rows = conn.execute(_LOCK_HEAD).all()
    if len(rows) != 1:
        raise _damaged_tip()
    return rows[0].seq, rows[0].hash


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
        _write(conn, pending.rows, pending.outbox_rows)


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
    rows: list[dict[str, Any]], outbox_rows: list[dict[str, Any]], seq: int, prev: str
) -> None:
    """Place ``rows`` in the chain after (seq, prev), and point their outbox rows at them."""
    first = seq + 1
    for row in rows:
        seq += 1
        row["seq"], row["prev_hash"] = seq, prev
        row["hash"] = prev = chain_link(prev, seq, body_hash(row))
    for outbox_row in outbox_rows:
        outbox_row["audit_seq"] += first


def _write(conn: Connection, rows: list[dict[str, Any]], outbox_rows: list[dict[str, Any]]) -> None:
    """Insert chained rows and move the head to the last of them."""
    head_values = {"new_seq": rows[-1]["seq"], "new_hash": rows[-1]["hash"]}
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
