"""Concurrent writers: unique consecutive numbers, one winner per version, one per unique value."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import func, select

from labledger.audit.verify import verify
from labledger.db.tables import audit_event
from labledger.errors import Conflict, ServiceError, ValidationFailed
from labledger.records.service import create_record, update_record
from tests.definitions import acting, add_roles, batch_type, counts

ANALYST = acting("ann", "analyst")
THREADS = 8


def _outcomes(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls at the same moment, each in its own thread; results or ServiceErrors."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait()
        try:
            return call()
        except ServiceError as exc:
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _create(db, data: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    def call() -> dict[str, Any]:
        with db.write() as conn:
            return create_record(conn, ANALYST, "batch", data)

    return call


def test_concurrent_creates_get_unique_consecutive_numbers(db, publish):
    add_roles(db, "analyst")
    publish(batch_type())
    per_thread = 25

    def worker(thread: int) -> Callable[[], list[str]]:
        def call() -> list[str]:
            return [
                _create(db, {"code": f"T{thread}-{n}", "quantity": n})()["number"]
                for n in range(per_thread)
            ]

        return call

    results = _outcomes([worker(t) for t in range(THREADS)])
    numbers = [n for result in results for n in result]
    assert all(isinstance(r, list) for r in results), results
    counters = sorted(int(re.search(r"(\d+)$", n).group(1)) for n in numbers)
    assert counters == list(range(1, THREADS * per_thread + 1))
    assert len(set(numbers)) == len(numbers)
    for result in results:
        assert result == sorted(result), "each writer's numbers rise"
    with db.read() as conn:
        verified = verify(conn)
        creates = conn.execute(
            select(func.count())
            .select_from(audit_event)
            .where(audit_event.c.action == "record.create")
        ).scalar_one()
    assert verified.ok and creates == THREADS * per_thread
    assert counts(db)[0] == THREADS * per_thread


def test_two_updates_from_the_same_version_one_wins(db, publish):
    add_roles(db, "analyst")
    publish(batch_type())

    def change(record_id: int, quantity: int) -> Callable[[], dict[str, Any]]:
        def call() -> dict[str, Any]:
            with db.write() as conn:
                return update_record(
                    conn,
                    ANALYST,
                    "batch",
                    record_id,
                    {"quantity": quantity},
                    expected_version=1,
                )

        return call

    for round_ in range(3):
        created = _create(db, {"code": f"B-{round_}", "quantity": 0})()
        before = counts(db)
        results = _outcomes([change(created["id"], 1), change(created["id"], 2)])
        winners = [r for r in results if isinstance(r, dict)]
        losers = [r for r in results if isinstance(r, Conflict)]
        assert len(winners) == 1 and len(losers) == 1, results
        assert losers[0].extra["current_version"] == 2
        assert losers[0].extra["current"]["data"]["quantity"] == winners[0]["data"]["quantity"]
        assert counts(db) == (before[0], before[1] + 1, before[2] + 1), "one audit event"
    with db.read() as conn:
        assert verify(conn).ok


def test_two_creates_with_the_same_unique_value_one_succeeds(db, publish):
    add_roles(db, "analyst")
    publish(batch_type())
    for round_ in range(5):
        before = counts(db)
        results = _outcomes([_create(db, {"code": f"U-{round_}"}) for _ in range(2)])
        created = [r for r in results if isinstance(r, dict)]
        refused = [r for r in results if isinstance(r, ValidationFailed)]
        assert len(created) == 1 and len(refused) == 1, results
        assert [e.field for e in refused[0].errors] == ["data.code"]
        assert counts(db) == (before[0] + 1, before[1] + 1, before[2] + 1)
    with db.read() as conn:
        assert verify(conn).ok
