"""Verification of the audit chain (``labledger audit verify``).

Walks every event in sequence order, recomputing each hash from the stored
fields and the previous hash. An edited row fails its own hash, a removed row
leaves a gap, a row inserted by hand breaks the link of the row after it, and
rows added or removed at the end disagree with the chain tip in ``audit_head``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from labledger.audit.trail import GENESIS_HASH, event_hash
from labledger.db.tables import audit_event, audit_head


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    first_bad_seq: int | None = None
    problem: str | None = None


def verify_chain(conn: Connection, batch_size: int = 5000) -> VerifyResult:
    """Check the whole chain; report the first sequence number that is wrong."""
    expected_seq, prev, count = 1, GENESIS_HASH, 0
    result = conn.execution_options(yield_per=batch_size).execute(
        select(audit_event).order_by(audit_event.c.seq)
    )
    for row in result.mappings():
        seq = row["seq"]
        if seq != expected_seq:
            return VerifyResult(False, count, expected_seq, f"event {expected_seq} is missing")
        if row["prev_hash"] != prev:
            return VerifyResult(False, count, seq, f"event {seq} does not link to event {seq - 1}")
        if event_hash(dict(row)) != row["hash"]:
            return VerifyResult(False, count, seq, f"event {seq} was altered")
        prev, expected_seq, count = row["hash"], seq + 1, count + 1
    head = conn.execute(select(audit_head.c.seq, audit_head.c.hash)).one()
    if head.seq > count:
        return VerifyResult(False, count, count + 1, f"events {count + 1}..{head.seq} are missing")
    if head.seq < count:
        return VerifyResult(
            False, count, head.seq + 1, f"event {head.seq + 1} was added outside the platform"
        )
    if head.hash != prev:
        return VerifyResult(False, count, count, f"event {count} does not match the chain tip")
    return VerifyResult(True, count)
