"""The audit trail: complete events in the same transaction, and tamper evidence."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError

from labledger import cli
from labledger.audit.queries import record_history
from labledger.audit.trail import (
    GENESIS_HASH,
    AuditEntry,
    append,
    body_hash,
    event_hash,
    lane_of,
    written_together,
)
from labledger.audit.verify import verify
from labledger.db.tables import audit_event, outbox_event, record
from labledger.records.service import create_record, update_record
from tests.definitions import (
    acting,
    add_roles,
    append_as_an_earlier_release,
    batch_type,
    database_url,
    measurement_type,
    unchanged,
)
from tests.tampering import bypassing_triggers

ANALYST = acting("ann", "analyst")


def _events(db) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [
            dict(r)
            for r in conn.execute(select(audit_event).order_by(audit_event.c.seq)).mappings()
        ]


@pytest.mark.requirement("REQ-AUD-01")
def test_creates_and_updates_write_complete_events_and_outbox_rows(db, publish):
    add_roles(db, "analyst", "reviewer")
    publish(batch_type())
    version = publish(measurement_type())
    start = datetime.now(UTC)
    with db.write() as conn:
        batch = create_record(conn, ANALYST, "batch", {"code": "B-1"})
        created = create_record(
            conn,
            ANALYST,
            "measurement",
            {"name": "pH", "value": 2},
            reason="first run",
        )
    with db.write() as conn:
        updated = update_record(
            conn,
            acting("bob", "analyst"),
            "measurement",
            created["id"],
            {"value": 7, "comment": "too high", "batch": batch["number"]},
            expected_version=1,
            reason="transcription error",
        )
    with db.read() as conn:
        history = record_history(conn, ANALYST, "measurement", created["id"])
        outbox = [
            dict(r)
            for r in conn.execute(select(outbox_event).order_by(outbox_event.c.id)).mappings()
        ]
        assert verify(conn).ok
    assert [e["action"] for e in history] == ["record.create", "record.update"]
    made, changed = history
    assert made["actor"] == "ann" and changed["actor"] == "bob"
    assert made["reason"] == "first run" and changed["reason"] == "transcription error"
    assert made["config_version"] == changed["config_version"] == version
    assert made["record_number"] == created["number"] and made["type"] == "measurement"
    assert made["changes"]["value"] == {"old": None, "new": 2}
    assert made["changes"]["replicates"] == {"old": None, "new": 1}, "defaults are audited"
    assert made["changes"]["out_of_limits"] == {"old": None, "new": False}
    assert changed["changes"] == {
        "batch": {"old": None, "new": batch["id"]},
        "comment": {"old": None, "new": "too high"},
        "out_of_limits": {"old": False, "new": True},
        "value": {"old": 2, "new": 7},
    }
    for event in history:
        assert start - timedelta(seconds=1) <= event["occurred_at"] <= datetime.now(UTC)
        assert event["occurred_at"].utcoffset() == timedelta(0)
    record_rows = [r for r in outbox if r["record_id"] == created["id"]]
    assert [r["kind"] for r in record_rows] == ["record.created", "record.updated"]
    assert [r["audit_seq"] for r in record_rows] == [made["seq"], changed["seq"]]
    assert record_rows[1]["payload"]["version"] == 2 == updated["version"]
    assert record_rows[1]["payload"]["data"]["value"] == 7


@pytest.mark.requirement("REQ-AUD-01")
def test_a_change_and_its_audit_event_commit_together_or_not_at_all(db, publish):
    add_roles(db, "analyst")
    publish(batch_type())
    with unchanged(db), pytest.raises(RuntimeError), db.write() as conn:
        create_record(conn, ANALYST, "batch", {"code": "B-1"})
        assert counts_in(conn) == (1, 1)
        raise RuntimeError("the request failed after the write")
    with db.write() as conn:
        create_record(conn, ANALYST, "batch", {"code": "B-1"})
    with db.read() as conn:
        assert verify(conn).ok


def _config_events(count: int) -> list[AuditEntry]:
    return [
        AuditEntry(
            actor="admin",
            action="config.publish",
            details={"n": n},
            outbox_kind="config.published",
            outbox_payload={"n": n},
        )
        for n in range(count)
    ]


def test_events_written_together_are_written_at_the_end_of_the_block_in_order(db):
    with db.write() as conn:
        first = append(conn, _config_events(1))[0]
        with written_together(conn):
            seqs = append(conn, _config_events(2)) + append(conn, _config_events(3))
            assert max(_stored(conn)) == first  # chained, not yet written
        assert max(_stored(conn)) == first + 5
        seqs += append(conn, _config_events(1))  # after the block: written at once
    assert seqs == list(range(first + 1, first + 7))
    events = [e for e in _events(db) if e["seq"] >= first]
    assert [e["details"]["n"] for e in events] == [0, 0, 1, 0, 1, 2, 0]
    with db.read() as conn:
        assert verify(conn).ok
        outbox = select(outbox_event.c.audit_seq).where(outbox_event.c.audit_seq >= first)
        assert list(conn.execute(outbox.order_by(outbox_event.c.id)).scalars()) == [
            e["seq"] for e in events
        ]


def test_events_waiting_in_a_failed_block_are_never_written(db):
    with db.write() as conn:
        first = append(conn, _config_events(1))[0]
        with pytest.raises(ValueError), written_together(conn):
            append(conn, _config_events(2))
            raise ValueError("the import failed")
        assert max(_stored(conn)) == first


def test_a_savepoint_rolled_back_inside_the_block_is_refused_loudly(db):
    before = _events(db)
    refused = pytest.raises(RuntimeError, match="savepoint")
    with refused, db.write() as conn, written_together(conn):
        append(conn, _config_events(1))
        conn.begin_nested().rollback()
    assert _events(db) == before


def _stored(conn) -> list[int]:
    return list(conn.execute(select(audit_event.c.seq)).scalars())


def counts_in(conn) -> tuple[int, int]:
    """(records, record.create events) as seen inside a transaction."""
    return (
        conn.execute(select(func.count()).select_from(record)).scalar_one(),
        conn.execute(
            select(func.count())
            .select_from(audit_event)
            .where(audit_event.c.action == "record.create")
        ).scalar_one(),
    )


@pytest.mark.requirement("REQ-AUD-02")
def test_new_events_link_to_older_forms_by_the_documented_formula(db, publish):
    """After an event of hash version 2, new events are version 4, each linked to the
    event before it in its lane: hash = SHA-256(prev_hash ":" lane ":" position ":" seq
    ":" body hash), whether the database linked the event (the first of a transaction,
    on PostgreSQL) or the platform did (the next)."""
    add_roles(db, "analyst")
    publish(batch_type())
    older = append_as_an_earlier_release(db, "note.version_2", hash_version=2)
    with db.write() as conn:
        create_record(conn, ANALYST, "batch", {"code": "B-1"})
    with db.write() as conn:
        create_record(conn, ANALYST, "batch", {"code": "B-2"})
        create_record(conn, ANALYST, "batch", {"code": "B-3"})
    tips: dict[int, tuple[int, str]] = {}
    for event in _events(db):
        if event["lane"] is not None:
            position, prev = tips.get(event["lane"], (0, GENESIS_HASH))
            assert (event["lane_seq"], event["prev_hash"]) == (position + 1, prev)
            tips[event["lane"]] = (event["lane_seq"], event["hash"])
    newer = [e for e in _events(db) if e["seq"] > older["seq"]]
    assert [e["record_number"] is not None for e in newer] == [True] * 3
    # A transaction's events go to the lane of its first event's record.
    first, second, third = newer
    assert first["lane"] == lane_of(first["record_id"])
    assert third["lane"] == second["lane"] == lane_of(second["record_id"])
    for event in newer:
        place = f"{event['lane']}:{event['lane_seq']}:{event['seq']}"
        link = f"{event['prev_hash']}:{place}:{body_hash(event)}".encode()
        assert event["hash_version"] == 4
        assert event["hash"] == hashlib.sha256(link).hexdigest()
    with db.read() as conn:
        assert verify(conn).ok


@pytest.mark.requirement("REQ-AUD-03")
def test_the_database_refuses_to_change_or_remove_audit_events(db, publish):
    add_roles(db, "analyst")
    statements = [
        update(audit_event).where(audit_event.c.seq == 1).values(reason="edited"),
        delete(audit_event).where(audit_event.c.seq == 1),
    ]
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), db.write() as conn:
            conn.execute(statement)
    if db.dialect == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), db.write() as conn:
            conn.exec_driver_sql("TRUNCATE audit_event")
    with db.read() as conn:
        result = verify(conn)
    assert result.ok and result.events == len(_events(db)) >= 2


# The events of these cases are all lane 1 (they are about no record) and were
# written into a new database, so each one's position in the lane is its sequence
# number; tampering that moves an event moves both.


def _forged(row: dict[str, Any], seq: int, prev_hash: str) -> dict[str, Any]:
    """A plausible event at ``seq`` whose own hash is right."""
    forged = {
        **row,
        "seq": seq,
        "lane_seq": seq,
        "prev_hash": prev_hash,
        "actor": "mallory",
        "reason": "backdated",
    }
    forged["hash"] = event_hash(forged)
    return forged


def _move(conn, row: dict[str, Any], by: int) -> None:
    conn.execute(
        update(audit_event)
        .where(audit_event.c.seq == row["seq"])
        .values(seq=row["seq"] + by, lane_seq=row["lane_seq"] + by)
    )


def _alter(conn, events):
    conn.execute(update(audit_event).where(audit_event.c.seq == 3).values(actor="mallory"))
    return 3, "altered"


def _alter_json(conn, events):
    changed = {**events[3]["details"], "role": "superuser"}
    conn.execute(update(audit_event).where(audit_event.c.seq == 4).values(details=changed))
    return 4, "altered"


def _delete_middle(conn, events):
    conn.execute(delete(audit_event).where(audit_event.c.seq == 3))
    return 4, "lane 1 is missing its event 3"


def _delete_last(conn, events):
    conn.execute(delete(audit_event).where(audit_event.c.seq == len(events)))
    return len(events) - 1, f"lane 1 is missing its events {len(events)}..{len(events)}"


def _insert_at_end(conn, events):
    last = events[-1]
    conn.execute(insert(audit_event).values(_forged(last, last["seq"] + 1, last["hash"])))
    return last["seq"] + 1, "added outside the platform"


def _insert_in_the_middle(conn, events):
    for row in reversed(events[2:]):
        _move(conn, row, +1)
    conn.execute(insert(audit_event).values(_forged(events[1], 3, events[1]["hash"])))
    return 4, "does not link to event 3"


def _delete_and_renumber(conn, events):
    # Remove event 3, close the gap, and give the new event 3 a correct link and hash.
    conn.execute(delete(audit_event).where(audit_event.c.seq == 3))
    for row in events[3:]:
        _move(conn, row, -1)
    relinked = {**events[3], "seq": 3, "lane_seq": 3, "prev_hash": events[1]["hash"]}
    relinked["hash"] = event_hash(relinked)
    conn.execute(update(audit_event).where(audit_event.c.seq == 3).values(**relinked))
    return 4, "does not link to event 3"


TAMPERING = {
    "alter a row": _alter,
    "alter a JSON value": _alter_json,
    "delete a middle row": _delete_middle,
    "delete the last row": _delete_last,
    "insert a row at the end": _insert_at_end,
    "insert a forged row in the middle": _insert_in_the_middle,
    "delete a row and renumber": _delete_and_renumber,
}


@pytest.mark.requirement("REQ-AUD-02")
@pytest.mark.parametrize("tampering", TAMPERING, ids=list(TAMPERING))
def test_tampering_is_detected_at_the_first_bad_event(db, publish, capsys, tampering):
    add_roles(db, "analyst", "reviewer", "qa")
    publish(batch_type())
    verified = len(_events(db))
    assert cli.main(["--database", database_url(db), "audit", "verify"]) == 0
    assert f"Audit trail intact: {verified} events," in capsys.readouterr().out
    events = _events(db)  # the verification's outcome is the last event now
    assert len(events) == verified + 1 and events[-1]["action"] == "audit.verify"
    assert [(e["lane"], e["lane_seq"]) for e in events] == [(1, e["seq"]) for e in events]

    with bypassing_triggers(db, "audit_event") as conn:
        bad_seq, words = TAMPERING[tampering](conn, events)
    with db.read() as conn:
        result = verify(conn)
    assert not result.ok
    first = result.discrepancies[0]
    assert (first.kind, first.seq) in {("chain", bad_seq), ("head", bad_seq)}, result
    assert words in first.message, result

    assert cli.main(["--database", database_url(db), "audit", "verify"]) == cli.EXIT_FAILED
    message = capsys.readouterr().err
    assert "AUDIT TRAIL NOT INTACT" in message and f"  - {first.message}" in message
