"""List pages on a big table: latency, SQL statements per page, and index use.

Loads records of the 12-field benchmark type with bulk raw SQL (COPY on
PostgreSQL, executemany on SQLite): first 1,000, then the type is published
(which builds its expression indexes) and measured, then the rest up to N,
and it is measured again. Each measurement asks for the first page (50 rows)
of lists filtered on an indexed field and sorted by creation time, newest
first, through ``records.query.list_records`` exactly as the API handler
calls it, with varied filter values; it counts the SQL statements of one
page and times the same SELECT written by hand (the floor). Goal: p95 at
most 50 ms on both databases and the same statement count at 1,000 and at N.

    .venv/bin/python bench/list.py [-n 1000000] [--database URL] [--requests 200]
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from time import perf_counter
from typing import Any

from common import (
    STATUSES,
    TYPE_KEY,
    StatementCounter,
    admin_principal,
    analyse,
    bench_database,
    bench_type,
    describe,
    insert_records,
    lot_of,
    median,
    parse_args,
    percentile,
    print_table,
    publish,
    record_input,
    record_stamp,
    stored_form,
)
from labledger.db.engine import Database
from labledger.identity.principal import Principal
from labledger.metadata.types import readable_model
from labledger.records.query import ListQuery, list_records

SMALL = 1000
LOTS = 10000
PAGE = 50
GOAL_P95_MS = 50.0
START = datetime(2024, 1, 1, tzinfo=UTC)


def load(db: Database, first: int, last: int) -> float:
    """Insert records ``first``..``last - 1`` with raw bulk SQL; returns rows per second."""
    started = perf_counter()
    insert_records(db, _rows(first, last, db.dialect == "postgresql"))
    return (last - first) / (perf_counter() - started)


def _rows(first: int, last: int, postgres: bool) -> Iterator[tuple[Any, ...]]:
    """Record rows as the platform writes them: one a minute, newest last."""
    for i in range(first, last):
        moment = START + timedelta(minutes=i)
        data = stored_form(record_input(i, LOTS, moment))
        number = f"BEN-{moment.year}-{i + 1:07d}"
        stamp = record_stamp(moment, postgres)
        title, doc = f"{number} {data['name']}", json.dumps(data)
        yield (TYPE_KEY, 1, number, title, None, doc, 1, stamp, "admin", stamp, "admin")


@dataclass(frozen=True)
class Scenario:
    name: str
    #: The list request's filter parameter, e.g. ``received_on__gte``.
    filter_name: str
    #: The same filter in the hand-written SQL: operator and field.
    operator: str
    field: str
    #: Filter values to ask for, given a random generator and the table size.
    values: Callable[[random.Random, int], str]


def _recent_date(rng: random.Random, size: int) -> str:
    newest = START + timedelta(minutes=size - 1)
    return (newest - timedelta(days=rng.randint(1, 30))).date().isoformat()


SCENARIOS = (
    Scenario(
        "lot = (10,000 values)", "lot", "=", "lot", lambda r, _n: lot_of(r.randrange(LOTS), LOTS)
    ),
    Scenario("status = (5 values)", "status", "=", "status", lambda r, _n: r.choice(STATUSES)),
    Scenario(
        "received_on >= (last 30 days)", "received_on__gte", ">=", "received_on", _recent_date
    ),
)


class Lister:
    """One list request the way the API handler makes it, and its hand-written floor."""

    def __init__(self, db: Database, actor: Principal) -> None:
        self.db = db
        self.actor = actor

    def page(self, scenario: Scenario, value: str) -> list[dict[str, Any]]:
        query = ListQuery(filters={scenario.filter_name: value}, sort="-created_at", limit=PAGE)
        with self.db.read() as conn:
            model = readable_model(conn, self.actor, TYPE_KEY)
            return list_records(conn, model, query)["items"]

    def floor_sql(self, scenario: Scenario) -> str:
        if self.db.dialect == "postgresql":
            value, mark = f"(data ->> '{scenario.field}')", "%s"
        else:
            value, mark = f"json_extract(data, '$.{scenario.field}')", "?"
        return (
            f"SELECT * FROM record WHERE type_key = '{TYPE_KEY}' AND {value} {scenario.operator} "
            f"{mark} ORDER BY created_at DESC, id DESC LIMIT {PAGE + 1}"
        )

    def floor(self, scenario: Scenario, value: str) -> list[Any]:
        with self.db.engine.connect() as conn:
            return conn.exec_driver_sql(self.floor_sql(scenario), (value,)).fetchall()


def measure(lister: Lister, size: int, requests: int) -> dict[str, dict[str, Any]]:
    """Latency of each scenario over ``requests`` varied values, and statements per page."""
    results = {}
    for scenario in SCENARIOS:
        rng = random.Random(size)
        values = [scenario.values(rng, size) for _ in range(requests)]
        for value in values[:10]:  # warm the caches and the compiled model
            lister.page(scenario, value)
            lister.floor(scenario, value)
        platform, floor = [], []
        for value in values:
            started = perf_counter()
            lister.page(scenario, value)
            platform.append((perf_counter() - started) * 1000)
            started = perf_counter()
            lister.floor(scenario, value)
            floor.append((perf_counter() - started) * 1000)
        with StatementCounter(lister.db) as counter:
            rows = lister.page(scenario, values[0])
        results[scenario.name] = {
            "p50": median(platform),
            "p95": percentile(platform, 0.95),
            "floor_p50": median(floor),
            "floor_p95": percentile(floor, 0.95),
            "statements": counter.count,
            "rows": len(rows),
            "select": counter.statements[-1],
        }
    return results


def explain(db: Database, statement: str, parameters: Any) -> list[str]:
    """The plan of the very SELECT the platform ran."""
    with db.read() as conn:
        if db.dialect == "postgresql":
            result = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters)
            return [row[0] for row in result]
        result = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        return [row[-1] for row in result]


def main() -> None:
    parser = parse_args(__doc__.split("\n\n")[0], default_n=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per scenario")
    args = parser.parse_args()
    n = max(args.n, SMALL)
    with bench_database(args.database) as db:
        print(f"List benchmark on {describe(db)}: {SMALL:,} then {n:,} records")
        lister = Lister(db, admin_principal(db))
        load(db, 0, SMALL)
        publish(db, bench_type())
        analyse(db, "record")
        small = measure(lister, SMALL, args.requests)
        rate = load(db, SMALL, n)
        print(f"bulk load of {n - SMALL:,} more records: {rate:,.0f} rows/s (indexes in place)")
        analyse(db, "record")
        big = measure(lister, n, args.requests)
        rows = []
        for scenario in SCENARIOS:
            at_small, at_big = small[scenario.name], big[scenario.name]
            equal = "yes" if at_small["statements"] == at_big["statements"] else "NO"
            rows.append(
                [
                    scenario.name,
                    f"{at_small['p50']:.1f} / {at_small['p95']:.1f}",
                    f"{at_big['p50']:.1f} / {at_big['p95']:.1f}",
                    f"{at_big['floor_p50']:.1f} / {at_big['floor_p95']:.1f}",
                    f"{at_big['p95'] / at_big['floor_p95']:.1f}x",
                    f"{at_small['statements']} / {at_big['statements']} ({equal})",
                    at_big["rows"],
                ]
            )
        print_table(
            f"First page ({PAGE} rows), newest first; {args.requests} requests per scenario "
            "(ms, p50 / p95)",
            [
                "filter",
                f"at {SMALL:,}",
                f"at {n:,}",
                "raw SQL floor",
                "p95 ratio",
                "SQL statements",
                "rows",
            ],
            rows,
        )
        worst = max(big[s.name]["p95"] for s in SCENARIOS)
        verdict = "meets" if worst <= GOAL_P95_MS else "MISSES"
        print(f"\nworst p95 at {n:,}: {worst:.1f} ms ({verdict} the goal of {GOAL_P95_MS:.0f} ms)")
        print("Statements per page: those of readable_model (the type lookup) and the page SELECT.")
        statement = big[SCENARIOS[0].name]["select"][0]
        print(f"\nThe page SELECT ({SCENARIOS[0].name}):\n  {' '.join(statement.split())}")
        for scenario in SCENARIOS:
            statement, parameters = big[scenario.name]["select"]
            print(f"\nIts plan for {scenario.name} at {n:,} records:")
            for line in explain(db, statement, parameters):
                print(f"  {line}")


if __name__ == "__main__":
    main()
