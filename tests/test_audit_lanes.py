"""The audit chain in lanes: writers of different records never wait for each other,
and a database written before lanes goes on verifying and feeding where it was."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.exc import OperationalError

from labledger.audit.trail import (
    GENESIS_HASH,
    LANES,
    AuditEntry,
    append,
    body_hash,
    chain_link,
    lane_of,
)
from labledger.audit.verify import verify
from labledger.db.engine import Database, open_database
from labledger.db.migrate import upgrade
from labledger.db.tables import audit_event, audit_head, outbox_event
from labledger.identity.principal import SYSTEM
from labledger.integration.feed import read_events
from tests.conftest import BACKENDS, _postgres_database


def _note(record_id: int | None, actor: str = "ann") -> AuditEntry:
    return AuditEntry(
        actor=actor, action="note.added", record_id=record_id, outbox_kind="note.added"
    )


def test_writers_of_different_lanes_do_not_wait_for_each_other(db):
    """A transaction holds only its own lane until it commits: another lane's writer goes
    on at once, a writer of the same lane waits for it (here: gives up after 200 ms)."""
    if db.dialect != "postgresql":
        pytest.skip("SQLite writes one transaction at a time")
    assert lane_of(1) != lane_of(2) and lane_of(1) == lane_of(1 + LANES)
    with db.write() as holder:
        append(holder, [_note(1)])
        with db.write() as other:
            other.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
            append(other, [_note(2)])
        with pytest.raises(OperationalError, match="lock"), db.write() as same_lane:
            same_lane.exec_driver_sql("SET LOCAL lock_timeout = '200ms'")
            append(same_lane, [_note(1 + LANES)])
    with db.read() as conn:
        lanes = dict(
            (row.record_id, row.lane)
            for row in conn.execute(select(audit_event.c.record_id, audit_event.c.lane))
            if row.record_id is not None
        )
        assert lanes == {1: lane_of(1), 2: lane_of(2)}
        assert verify(conn).ok


@pytest.fixture(params=BACKENDS)
def before_lanes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database at revision 0007, the single chain, with three events and two outbox
    rows written as that release wrote them."""

    def build(db: Database, _schema: str = "") -> None:
        upgrade(db.engine, "0007")
        with db.write() as conn:
            prev, moment = GENESIS_HASH, datetime(2026, 11, 1, tzinfo=UTC)
            for seq in (1, 2, 3):
                event = {
                    "seq": seq,
                    "occurred_at": moment,
                    "actor": "system",
                    "action": "note.added",
                    "type_key": None,
                    "record_id": seq * 10,
                    "record_number": None,
                    "changes": None,
                    "reason": None,
                    "config_version": None,
                    "details": {"n": seq},
                    "prev_hash": prev,
                    "hash_version": 3,
                    "result_hash": None,
                }
                event["hash"] = prev = chain_link(prev, seq, body_hash(event))
                conn.execute(insert(audit_event).values(event))
                if seq > 1:
                    outbox = {"created_at": moment, "kind": "note.added", "audit_seq": seq}
                    conn.execute(insert(outbox_event).values(**outbox, payload={"n": seq}))
            conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=3, hash=prev))

    if request.param == "sqlite":
        database = open_database(f"sqlite:///{tmp_path / 'before.db'}")
        build(database)
        yield database
        database.dispose()
    else:
        yield from _postgres_database(build)


def test_a_database_written_before_lanes_goes_on_where_it_was(before_lanes):
    db = before_lanes
    upgrade(db.engine)
    with db.write() as conn:
        new = append(conn, [_note(5)])  # lane of record 5
    with db.write() as conn:
        also = append(conn, [_note(None)])  # lane 1: where the single chain ended
    with db.read() as conn:
        events = {row.seq: row for row in conn.execute(select(audit_event))}
        report = verify(conn)
    assert report.ok, report.discrepancies
    assert report.events == 5
    assert [events[s].lane for s in (1, 2, 3)] == [None] * 3
    assert (events[new[0]].lane, events[new[0]].lane_seq) == (lane_of(5), 1)
    assert (events[also[0]].lane, events[also[0]].lane_seq) == (1, 4)
    assert events[also[0]].prev_hash == events[3].hash
    assert min(new + also) > 3
    # The feed goes on from a cursor given before: the old events kept their ids as positions.
    page = read_events(db, SYSTEM, after="1")  # outbox id 1 is event 2's
    assert [e["audit_seq"] for e in page["items"]] == [3, *new, *also]
    assert [e["audit_seq"] for e in read_events(db, SYSTEM)["items"]] == [2, 3, *new, *also]
