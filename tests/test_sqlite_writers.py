"""SQLite writers of one process take turns in a queue, not in SQLite's busy handler.

The busy handler makes a writer that finds the database locked sleep and retry
with growing pauses, so under concurrent writes a few requests waited many
times longer than the write they waited for. The queue hands the turn over
the moment the writer before commits.
"""

from __future__ import annotations

import threading
from time import monotonic

import pytest
from sqlalchemy import event, func, select

from labledger.db.tables import instance_setting

DEADLINE = 10.0


def _until(condition) -> None:
    """Wait for ``condition`` to hold, failing after ``DEADLINE`` seconds."""
    started = monotonic()
    while not condition():
        assert monotonic() - started < DEADLINE, "the condition never held"
        threading.Event().wait(0.001)


def test_a_second_writer_waits_for_its_turn_before_it_begins(db):
    if db.dialect != "sqlite":
        pytest.skip("PostgreSQL writers run side by side")
    begins: list[str] = []

    def began(_conn, _cursor, statement, *_args) -> None:
        if statement.startswith("BEGIN IMMEDIATE"):
            begins.append(threading.current_thread().name)

    event.listen(db.engine, "before_cursor_execute", began)
    first_inside, first_may_commit = threading.Event(), threading.Event()
    done: list[str] = []

    def write(name: str, hold: bool) -> None:
        with db.write() as conn:
            conn.execute(select(func.count()).select_from(instance_setting))
            if hold:
                first_inside.set()
                first_may_commit.wait(DEADLINE)
            done.append(name)

    first = threading.Thread(target=write, args=("first", True), name="first")
    second = threading.Thread(target=write, args=("second", False), name="second")
    try:
        first.start()
        assert first_inside.wait(DEADLINE)
        second.start()
        _until(lambda: db.writers.waiting == 1)
        assert begins == ["first"], "the second writer has not begun a transaction"
        first_may_commit.set()
        first.join(DEADLINE)
        second.join(DEADLINE)
    finally:
        first_may_commit.set()
        event.remove(db.engine, "before_cursor_execute", began)
    assert done == ["first", "second"] and begins == ["first", "second"]
    assert db.writers.waiting == 0


def test_skippable_bookkeeping_does_not_wait_for_a_writer_of_this_process(db):
    if db.dialect != "sqlite":
        pytest.skip("PostgreSQL writers run side by side")
    with db.write():
        skipped = threading.Thread(
            target=lambda: results.append(db.write_unless_busy(lambda _conn: "written"))
        )
        results: list[str | None] = []
        skipped.start()
        skipped.join(DEADLINE)
    assert results == [None]
    assert db.write_unless_busy(lambda _conn: "written") == "written"
