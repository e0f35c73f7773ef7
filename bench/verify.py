"""How long ``audit verify`` takes, against the raw-SQL read of the same rows.

Goal: 1,000,000 events and 100,000 records in under 60 s on PostgreSQL.

The installation: ``-n`` records of the 12-field benchmark type created in
batches through the service layer (one ``record.create`` event each, with its
result hash), then record events up to ``--events`` in all, each naming a
record and carrying its field-level changes and the hash of the row as it
stands, so that every record is proved by its last event exactly as after
real updates. Setting up is not measured.

Measured, twice each, alternating:

- **verify**: ``audit.verify.verify``, what ``labledger audit verify`` runs:
  every event's hash and link, then every record, signature, configuration
  version and role hashed and compared with the event that produced it;
- **raw-SQL floor**: the same rows read through the same driver and
  connection (every column of ``audit_event``, ``record``, ``signature``,
  ``config_version``, ``role``, ``config_item``), with no hashing at all.
"""

from __future__ import annotations

from time import perf_counter

from sqlalchemy import select, text

from common import (
    add_record_events,
    bench_database,
    bench_type,
    create_bench_records,
    describe,
    parse_args,
    print_table,
    publish,
)
from labledger.audit.verify import verify
from labledger.db.engine import Database
from labledger.db.tables import record

GOAL_SECONDS = 60.0
FLOOR_TABLES = ("audit_event", "record", "signature", "config_version", "role", "config_item")


def _floor(db: Database) -> float:
    started = perf_counter()
    with db.read() as conn:
        for table in FLOOR_TABLES:
            result = conn.execution_options(yield_per=5000).execute(text(f"SELECT * FROM {table}"))
            for _ in result:
                pass
    return perf_counter() - started


def _verify(db: Database) -> tuple[float, int, bool]:
    started = perf_counter()
    with db.read() as conn:
        report = verify(conn)
    return perf_counter() - started, report.events, report.ok


def main() -> None:
    parser = parse_args(__doc__.splitlines()[0], default_n=100_000)
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="audit events in all (default 1,000,000)"
    )
    args = parser.parse_args()
    with bench_database(args.database) as db:
        publish(db, bench_type())
        started = perf_counter()
        views = create_bench_records(db, args.n)
        with db.read() as conn:  # the rows as stored, as verify will read them
            rows = [dict(r) for r in conn.execute(select(record)).mappings()]
        assert len(rows) == len(views)
        add_record_events(db, rows, max(0, args.events - args.n))
        print(f"database: {describe(db)}")
        took = perf_counter() - started
        print(f"set up {args.n:,} records and {args.events:,} events in {took:.0f} s")
        timings = []
        for _ in range(2):
            floor = _floor(db)
            seconds, events, ok = _verify(db)
            timings.append((seconds, floor))
            assert ok, "the benchmark's own installation must verify"
        print_table(
            f"audit verify: {events:,} events, {args.n:,} records",
            ["run", "verify (s)", "raw-SQL read (s)", "verify / floor"],
            [[i + 1, f"{s:.1f}", f"{f:.1f}", f"{s / f:.1f}x"] for i, (s, f) in enumerate(timings)],
        )
        best = min(s for s, _ in timings)
        verdict = "meets" if best <= GOAL_SECONDS else "MISSES"
        print(f"\nverify: {best:.1f} s ({verdict} the goal of {GOAL_SECONDS:.0f} s)")
        print(f"events verified per second: {events / best:,.0f}")


if __name__ == "__main__":
    main()
