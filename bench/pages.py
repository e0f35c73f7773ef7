"""Server time of the browser pages on a big table: a record page, a list page, a grid save.

Loads N records (default 100,000) of the 12-field benchmark type with bulk
raw SQL, as ``list.py`` does, gives the type a workflow with a signed step
and a child type whose records reference it (20 children under one parent,
created through the service), then drives the real application in-process
with Litestar's TestClient, signed in as a user of the admin role:

- record page: ``GET /records/bench_item/{id}`` of random records (fields
  by section, available transitions and why not, referencing records,
  signatures, audit history);
- list page: ``GET /records/bench_item`` with 50 rows, unfiltered or
  filtered on an indexed choice field, newest first;
- grid save: ``POST /records/bench_result/grid/{id}`` of one row of the
  child grid (parse, validate, update, audit, answer fragment), cycling
  through the rows and keeping each row's version as a browser would.

- my work: ``GET /``, the start page with the first page of each of the
  user's work queues, while 10,000 of the N records wait for a step the user
  may take (the rest are done);
- reference search: ``GET /records/bench_item/choices``, what a grid's or
  form's reference box asks as the person types part of a number or title.

Each request is timed with ``perf_counter`` around the client call, so the
figure is server time plus the in-process transport, no network. Goals (p95):
30 ms for the record page, the list page and a grid save; 100 ms for my work;
50 ms for the reference search.

    .venv/bin/python bench/pages.py [-n 100000] [--database URL] [--requests 1000]
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable
from time import perf_counter
from typing import Any

from litestar.testing import TestClient

from common import (
    STATUSES,
    TYPE_KEY,
    StatementCounter,
    analyse,
    bench_database,
    bench_type,
    describe,
    median,
    parse_args,
    percentile,
    print_table,
)
from labledger.app import create_app
from labledger.db.engine import Database
from labledger.identity.principal import SYSTEM
from labledger.identity.users import create_user, load_principal
from labledger.metadata.types import publish_type
from labledger.records.service import create_record
from labledger.workflows.definitions import publish_workflow
from list import load

#: Records that wait for the user's step; the others are done.
OPEN_ITEMS = 10_000
CHILD_KEY = "bench_result"
CHILDREN = 20
PASSWORD = "measure twice, cut once"
WORKFLOW = {
    "key": "bench_flow",
    "label": "Bench flow",
    "states": [
        {"key": "draft", "label": "Draft", "initial": True},
        {"key": "review", "label": "In review", "editable": "none"},
        {"key": "done", "label": "Done", "final": True, "editable": "none"},
    ],
    "transitions": [
        {"key": "submit", "label": "Submit", "from": ["draft"], "to": "review", "roles": ["*"]},
        {
            "key": "approve",
            "label": "Approve",
            "from": ["review"],
            "to": "done",
            "roles": ["admin"],
            "signature": {"meaning": "Approved"},
            "separation": {"creator": True},
        },
        {
            "key": "send_back",
            "label": "Send back",
            "from": ["review"],
            "to": "draft",
            "roles": ["admin"],
            "reason_required": True,
        },
    ],
}


def child_type() -> dict[str, Any]:
    """Results of a benchmark item: a value, its limits and a computed flag."""
    return {
        "key": CHILD_KEY,
        "label": "Bench result",
        "plural": "Bench results",
        "numbering": "BRS-{#######}",
        "title": "{number} {test}",
        "permissions": {"read": ["*"], "create": ["admin"], "edit": ["admin"]},
        "fields": [
            {"key": "item", "label": "Item", "type": "reference", "to": TYPE_KEY},
            {"key": "test", "label": "Test", "type": "text", "required": True, "in_list": True},
            {
                "key": "value",
                "label": "Value",
                "type": "decimal",
                "precision": 2,
                "unit": "mg/L",
                "min": -1000,
                "max": 1000,
                "in_list": True,
            },
            {"key": "low", "label": "Low limit", "type": "decimal", "default": 1},
            {"key": "high", "label": "High limit", "type": "decimal", "default": 5},
            {
                "key": "out_of_spec",
                "label": "Out of specification",
                "type": "computed",
                "result_type": "boolean",
                "expression": "value < low or value > high",
                "in_list": True,
            },
            {"key": "note", "label": "Note", "type": "text"},
        ],
    }


def prepare(db: Database, n: int) -> tuple[list[int], list[int]]:
    """Types, N items in state draft, a bench user and the children of one item."""
    with db.write() as conn:
        create_user(
            conn,
            SYSTEM,
            username="bench",
            full_name="Bench Mark",
            roles=["admin"],
            password=PASSWORD,
            one_time=False,
        )
        publish_workflow(conn, SYSTEM, WORKFLOW)
        publish_type(conn, SYSTEM, {**bench_type(), "workflow": "bench_flow"})
        publish_type(conn, SYSTEM, child_type())
    rate = load(db, 0, n)
    print(f"bulk load of {n:,} records: {rate:,.0f} rows/s")
    with db.write() as conn:
        conn.exec_driver_sql(f"UPDATE record SET state = 'done' WHERE type_key = '{TYPE_KEY}'")
        ids = [row[0] for row in conn.exec_driver_sql("SELECT id FROM record ORDER BY id")]
        open_ids = ",".join(str(i) for i in ids[-OPEN_ITEMS:])
        conn.exec_driver_sql(f"UPDATE record SET state = 'draft' WHERE id IN ({open_ids})")
        actor = load_principal(conn, 2)
        assert actor is not None and actor.username == "bench"
        children = [
            create_record(
                conn,
                actor,
                CHILD_KEY,
                {"item": ids[0], "test": f"Test {i}", "value": 2.5},
            )["id"]
            for i in range(CHILDREN)
        ]
    analyse(db, "record")
    return ids, children


def sign_in(client: TestClient[Any]) -> str:
    """Sign in as the bench user; returns the signed-in session's CSRF token for posts."""
    page = client.get("/login").text
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page)
    assert token
    answer = client.post(
        "/login",
        data={
            "username": "bench",
            "password": PASSWORD,
            "next": "/",
            "_csrf_token": token.group(1),
        },
        follow_redirects=False,
    )
    assert answer.status_code in (302, 303), answer.text
    signed_in = re.search(r'name="_csrf_token" value="([^"]+)"', client.get("/").text)
    assert signed_in, "a signed-in page carries the session's form token"
    return signed_in.group(1)


def timed(requests: int, call: Callable[[int], Any]) -> list[float]:
    """Milliseconds of each of ``requests`` calls, after ten warm-up calls."""
    for i in range(10):
        call(i)
    times = []
    for i in range(requests):
        started = perf_counter()
        call(i)
        times.append((perf_counter() - started) * 1000)
    return times


class Pages:
    """The three page requests, each checked to have answered as expected."""

    def __init__(self, client: TestClient[Any], token: str, ids: list[int], children: list[int]):
        self.client = client
        self.token = token
        self.ids = ids
        self.children = children
        self.versions = dict.fromkeys(children, 1)
        self.rng = random.Random(7)

    def record(self, _i: int) -> None:
        record_id = self.rng.choice(self.ids)
        answer = self.client.get(f"/records/{TYPE_KEY}/{record_id}")
        assert answer.status_code == 200 and "Audit history" in answer.text, answer.text[:500]

    def list(self, i: int) -> None:
        params = {"status": STATUSES[i % len(STATUSES)]} if i % 2 else {}
        answer = self.client.get(f"/records/{TYPE_KEY}", params=params)
        assert answer.status_code == 200 and answer.text.count("<tr>") >= 50, answer.text[:500]

    def home(self, _i: int) -> None:
        answer = self.client.get("/")
        assert answer.status_code == 200 and f"/work/{TYPE_KEY}/draft" in answer.text, answer.text[
            :500
        ]

    def reference_search(self, _i: int) -> None:
        """The start of a number (and so of a title, "{number} {name}"), a few characters
        to all of it, as typed into a reference box: short ones match thousands."""
        number = f"ben-2024-{self.rng.randint(1, len(self.ids)):07d}"  # as list.load numbers
        typed = number[: self.rng.randint(5, len(number))]
        answer = self.client.get(
            f"/records/{TYPE_KEY}/choices", params={"field": "item", "item": typed}
        )
        assert answer.status_code == 200 and "<option" in answer.text, (typed, answer.text[:500])

    def grid_save(self, i: int) -> None:
        row = self.children[i % len(self.children)]
        form = {
            "version": str(self.versions[row]),
            "test": f"Test {row}",
            "value": f"{(i % 700) / 100:.2f}",
            "low": "1",
            "high": "5",
        }
        answer = self.client.post(
            f"/records/{CHILD_KEY}/grid/{row}",
            params={"via": "item"},
            data=form,
            headers={"HX-Request": "true", "x-csrftoken": self.token},
        )
        assert answer.status_code == 200, answer.text[answer.text.find("<main") :][:800]
        self.versions[row] = int(re.search(rf'id="ver-{row}" value="(\d+)"', answer.text).group(1))


def main() -> None:
    parser = parse_args(__doc__.split("\n\n")[0], default_n=100_000)
    parser.add_argument("--requests", type=int, default=1000, help="requests per page")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one log line per request otherwise
    with bench_database(args.database) as db:
        print(f"Page benchmark on {describe(db)}: {args.n:,} records")
        ids, children = prepare(db, args.n)
        with TestClient(create_app(db)) as client:
            pages = Pages(client, sign_in(client), ids, children)
            scenarios = [
                ("record page", pages.record, 30.0),
                ("list page (50 rows)", pages.list, 30.0),
                ("grid save (one row)", pages.grid_save, 30.0),
                (f"my work ({OPEN_ITEMS:,} open)", pages.home, 100.0),
                ("reference search", pages.reference_search, 50.0),
            ]
            rows, missed = [], []
            for name, call, goal in scenarios:
                times = timed(args.requests, call)
                with StatementCounter(db) as counter:
                    call(args.requests)
                p95 = percentile(times, 0.95)
                if p95 > goal:
                    missed.append(name)
                rows.append(
                    [name, f"{median(times):.1f}", f"{p95:.1f}", f"{goal:.0f}", counter.count]
                )
        print_table(
            f"Server time over {args.requests:,} requests each (ms)",
            ["page", "p50", "p95", "goal p95", "SQL statements"],
            rows,
        )
        verdict = f"MISSES the goal: {', '.join(missed)}" if missed else "every page meets its goal"
        print(f"\n{verdict}")


if __name__ == "__main__":
    main()
