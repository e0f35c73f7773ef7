"""Record creation: the service layer against the raw-SQL floor, in one run.

Creates N records of a 12-field type in-process through
``records.service.create_record``, one transaction per record, and the same
writes done by hand with plain SQL through the same engine: the record row,
the audit head read under lock, the SHA-256 of the event, the audit event,
the outbox row and the head update, one commit per record. The two paths run
in alternating rounds so that drift (table growth, a busy machine) affects
both alike. Goal: platform time at most 1.5x the floor on PostgreSQL and 3x
on SQLite.

    .venv/bin/python bench/create.py [-n 2000] [--database URL] [--profile]
"""

from __future__ import annotations

import cProfile
import hashlib
import json
import pstats
import sys
from datetime import UTC, datetime
from time import perf_counter
from typing import Any

from common import (
    TYPE_KEY,
    StatementCounter,
    admin_principal,
    bench_database,
    bench_type,
    describe,
    parse_args,
    print_table,
    publish,
    record_input,
    stored_form,
)
from labledger.audit.trail import lane_of
from labledger.audit.verify import verify
from labledger.db.engine import Database
from labledger.identity.principal import Principal
from labledger.records.service import create_record

GOALS = {"postgresql": 1.5, "sqlite": 3.0}
ROUNDS = 10
WARM_UP = 20


class PlatformPath:
    """Creates records the way the API does: ``create_record`` inside ``db.write()``."""

    def __init__(self, db: Database, actor: Principal) -> None:
        self.db = db
        self.actor = actor

    def create(self, i: int) -> None:
        with self.db.write() as conn:
            create_record(conn, self.actor, TYPE_KEY, record_input(i))


class RawPath:
    """The same writes as hand-written SQL: the floor no platform code can go below."""

    def __init__(self, db: Database, type_version: int) -> None:
        self.db = db
        self.type_version = type_version
        self.postgres = db.dialect == "postgresql"
        mark, doc = ("%s", "%s::jsonb") if self.postgres else ("?", "?")
        self.insert_record = (
            "INSERT INTO record (type_key, type_version, number, title, state, data, version, "
            f"created_at, created_by, updated_at, updated_by) VALUES ({mark}, {mark}, {mark}, "
            f"{mark}, NULL, {doc}, 1, {mark}, {mark}, {mark}, {mark}) RETURNING id"
        )
        lock = " FOR UPDATE" if self.postgres else ""
        self.read_head = f"SELECT seq, hash FROM audit_head WHERE id = {mark}{lock}"
        self.next_seq = (
            "SELECT nextval('audit_event_seq')"
            if self.postgres
            else "SELECT coalesce(max(seq), 0) + 1 FROM audit_event"
        )
        self.insert_event = (
            "INSERT INTO audit_event (seq, occurred_at, actor, action, type_key, record_id, "
            "record_number, changes, reason, config_version, details, prev_hash, hash, lane, "
            f"lane_seq) VALUES ({mark}, {mark}, {mark}, {mark}, {mark}, {mark}, {mark}, {doc}, "
            f"NULL, {mark}, NULL, {mark}, {mark}, {mark}, {mark})"
        )
        self.insert_outbox = (
            "INSERT INTO outbox_event (created_at, kind, type_key, record_id, audit_seq, payload, "
            f"lane, lane_seq) VALUES ({mark}, 'record.created', {mark}, {mark}, {mark}, {doc}, "
            f"{mark}, {mark})"
        )
        self.update_head = f"UPDATE audit_head SET seq = {mark}, hash = {mark} WHERE id = {mark}"

    def create(self, i: int) -> None:
        data = stored_form(record_input(i))
        number, version, actor, action = f"RAW-{i:07d}", self.type_version, "admin", "record.create"
        title = f"{number} {data['name']}"
        now = datetime.now(UTC)
        # SQLite keeps naive UTC text, as the platform's UtcDateTime column does.
        at: Any = now if self.postgres else now.replace(tzinfo=None).isoformat(" ")
        with self.db.write() as conn:
            record_id = conn.exec_driver_sql(
                self.insert_record,
                (TYPE_KEY, version, number, title, json.dumps(data), at, actor, at, actor),
            ).scalar_one()
            lane = lane_of(record_id)
            position, prev = conn.exec_driver_sql(self.read_head, (lane,)).one()
            position += 1
            seq = conn.exec_driver_sql(self.next_seq).scalar_one()
            changes = {key: {"old": None, "new": value} for key, value in data.items()}
            event = {
                "seq": seq,
                "occurred_at": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "actor": actor,
                "action": action,
                "type_key": TYPE_KEY,
                "record_id": record_id,
                "record_number": number,
                "changes": changes,
                "reason": None,
                "config_version": version,
                "details": None,
                "prev_hash": prev,
            }
            canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            digest = hashlib.sha256(canonical.encode()).hexdigest()
            doc = json.dumps(changes)
            event_row = (seq, at, actor, action, TYPE_KEY, record_id, number, doc, version)
            conn.exec_driver_sql(self.insert_event, (*event_row, prev, digest, lane, position))
            payload = {"id": record_id, "number": number, "state": None, "version": 1, "data": data}
            conn.exec_driver_sql(
                self.insert_outbox,
                (at, TYPE_KEY, record_id, seq, json.dumps(payload), lane, position),
            )
            conn.exec_driver_sql(self.update_head, (position, digest, lane))


class Tally:
    """Wall time, statements and time inside the database driver, per path."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.sql_seconds = 0.0
        self.statements = 0
        self.records = 0

    def run(self, path: PlatformPath | RawPath, counter: StatementCounter, ids: range) -> None:
        counter.reset()
        started = perf_counter()
        for i in ids:
            path.create(i)
        self.seconds += perf_counter() - started
        self.sql_seconds += counter.seconds
        self.statements += counter.count
        self.records += len(ids)

    def row(self, name: str) -> list[object]:
        per = self.seconds / self.records
        return [
            name,
            f"{self.records / self.seconds:,.0f}",
            f"{per * 1000:.2f}",
            f"{self.statements / self.records:.1f}",
            f"{self.sql_seconds / self.records * 1000:.2f}",
            f"{(self.seconds - self.sql_seconds) / self.records * 1000:.2f}",
        ]


def profile(platform: PlatformPath, ids: range) -> None:
    """Where the platform path spends its time, by function (cProfile)."""
    profiler = cProfile.Profile()
    profiler.enable()
    for i in ids:
        platform.create(i)
    profiler.disable()
    print(f"\nProfile of {len(ids)} platform creates (cumulative time, top 30):")
    stats = pstats.Stats(profiler, stream=sys.stdout).strip_dirs()
    stats.sort_stats("cumulative").print_stats(30)


def main() -> None:
    parser = parse_args(__doc__.split("\n\n")[0], default_n=2000)
    parser.add_argument(
        "--profile", action="store_true", help="afterwards, profile 500 more platform creates"
    )
    args = parser.parse_args()
    n = args.n
    with bench_database(args.database) as db:
        version = publish(db, bench_type())
        platform = PlatformPath(db, admin_principal(db))
        raw = RawPath(db, version)
        tallies = {"platform": Tally(), "raw": Tally()}
        with StatementCounter(db) as counter:
            for i in range(n, n + WARM_UP):
                platform.create(i)
                raw.create(i)
            size = max(1, n // ROUNDS)
            for start in range(0, n, size):
                ids = range(start, min(n, start + size))
                order = ("platform", "raw") if start // size % 2 == 0 else ("raw", "platform")
                for name in order:
                    tallies[name].run(platform if name == "platform" else raw, counter, ids)
        ratio = tallies["platform"].seconds / tallies["raw"].seconds
        print(f"Creating {n} records of a 12-field type, one transaction each ({describe(db)})")
        print_table(
            f"Figures (after a warm-up of {WARM_UP} records per path)",
            ["path", "records/s", "ms/record", "SQL/record", "ms in SQL", "ms other"],
            [tallies["platform"].row("platform"), tallies["raw"].row("raw SQL floor")],
        )
        goal = GOALS[db.dialect]
        verdict = "meets" if ratio <= goal else "MISSES"
        print(f"\nratio platform/raw: {ratio:.2f}x ({verdict} the goal of {goal}x on {db.dialect})")
        print("'ms in SQL' is time inside cursor.execute; 'ms other' is Python and COMMIT.")
        with db.read() as conn:
            check = verify(conn)
        state = "intact" if check.ok else check.summary()
        print(
            f"audit chain after the run (both paths appended to it): {state}, {check.count} events"
        )
        if args.profile:
            profile(platform, range(n + WARM_UP, n + WARM_UP + 500))


if __name__ == "__main__":
    main()
