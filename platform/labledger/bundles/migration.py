"""Migrating records from another system: their history kept, and proven complete.

An ordinary bundle's records are created like any record: in their
workflow's initial state, with no value in a field only the system sets.
A migration (``config import --migrate``, the ``migrate_records``
permission) brings records as another system left them: in their state,
with the values its workflow steps recorded. Each such record says so for
ever: its creating audit event carries ``migration`` with the SHA-256 of
the source file, which the record page and every printout show (see
``labledger.records.origin``).

A migration ends with a reconciliation (EU Annex 11 §4.8): the records are
read back from the database and counted per type and state, and each one's
content hash (type, state, data) is compared with what the import wrote. Any
difference fails the whole import, so nothing is kept.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from labledger.canonical import content_hash
from labledger.db.tables import record
from labledger.errors import FieldError


def record_content_hash(type_key: str, state: str | None, data: dict[str, Any]) -> str:
    """The hash a reconciliation compares: what a record is, apart from its number."""
    return content_hash({"type": type_key, "state": state, "data": data})


@dataclass(frozen=True)
class Migrated:
    """A record the import wrote: where it is in the bundle and what was written."""

    path: str
    ref: str
    view: dict[str, Any]


@dataclass
class Reconciliation:
    """The records of a migration as read back: counts and each one's content hash."""

    #: type -> state -> number of records, as stored.
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    #: One entry per record: ref, number, type, state, content_hash.
    records: list[dict[str, Any]] = field(default_factory=list)
    #: Every difference between what was written and what is stored.
    mismatches: list[FieldError] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"  reconciliation: {len(self.records):,} migrated record(s) read back"]
        out += [
            f"      {type_key} {state}: {count:,}"
            for type_key, states in sorted(self.counts.items())
            for state, count in sorted(states.items())
        ]
        out += [f"      MISMATCH {m.field}: {m.message}" for m in self.mismatches]
        return out


def reconcile(conn: Connection, written: list[Migrated]) -> Reconciliation:
    """Read the written records back and compare them with what the import wrote."""
    ids = [item.view["id"] for item in written]
    stored = {
        row.id: row
        for row in conn.execute(
            select(record.c.id, record.c.type_key, record.c.state, record.c.data).where(
                record.c.id.in_(ids)
            )
        )
    }
    result = Reconciliation()
    expected_counts: Counter[tuple[str, str | None]] = Counter()
    stored_counts: Counter[tuple[str, str | None]] = Counter()
    for item in written:
        view = item.view
        expected_counts[(view["type"], view["state"])] += 1
        row = stored.get(view["id"])
        if row is None:
            result.mismatches.append(FieldError(item.path, "the record was not stored"))
            continue
        stored_counts[(row.type_key, row.state)] += 1
        found = record_content_hash(row.type_key, row.state, row.data)
        if found != record_content_hash(view["type"], view["state"], view["data"]):
            result.mismatches.append(
                FieldError(
                    item.path, "the stored record differs from what the import wrote (content hash)"
                )
            )
        result.records.append(
            {
                "ref": item.ref,
                "number": view["number"],
                "type": row.type_key,
                "state": row.state,
                "content_hash": found,
            }
        )
    for (type_key, state), count in sorted(stored_counts.items(), key=repr):
        result.counts.setdefault(type_key, {})[state or "-"] = count
    for (type_key, state), count in sorted(expected_counts.items(), key=repr):
        if stored_counts[(type_key, state)] != count:
            result.mismatches.append(
                FieldError(
                    "records",
                    f"{count:,} {type_key} record(s) in state '{state}' were written, "
                    f"{stored_counts[(type_key, state)]:,} are stored",
                )
            )
    return result
