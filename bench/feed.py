"""Event feed read throughput: walking 200,000 events by cursor, in pages of 1,000.

The outbox is filled with bulk SQL (the feed reads ``outbox_event`` in the
order of ``outbox_position``, and the filled events take their ids as
positions, as events written before lanes did; so this reaches a large table
in seconds; the events look like the record
service's: ``record.created`` of a 12-field type with its payload, and one
configuration event in a hundred; on PostgreSQL the table is then analysed,
as autovacuum would after a bulk load). After one untimed walk that brings the
table into the database's cache, a consumer walks the whole feed from the
start, following ``next``:

- as an administrator (sees everything: no permission condition);
- as a reader without ``configure`` (record events of readable types only);
- with a filter (``type=bench_item&kind=record.created``);
- over HTTP, through the API handler and its JSON encoding (the first
  50,000 events; an in-process test client, so no network).

Prints events per second and milliseconds per page for each.

    .venv/bin/python bench/feed.py [-n 200000] [--database URL]
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from time import perf_counter
from typing import Any

from litestar import Router
from litestar.testing import TestClient
from sqlalchemy import insert, select

from common import (
    analyse,
    bench_database,
    bench_type,
    describe,
    parse_args,
    print_table,
    publish,
    record_input,
)
from labledger.api.deps import API_DEPENDENCIES
from labledger.api.events import EventsController
from labledger.app import create_app
from labledger.db.engine import Database
from labledger.db.tables import outbox_event, outbox_position
from labledger.identity.principal import SYSTEM, Principal
from labledger.identity.tokens import create_token
from labledger.integration.feed import EventFilter, read_feed

PAGE = 1000
HTTP_EVENTS = 50000
READER = Principal(
    id=0,
    username="reader",
    full_name="Reader",
    roles=frozenset({"viewer"}),
    permissions=frozenset(),
)


def fill(db: Database, n: int) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    batch: list[dict[str, Any]] = []
    with db.write() as conn:
        for i in range(1, n + 1):
            config = i % 100 == 0
            batch.append(
                {
                    "created_at": start + timedelta(seconds=i),
                    "kind": "config.published" if config else "record.created",
                    "type_key": "bench_item",
                    "record_id": None if config else i,
                    "audit_seq": i,
                    "payload": {"kind": "object_type", "key": "bench_item", "version": 1}
                    if config
                    else {
                        "id": i,
                        "number": f"BEN-2026-{i:07d}",
                        "state": None,
                        "version": 1,
                        "data": record_input(i),
                    },
                }
            )
            if len(batch) == 5000:
                conn.execute(insert(outbox_event), batch)
                batch = []
        if batch:
            conn.execute(insert(outbox_event), batch)
        conn.execute(
            insert(outbox_position).from_select(
                ["position", "outbox_id"],
                select(outbox_event.c.id, outbox_event.c.id).where(outbox_event.c.lane.is_(None)),
            )
        )
    analyse(db, "outbox_event", "outbox_position")


def walk(
    read_page: Callable[[str | None], dict[str, Any]], limit: int | None = None
) -> tuple[int, int, float]:
    """(events, pages, seconds) of a cursor walk from the start."""
    events = pages = 0
    cursor = None
    started = perf_counter()
    while True:
        page = read_page(cursor)
        events += len(page["items"])
        pages += 1
        cursor = page["next"]
        if not page["more"] or (limit and events >= limit):
            return events, pages, perf_counter() - started


def service_reader(
    db: Database, actor: Principal, events: EventFilter | None = None
) -> Callable[[str | None], dict[str, Any]]:
    def read(cursor: str | None) -> dict[str, Any]:
        with db.read() as conn:
            return read_feed(conn, actor, after=cursor, events=events, limit=PAGE)

    return read


def http_reader(client: TestClient[Any], token: str) -> Callable[[str | None], dict[str, Any]]:
    def read(cursor: str | None) -> dict[str, Any]:
        params = {"limit": str(PAGE), **({"after": cursor} if cursor else {})}
        answer = client.get(
            "/api/v1/events", params=params, headers={"Authorization": f"Bearer {token}"}
        )
        return json.loads(answer.content)

    return read


def main() -> None:
    args = parse_args(__doc__.split("\n\n")[0], default_n=200000).parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    with bench_database(args.database) as db:
        publish(db, bench_type())
        started = perf_counter()
        fill(db, args.n)
        filled = perf_counter() - started
        print(f"Feed of {args.n:,} events ({describe(db)}); filled in {filled:.1f} s")
        with db.write() as conn:
            token = create_token(conn, SYSTEM, "admin", "bench")
        app = create_app(db)
        if not any(route.path == "/api/v1/events" for route in app.routes):
            app.register(
                Router(
                    path="/api/v1", route_handlers=[EventsController], dependencies=API_DEPENDENCIES
                )
            )
        walk(service_reader(db, SYSTEM))  # warm the cache: every walk then reads the same way
        rows = []
        with TestClient(app) as client:
            for name, reader, limit in (
                ("service, administrator", service_reader(db, SYSTEM), None),
                ("service, reader (permission condition)", service_reader(db, READER), None),
                (
                    "service, type and kind filter",
                    service_reader(db, SYSTEM, EventFilter.of("bench_item", "record.created")),
                    None,
                ),
                ("HTTP API, administrator", http_reader(client, token), HTTP_EVENTS),
            ):
                events, pages, seconds = walk(reader, limit)
                rows.append(
                    [
                        name,
                        f"{events:,}",
                        f"{seconds:.2f}",
                        f"{events / seconds:,.0f}",
                        f"{seconds / pages * 1000:.1f}",
                    ]
                )
        print_table(
            f"Cursor walks from the start, pages of {PAGE}",
            ["walk", "events", "seconds", "events/s", "ms/page"],
            rows,
        )


if __name__ == "__main__":
    main()
