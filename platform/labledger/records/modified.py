"""Values changed after their first entry: the "modified" marker of EU Annex 11 §8.2.

A printout or copy of a record must show which values were changed after
they were first entered, with a pointer to their history. The audit trail
already says so: a field is *modified* when an event changed it while it
held a value (an empty value filled in is a first entry, not a change).
Read here, below printing and the pages, so that every printout, the record
page and the dossier derive it one way.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from labledger.db.tables import audit_event

#: The change key that is the record's workflow state, not a field.
_STATE = "state"


def _empty(value: object) -> bool:
    return value is None or value == "" or value == []


def modified_fields(conn: Connection, record_ids: Iterable[int]) -> dict[int, dict[str, list[int]]]:
    """Per record among ``record_ids``, each modified field with the audit events (their
    sequence numbers, oldest first) that changed its value after its first entry."""
    wanted = set(record_ids)
    if not wanted:
        return {}
    rows = conn.execute(
        select(audit_event.c.record_id, audit_event.c.seq, audit_event.c.changes)
        .where(audit_event.c.record_id.in_(wanted), audit_event.c.changes.is_not(None))
        .order_by(audit_event.c.seq)
    )
    found: dict[int, dict[str, list[int]]] = {}
    for row in rows:
        if not isinstance(row.changes, dict):
            continue
        for key, change in row.changes.items():
            if key == _STATE or not isinstance(change, dict) or _empty(change.get("old")):
                continue
            found.setdefault(row.record_id, {}).setdefault(key, []).append(row.seq)
    return found


def events_text(seqs: list[int]) -> str:
    """``audit event 12`` or ``audit events 12, 15``: where a value's history is."""
    noun = "audit event" if len(seqs) == 1 else "audit events"
    return f"{noun} {', '.join(str(s) for s in seqs)}"


def modified_notice(number: str, fields: list[tuple[str, list[int]]]) -> str:
    """What every printout says of a record with modified values: each field by its
    label, with the audit events that hold its history."""
    listed = "; ".join(f"{label} ({events_text(seqs)})" for label, seqs in fields)
    return (
        f"{number}: values marked modified were changed after their first entry; "
        f"their history is in the record's audit trail: {listed}."
    )
