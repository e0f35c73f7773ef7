"""Writing audit events (and their outbox events) inside the caller's transaction.

Every event carries the hash of the one before it, so the trail is a chain:
``hash = SHA-256(canonical(event fields + prev_hash))``. An event that
produced something (a record row, a signature, a definition) also carries
that thing's hash in ``result_hash``, so ``audit verify`` can prove the live
rows are what the chain says they are. The chain tip lives in
the one-row ``audit_head`` table; a writer locks that row, so appends are
serialised and sequence numbers have no gaps. Because the lock is held until
commit, outbox ids are also handed out in commit order, which the event feed
relies on. Holding the lock also means the tip cannot move under the
transaction, so later appends in it take the tip from the transaction cache.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert, select, update

from labledger.audit.results import StoredRow
from labledger.canonical import (
    CANONICAL_VERSION,
    content_hash,
    iso_utc,
    plain_content_hash,
)
from labledger.db.tables import audit_event, audit_head, outbox_event
from labledger.db.txcache import transaction_cache
from labledger.db.types import utc_now
from labledger.errors import WritesSuspended

#: prev_hash of the first event.
GENESIS_HASH = "0" * 64


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


def event_hash(row: StoredRow) -> str:
    """The hash an event must carry, from its stored fields (including prev_hash).

    Events of version 1 (``hash_version`` empty) were hashed without the
    version and result columns, in the first canonical form; they keep
    verifying as they were written.
    """
    version = row["hash_version"] or 1
    body = {name: row[name] for name in HASHED_COLUMNS}
    body["occurred_at"] = iso_utc(row["occurred_at"])
    if version == 1:
        return content_hash(body, 1)
    body["hash_version"] = version
    body["result_hash"] = row["result_hash"]
    return plain_content_hash(body)


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


def _bound_insert(table: Table, prefix: str, name: str) -> Any:
    """INSERT of one row with every value a bound parameter, as a CTE."""
    columns = [c for c in table.c if not (c.primary_key and c.autoincrement is True)]
    values = {c.name: bindparam(prefix + c.name, type_=c.type) for c in columns}
    return insert(table).values(values).cte(name)


def _prefixed(prefix: str, row: dict[str, Any]) -> dict[str, Any]:
    return {prefix + key: value for key, value in row.items()}


#: PostgreSQL: one event (with or without its outbox row) and the head move, one statement.
_APPEND_ONE = {
    False: _MOVE_HEAD.add_cte(_bound_insert(audit_event, "e_", "new_event")),
    True: _MOVE_HEAD.add_cte(_bound_insert(audit_event, "e_", "new_event")).add_cte(
        _bound_insert(outbox_event, "o_", "new_outbox")
    ),
}


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
    if "tip" not in head:  # the first append of the transaction takes the lock
        head["tip"] = _lock_tip(conn)
    rows, outbox_rows = _chain(entries, *head["tip"])
    head["tip"] = (rows[-1]["seq"], rows[-1]["hash"])
    pending: _Pending | None = head.get("pending")
    if pending is None:
        _write(conn, rows, outbox_rows)
    else:
        pending.rows += rows
        pending.outbox_rows += outbox_rows
    return [row["seq"] for row in rows]


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
        raise WritesSuspended(
            "No change can be recorded: the audit trail's chain tip is missing or damaged. "
            "An administrator must run 'labledger audit verify'."
        )
    return rows[0].seq, rows[0].hash


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


def _chain(
    entries: Sequence[AuditEntry], seq: int, prev: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The event rows of ``entries`` chained after (seq, prev), and their outbox rows."""
    now = utc_now()
    rows: list[dict[str, Any]] = []
    outbox_rows: list[dict[str, Any]] = []
    for entry in entries:
        seq += 1
        row = {
            "seq": seq,
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
            "prev_hash": prev,
            "hash_version": CANONICAL_VERSION,
            "result_hash": entry.result_hash,
        }
        row["hash"] = prev = event_hash(row)
        rows.append(row)
        if entry.outbox_kind:
            outbox_rows.append(
                {
                    "created_at": now,
                    "kind": entry.outbox_kind,
                    "type_key": entry.type_key,
                    "record_id": entry.record_id,
                    "audit_seq": seq,
                    "payload": entry.outbox_payload,
                }
            )
    return rows, outbox_rows


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
