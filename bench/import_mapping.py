"""Import of an instrument result file through a mapping: 100,000 rows by default.

The file is what a plate reader or LIMS export would produce: per row the
number of the item measured (a lookup by human key), the analyte (a choice),
the value with its unit (a tenth of the rows in g/L, converted to mg/L), the
time of measurement, a pass flag and a note. Each row becomes a record of a
six-field result type that refers to one of 1,000 items.

Timed separately, on a database of its own:

- the dry run (read, convert, look up, validate every row; nothing written);
- the apply (the same checks, then every record written through the record
  service with its audit event, and the one ``import.apply`` event), in one
  transaction (an atomic mapping);
- the apply of a second file that updates every record just created (a
  mapping with ``match`` by number: an instrument filling in results), also
  in one transaction.

The raw-SQL floor of each apply is its writes, recorded with their
parameters and replayed in one transaction on a second database prepared the
same way.

Goal: the apply of 100,000 rows in under 60 s on PostgreSQL.

    .venv/bin/python bench/import_mapping.py [-n 100000] [--database URL] [--profile]
"""

from __future__ import annotations

import cProfile
import pstats
import sys
from datetime import UTC, datetime, timedelta
from time import perf_counter
from typing import Any

from sqlalchemy import select

from common import (
    StatementCounter,
    WriteRecorder,
    admin_principal,
    analyse,
    bench_database,
    bench_type,
    describe,
    parse_args,
    print_table,
    publish,
    record_input,
    replay,
)
from labledger.audit.verify import verify
from labledger.db.engine import Database
from labledger.db.tables import record
from labledger.identity.principal import SYSTEM
from labledger.integration.importer import ImportReport, apply_import, preview_import
from labledger.integration.mappings import publish_mapping
from labledger.records.service import create_record

ITEMS = 1000
GOAL_SECONDS = 60.0
ANALYTES = ("lead", "zinc", "copper", "iron")


def result_type() -> dict[str, Any]:
    return {
        "key": "bench_result",
        "label": "Bench result",
        "plural": "Bench results",
        "numbering": "RES-{YYYY}-{#######}",
        "title": "{number} {analyte}",
        "permissions": {"read": ["*"], "create": ["admin"], "edit": ["admin"]},
        "fields": [
            {"key": "item", "label": "Item", "type": "reference", "to": "bench_item"},
            {
                "key": "analyte",
                "label": "Analyte",
                "type": "choice",
                "required": True,
                "options": [{"value": a, "label": a.title()} for a in ANALYTES],
            },
            {
                "key": "value",
                "label": "Value",
                "type": "decimal",
                "precision": 3,
                "unit": "mg/L",
                "min": 0,
                "max": 100000,
            },
            {"key": "measured_at", "label": "Measured at", "type": "datetime"},
            {"key": "passed", "label": "Passed", "type": "boolean"},
            {"key": "note", "label": "Note", "type": "text"},
        ],
    }


MAPPING = {
    "key": "bench_results",
    "label": "Bench result file",
    "target": "bench_result",
    "columns": [
        {"source": "Item", "field": "item", "lookup": {"by": "number"}},
        {"source": "Analyte", "field": "analyte"},
        {
            "source": "Result",
            "field": "value",
            "unit": {"expected": "mg/L", "source": "Unit", "convert": {"g/L": 1000}},
        },
        {"source": "Measured", "field": "measured_at"},
        {"source": "Pass", "field": "passed"},
        {"source": "Note", "field": "note", "optional": True},
    ],
}


#: Fills in existing results, found by their number.
UPDATES = {
    "key": "bench_updates",
    "label": "Bench result updates",
    "target": "bench_result",
    "match": {"source": "Number", "by": "number", "create": False},
    "columns": [{"source": "Note", "field": "note"}, {"source": "Pass", "field": "passed"}],
}


def result_file(numbers: list[str], rows: int) -> bytes:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    lines = ["Item,Analyte,Result,Unit,Measured,Pass,Note"]
    for i in range(rows):
        value = (i * 7919) % 50000 / 1000 + 0.001
        unit = "mg/L"
        if i % 10 == 0:
            value, unit = value / 1000, "g/L"
        moment = (start + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append(
            f"{numbers[i % len(numbers)]},{ANALYTES[i % 4]},{value:.6f},{unit},{moment},"
            f"{'yes' if i % 9 else 'no'},run {i // 96 + 1} well {i % 96 + 1}"
        )
    return ("\n".join(lines) + "\n").encode("utf-8")


def prepare(db: Database) -> list[str]:
    publish(db, bench_type())
    publish(db, result_type())
    admin = admin_principal(db)
    with db.write() as conn:
        publish_mapping(conn, SYSTEM, MAPPING)
        publish_mapping(conn, SYSTEM, UPDATES)
        return [
            create_record(conn, admin, "bench_item", record_input(i))["number"]
            for i in range(ITEMS)
        ]


def update_file(db: Database) -> bytes:
    """A row for every result, in number order, changing its note and pass flag."""
    query = select(record.c.number).where(record.c.type_key == "bench_result")
    with db.read() as conn:
        numbers = sorted(conn.execute(query).scalars())
    lines = [f"{n},checked {i},{'no' if i % 3 else 'yes'}" for i, n in enumerate(numbers)]
    return ("\n".join(["Number,Note,Pass", *lines]) + "\n").encode("utf-8")


def timed(run: Any) -> tuple[ImportReport, float, int]:
    started = perf_counter()
    report = run()
    return report, perf_counter() - started


def main() -> None:
    parser = parse_args(__doc__.split("\n\n")[0], default_n=100000)
    parser.add_argument("--profile", action="store_true", help="profile the apply (cProfile)")
    args = parser.parse_args()
    with bench_database(args.database) as db, bench_database(args.database) as floor_db:
        numbers = prepare(db)
        prepare(floor_db)
        raw = result_file(numbers, args.n)
        admin = admin_principal(db)
        with StatementCounter(db) as counter:
            dry, dry_seconds = timed(
                lambda: preview_import(db, admin, "bench_results", raw, "r.csv")
            )
            dry_statements = counter.count
            counter.reset()
            profiler = cProfile.Profile() if args.profile else None
            if profiler:
                profiler.enable()
            with WriteRecorder(db) as recorder:
                report, seconds = timed(
                    lambda: apply_import(db, admin, "bench_results", raw, "results.csv")
                )
            if profiler:
                profiler.disable()
            statements = counter.count
        floor = replay(floor_db, recorder.transactions)
        for database in (db, floor_db):  # as autovacuum would after the load
            analyse(database, "record", "audit_event", "outbox_event")
        assert not dry.errors and report.applied, report.lines(5)
        assert report.counts["create"] == args.n
        updates = update_file(db)
        with StatementCounter(db) as counter, WriteRecorder(db) as update_recorder:
            updated, update_seconds = timed(
                lambda: apply_import(db, admin, "bench_updates", updates, "updates.csv")
            )
            update_statements = counter.count
        update_floor = replay(floor_db, update_recorder.transactions)
        assert updated.applied and updated.counts["update"] == args.n, updated.lines(5)
        print(
            f"Import of {args.n:,} rows ({len(raw) / 1e6:.1f} MB CSV) through a mapping "
            f"({describe(db)})"
        )
        print_table(
            "Figures",
            ["step", "seconds", "rows/s", "SQL/row"],
            [
                [
                    "dry run",
                    f"{dry_seconds:.1f}",
                    f"{args.n / dry_seconds:,.0f}",
                    f"{dry_statements / args.n:.1f}",
                ],
                [
                    "apply",
                    f"{seconds:.1f}",
                    f"{args.n / seconds:,.0f}",
                    f"{statements / args.n:.1f}",
                ],
                [
                    "raw-SQL floor: the apply's writes replayed",
                    f"{floor:.1f}",
                    f"{args.n / floor:,.0f}",
                    f"{recorder.write_count / args.n:.1f}",
                ],
                [
                    "apply of updates to every record",
                    f"{update_seconds:.1f}",
                    f"{args.n / update_seconds:,.0f}",
                    f"{update_statements / args.n:.1f}",
                ],
                [
                    "raw-SQL floor: the update's writes replayed",
                    f"{update_floor:.1f}",
                    f"{args.n / update_floor:,.0f}",
                    f"{update_recorder.write_count / args.n:.1f}",
                ],
            ],
        )
        print(f"\napply / raw-SQL floor: {seconds / floor:.1f}x")
        print(f"update apply / raw-SQL floor: {update_seconds / update_floor:.1f}x")
        verdict = "meets" if seconds <= GOAL_SECONDS else "MISSES"
        print(f"\napply: {seconds:.1f} s ({verdict} the goal of {GOAL_SECONDS:.0f} s)")
        with db.read() as conn:
            check = verify(conn)
        print(
            f"audit chain after the import: {'intact' if check.ok else 'BROKEN'}, "
            f"{check.events:,} events"
        )
        if profiler:
            print("\nProfile of the apply (cumulative time, top 30):")
            pstats.Stats(profiler, stream=sys.stdout).strip_dirs().sort_stats(
                "cumulative"
            ).print_stats(30)


if __name__ == "__main__":
    main()
