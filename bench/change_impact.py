"""A change request's impact on a million records: ``changes.impact.change_impact`` timed.

Publishes a type with a five-state workflow and loads N records of it (default
1,000,000) with bulk raw SQL (``common.insert_records``: COPY on PostgreSQL,
executemany on SQLite, rows written straight into ``record``, bypassing the
platform, which is fine for a fixture): half in the final states, the rest
open, with pH values spread over 0 to 14 and a reviewer on half of those in
review. It then times ``change_impact`` for one proposed change that adds a
required field, lowers the pH maximum from 14 to 9.0 and makes the review
state require a reviewer (and lets less be edited in it), against the floor:
the same counts and the same first page of failing records in hand-written
plain SQL, in the same run. Goal: under 5 s on PostgreSQL at 1,000,000 records.

    .venv/bin/python bench/change_impact.py [--records 1000000] [--database URL] [--runs 5]
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from time import perf_counter
from typing import Any

from common import (
    analyse,
    bench_database,
    describe,
    insert_records,
    median,
    parse_args,
    print_table,
    publish,
    record_stamp,
)
from labledger.changes.impact import LISTED_RECORDS, TypeImpact, change_impact
from labledger.db.engine import Database
from labledger.identity.principal import SYSTEM
from labledger.workflows.definitions import publish_workflow

GOAL_SECONDS = 5.0
TYPE_KEY = "impact_sample"
START = datetime(2024, 1, 1, tzinfo=UTC)
#: Each record's state, drawn with these weights: half final, half open.
STATES = {"registered": 20, "testing": 20, "review": 10, "approved": 40, "cancelled": 10}
OPEN_STATES = ("registered", "testing", "review")
NEW_MAXIMUM = 9.0

FLOW: dict[str, Any] = {
    "key": "impact_flow",
    "label": "Impact flow",
    "states": [
        {"key": "registered", "label": "Registered", "initial": True},
        {"key": "testing", "label": "Testing"},
        {"key": "review", "label": "In review", "editable": ["reviewer", "notes"]},
        {"key": "approved", "label": "Approved", "final": True, "editable": "none"},
        {"key": "cancelled", "label": "Cancelled", "final": True, "editable": "none"},
    ],
    "transitions": [
        {"key": "start", "label": "Start", "from": ["registered"], "to": "testing"},
        {"key": "submit", "label": "Submit", "from": ["testing"], "to": "review"},
        {"key": "approve", "label": "Approve", "from": ["review"], "to": "approved"},
        {"key": "cancel", "label": "Cancel", "from": ["registered", "testing"], "to": "cancelled"},
    ],
}

SAMPLE: dict[str, Any] = {
    "key": TYPE_KEY,
    "label": "Sample",
    "plural": "Samples",
    "numbering": "IMP-{#######}",
    "title": "{name}",
    "workflow": "impact_flow",
    "permissions": {"read": ["*"], "create": ["admin"], "edit": ["admin"]},
    "fields": [
        {"key": "name", "label": "Name", "type": "text", "required": True},
        {"key": "ph", "label": "pH", "type": "decimal", "precision": 1, "min": 0, "max": 14},
        {
            "key": "method",
            "label": "Method",
            "type": "choice",
            "options": [{"value": "hplc", "label": "HPLC"}, {"value": "gc", "label": "GC"}],
        },
        {"key": "reviewer", "label": "Reviewer", "type": "text"},
        {"key": "notes", "label": "Notes", "type": "long_text"},
    ],
}


def proposed_change() -> dict[tuple[str, str], dict[str, Any]]:
    """A new required field, a lower pH maximum, review requiring a reviewer."""
    sample = copy.deepcopy(SAMPLE)
    sample["fields"][1]["max"] = NEW_MAXIMUM
    sample["fields"].append({"key": "site", "label": "Site", "type": "text", "required": True})
    flow = copy.deepcopy(FLOW)
    flow["states"][2].update(required=["reviewer"], editable=["reviewer"])
    return {("object_type", TYPE_KEY): sample, ("workflow", "impact_flow"): flow}


def rows(n: int, postgres: bool) -> Iterator[tuple[Any, ...]]:
    """Record rows as the platform stores them, one created a minute."""
    rng = random.Random(7)
    states, weights = list(STATES), list(STATES.values())
    for i in range(n):
        state = rng.choices(states, weights)[0]
        data: dict[str, Any] = {
            "name": f"Sample {i}",
            "ph": round(rng.uniform(0, 14), 1),
            "method": rng.choice(("hplc", "gc")),
        }
        if state != "registered" and rng.random() < 0.5:
            data["reviewer"] = "rob"
        stamp = record_stamp(START + timedelta(minutes=i), postgres)
        number, doc = f"IMP-{i + 1:07d}", json.dumps(data)
        yield (TYPE_KEY, 1, number, data["name"], state, doc, 1, stamp, "admin", stamp, "admin")


def prepare(db: Database, n: int) -> float:
    """The workflow, the type and N records; returns the load rate (rows per second)."""
    with db.write() as conn:
        publish_workflow(conn, SYSTEM, FLOW)
    publish(db, SAMPLE)
    started = perf_counter()
    insert_records(db, rows(n, db.dialect == "postgresql"))
    rate = n / (perf_counter() - started)
    analyse(db, "record", vacuum=True)
    return rate


def platform(db: Database) -> TypeImpact:
    with db.read() as conn:
        (impact,) = change_impact(conn, proposed_change())
    return impact


class Floor:
    """The same counts and first page of failing records, in hand-written plain SQL."""

    def __init__(self, db: Database) -> None:
        self.db = db
        if db.dialect == "postgresql":
            value = "(data ->> '{}')".format
            number = "((data ->> 'ph')::numeric)"
        else:
            value = "json_extract(data, '$.{}')".format
            number = "json_extract(data, '$.ph')"
        site, reviewer = value("site"), value("reviewer")
        self.problems = (
            f"({site} IS NULL OR {site} = '')",
            f"({number} > {NEW_MAXIMUM})",
            f"(state = 'review' AND ({reviewer} IS NULL OR {reviewer} = ''))",
        )
        failing = " OR ".join(self.problems)
        sums = ", ".join(f"sum(CASE WHEN {p} THEN 1 ELSE 0 END)" for p in [*self.problems, failing])
        where = f"type_key = '{TYPE_KEY}' AND state IN {OPEN_STATES}"
        self.statements = (
            f"SELECT state, count(*) FROM record WHERE type_key = '{TYPE_KEY}' GROUP BY state",
            f"SELECT {sums} FROM record WHERE {where}",
            f"SELECT number, state, data FROM record WHERE {where} AND ({failing}) "
            f"ORDER BY id LIMIT {LISTED_RECORDS}",
        )

    def run(self) -> list[list[Any]]:
        with self.db.read() as conn:
            return [conn.exec_driver_sql(sql).fetchall() for sql in self.statements]


def timed(run: Any) -> tuple[float, Any]:
    started = perf_counter()
    result = run()
    return perf_counter() - started, result


def main() -> None:
    parser = parse_args(__doc__.split("\n\n")[0], default_n=1_000_000)
    parser.add_argument("--records", dest="n", type=int, help="the same as -n")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each (default 5)")
    args = parser.parse_args()
    with bench_database(args.database) as db:
        print(f"Change impact benchmark on {describe(db)}: {args.n:,} records")
        rate = prepare(db, args.n)
        print(f"bulk load of {args.n:,} records: {rate:,.0f} rows/s")
        floor = Floor(db)
        platform_times, floor_times = [], []
        for _ in range(args.runs):  # alternating, so a busy machine slows both alike
            seconds, impact = timed(lambda: platform(db))
            platform_times.append(seconds)
            seconds, plain = timed(floor.run)
            floor_times.append(seconds)
        counts, sums, page = plain
        assert impact.records == sum(count for _state, count in counts) == args.n
        assert impact.failing == sums[0][-1] and len(impact.listed) == len(page)
        print_table(
            f"{args.runs} runs each (s)",
            ["", "median", "fastest", "slowest"],
            [
                [name, f"{median(times):.2f}", f"{min(times):.2f}", f"{max(times):.2f}"]
                for name, times in (("change_impact", platform_times), ("plain SQL", floor_times))
            ],
        )
        print(f"\nratio (medians): {median(platform_times) / median(floor_times):.2f}x")
        report(impact)
        verdict = "meets" if median(platform_times) <= GOAL_SECONDS else "MISSES"
        print(f"\nchange_impact: {verdict} the goal of {GOAL_SECONDS:.0f} s")


def report(impact: TypeImpact) -> None:
    """What the change means, as the figures the benchmark computed."""
    print_table(
        f"{impact.label}: {impact.records:,} records",
        ["state", "records", "final", "removed"],
        [[s.label, f"{s.records:,}", s.final, s.removed] for s in impact.states],
    )
    print_table(
        "States whose rules change",
        ["state", "records", "changes"],
        [[c.label, f"{c.records:,}", "; ".join(c.changes)] for c in impact.changed_states],
    )
    print_table(
        f"New rules open records break ({impact.failing:,} records, {len(impact.listed)} listed)",
        ["rule", "records"],
        [[p.summary, f"{p.records:,}"] for p in impact.problems],
    )
    first = impact.listed[0]
    print(f"\nfirst listed: {first.number} ({first.state}): {'; '.join(first.problems)}")


if __name__ == "__main__":
    main()
