"""Transitions racing on children of one parent: no deadlock, no error, one winner per record.

Each child's step moves its parent on (a ``transition_referenced`` action), so
every transition writes a reference to the parent and then locks the parent
row: the pattern that deadlocked on PostgreSQL when record rows were locked
``FOR UPDATE`` (that lock waits for the key-share lock each reference insert
holds on the parent). The last tests provoke real deadlocks and serialisation
failures to show that ``Database.write_retrying`` runs aborted work again, a
bounded number of times, and nothing else.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from sqlalchemy import Connection, insert, select, text, update

from labledger.audit.verify import verify
from labledger.db.engine import WRITE_ATTEMPTS, Database
from labledger.db.tables import number_counter
from labledger.errors import Conflict, ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.metadata.types import publish_type
from labledger.records.service import create_record, load_row, update_record
from labledger.workflows.definitions import publish_workflow
from labledger.workflows.engine import run_transition
from tests.conftest import TEST_PASSWORD
from tests.definitions import acting, add_roles
from tests.web.helpers import csrf_token, sign_in

T = TypeVar("T")
ANALYST = acting("ann", "analyst")
THREADS = 6
PER_THREAD = 4

PARENT_FLOW: dict[str, Any] = {
    "key": "tally_flow",
    "label": "Tally flow",
    "states": [
        {"key": "open", "label": "Open", "initial": True},
        {"key": "counting", "label": "Counting"},
    ],
    "transitions": [
        {
            "key": "count",
            "label": "Count",
            "from": ["open", "counting"],
            "to": "counting",
            "roles": ["analyst"],
        },
    ],
}

CHILD_FLOW: dict[str, Any] = {
    "key": "mark_flow",
    "label": "Mark flow",
    "states": [
        {"key": "pending", "label": "Pending", "initial": True},
        {"key": "done", "label": "Done", "final": True},
    ],
    "transitions": [
        {
            "key": "finish",
            "label": "Finish",
            "from": ["pending"],
            "to": "done",
            "roles": ["analyst"],
            "actions": [
                {"type": "transition_referenced", "reference": "tally", "transition": "count"}
            ],
        }
    ],
}


def _type(key: str, workflow: str, fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "key": key,
        "label": key.title(),
        "plural": key.title() + "s",
        "numbering": key[:3].upper() + "-{#####}",
        "title": "{name}",
        "workflow": workflow,
        "permissions": {"read": ["*"], "create": ["analyst"], "edit": ["analyst"]},
        "fields": [{"key": "name", "label": "Name", "type": "text"}, *fields],
    }


def _parent_with_children(db: Database, children: int) -> tuple[int, list[int]]:
    """A tally and ``children`` marks that reference it, all in their initial state."""
    add_roles(db, "analyst")
    with db.write() as conn:
        publish_workflow(conn, SYSTEM, PARENT_FLOW)
        publish_workflow(conn, SYSTEM, CHILD_FLOW)
        publish_type(conn, SYSTEM, _type("tally", "tally_flow", []))
        publish_type(
            conn,
            SYSTEM,
            _type(
                "mark",
                "mark_flow",
                [{"key": "tally", "label": "Tally", "type": "reference", "to": "tally"}],
            ),
        )
        parent = create_record(conn, ANALYST, "tally", {"name": "P"})
        marks = [
            create_record(
                conn,
                ANALYST,
                "mark",
                {"name": f"M{n}", "tally": parent["id"]},
            )["id"]
            for n in range(children)
        ]
    return parent["id"], marks


def _outcomes(calls: list[Callable[[], T]]) -> list[T]:
    """Run the calls at the same moment, each in its own thread; their results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _step(db: Database, type_key: str, record_id: int, transition: str) -> dict[str, Any]:
    """The transition as a person's request runs it (retries included)."""
    return run_transition(db, ANALYST, type_key, record_id, transition)


def _steps(db: Database, steps: list[tuple[str, int, str]]) -> Callable[[], list[Any]]:
    """One thread's work: the steps one after another, each one's view or its exception."""

    def call() -> list[Any]:
        outcomes: list[Any] = []
        for type_key, record_id, transition in steps:
            try:
                outcomes.append(_step(db, type_key, record_id, transition))
            except Exception as exc:  # every failure is an outcome to count
                outcomes.append(exc)
        return outcomes

    return call


def _tally(outcomes: list[Any]) -> Counter[str]:
    """Succeeded (a view), conflicts (a clean Conflict) and errors (anything else)."""
    return Counter(
        "succeeded" if isinstance(o, dict) else "conflicts" if isinstance(o, Conflict) else "errors"
        for o in outcomes
    )


def _parent(db: Database, parent_id: int) -> dict[str, Any]:
    with db.read() as conn:
        assert verify(conn).ok
        return load_row(conn, "tally", parent_id)


def test_children_stepping_one_parent_all_succeed(db):
    """Six threads each finish their own children; every finish moves the shared parent."""
    parent_id, marks = _parent_with_children(db, THREADS * PER_THREAD)
    work = [_steps(db, [("mark", m, "finish") for m in marks[t::THREADS]]) for t in range(THREADS)]
    outcomes = [o for thread in _outcomes(work) for o in thread]
    assert _tally(outcomes) == Counter(succeeded=len(marks)), outcomes
    assert all(o["state"] == "done" and o["version"] == 2 for o in outcomes)
    parent = _parent(db, parent_id)
    assert (parent["state"], parent["version"]) == ("counting", 1 + len(marks))


def test_children_and_parent_stepped_together_conflict_cleanly(db):
    """Each child is raced by two threads while the parent is also stepped directly.

    Per child one finish wins and the other is a clean Conflict (the state moved
    on); the parent's own steps and every child's step of it all succeed.
    """
    parent_id, marks = _parent_with_children(db, THREADS)
    work = [
        _steps(
            db,
            [
                ("mark", marks[t], "finish"),
                ("tally", parent_id, "count"),
                ("mark", marks[(t + 1) % THREADS], "finish"),
            ],
        )
        for t in range(THREADS)
    ]
    outcomes = [o for thread in _outcomes(work) for o in thread]
    assert _tally(outcomes) == Counter(succeeded=2 * THREADS, conflicts=THREADS), outcomes
    parent_views = [o for o in outcomes if isinstance(o, dict) and o["type"] == "tally"]
    # Each answer shows the version its own step produced: all different.
    assert len({v["version"] for v in parent_views}) == THREADS
    parent = _parent(db, parent_id)
    assert parent["version"] == 1 + 2 * THREADS


def test_scan_page_answers_concurrent_scans_without_errors(db, client, make_person):
    """The scan page posts each number as it is scanned: six at once all get their line."""
    make_person("sam", "analyst")
    parent_id, marks = _parent_with_children(db, THREADS)
    with db.read() as conn:
        numbers = [load_row(conn, "mark", m)["number"] for m in marks]
    assert sign_in(client, "sam", TEST_PASSWORD).status_code == 302
    token = csrf_token(client, "/records/mark/scan?transition=finish")

    def scan(number: str) -> Callable[[], Any]:
        return lambda: client.post(
            "/records/mark/scan",
            data={"number": number, "transition": "finish"},
            headers={"HX-Request": "true", "x-csrftoken": token},
        )

    responses = _outcomes([scan(n) for n in numbers])
    assert [r.status_code for r in responses] == [200] * THREADS
    assert all("Finish: now Done." in r.text for r in responses)
    assert _parent(db, parent_id)["version"] == 1 + THREADS


#: A step whose chain comes back to the record: finishing an echo nudges its
#: partner, and the partner's nudge reopens the echo in the same transaction.
ECHO_FLOW: dict[str, Any] = {
    "key": "echo_flow",
    "label": "Echo flow",
    "states": [
        {"key": "pending", "label": "Pending", "initial": True},
        {"key": "done", "label": "Done"},
    ],
    "transitions": [
        {
            "key": "finish",
            "label": "Finish",
            "from": ["pending"],
            "to": "done",
            "roles": ["analyst"],
            "actions": [
                {"type": "transition_referenced", "reference": "partner", "transition": "nudge"}
            ],
        },
        {
            "key": "nudge",
            "label": "Nudge",
            "from": ["pending"],
            "to": "pending",
            "actions": [
                {"type": "transition_referenced", "reference": "partner", "transition": "reopen"}
            ],
        },
        {"key": "reopen", "label": "Reopen", "from": ["done"], "to": "pending"},
    ],
}


def test_a_transition_answers_with_the_state_and_version_it_produced(db, client, make_person):
    """The answer is the step's own outcome, not the record as read after it."""
    ann = make_person("ann", "analyst")
    partner = [{"key": "partner", "label": "Partner", "type": "reference", "to": "echo"}]
    with db.write() as conn:
        publish_workflow(conn, SYSTEM, ECHO_FLOW)
        publish_type(conn, SYSTEM, _type("echo", "echo_flow", partner))
        first = create_record(conn, ANALYST, "echo", {"name": "A"})
        second = create_record(conn, ANALYST, "echo", {"name": "B", "partner": first["id"]})
        update_record(
            conn,
            ANALYST,
            "echo",
            first["id"],
            {"partner": second["id"]},
            expected_version=1,
        )
    answer = client.post(
        f"/api/v1/records/echo/{first['id']}/transitions/finish", json={}, headers=ann.headers
    )
    assert answer.status_code == 200, answer.text
    assert (answer.json()["state"], answer.json()["version"]) == ("done", 3)
    assert "signatures" in answer.json()
    now = client.get(f"/api/v1/records/echo/{first['id']}", headers=ann.headers).json()
    assert (now["state"], now["version"]) == ("pending", 4), "the chain reopened it"


def _postgresql_only(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite runs one writer at a time: it never aborts one to break a deadlock")


def _counters(db: Database, *scopes: str) -> None:
    """Plain rows to lock and change (number counters are not audited)."""
    with db.write() as conn:
        conn.execute(insert(number_counter), [{"scope": s, "last_value": 0} for s in scopes])


def _increment(conn: Connection, scope: str) -> None:
    conn.execute(
        update(number_counter)
        .where(number_counter.c.scope == scope)
        .values(last_value=number_counter.c.last_value + 1)
    )


def _counter_in(conn: Connection, scope: str) -> int:
    return conn.execute(
        select(number_counter.c.last_value).where(number_counter.c.scope == scope)
    ).scalar_one()


def _counter(db: Database, scope: str) -> int:
    with db.read() as conn:
        return _counter_in(conn, scope)


def _pid(conn: Connection) -> int:
    return conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


def _wait_until_blocked_by(conn: Connection, waiting_pid: int) -> None:
    """Return once the backend ``waiting_pid`` waits for a lock this connection holds."""
    mine, deadline = _pid(conn), time.monotonic() + 30
    blockers = text("SELECT pg_blocking_pids(:pid)").bindparams(pid=waiting_pid)
    while mine not in conn.execute(blockers).scalar_one():
        assert time.monotonic() < deadline, "the other transaction never waited for our lock"


def test_a_transaction_aborted_for_a_deadlock_runs_again(db):
    """A real deadlock between two transactions: the retried one is aborted, then succeeds.

    The retried work holds row A and asks for row B only once the other
    transaction, holding B, waits for A. Its deadlock check comes after 50 ms
    and the other's after a minute, so the database aborts the retried one.
    """
    _postgresql_only(db)
    _counters(db, "A", "B")
    holding_a, other_pid = threading.Event(), threading.Event()
    pids: list[int] = []
    tries: list[int] = []

    def retried(conn: Connection) -> int:
        tries.append(len(tries) + 1)
        if len(tries) == 1:
            conn.exec_driver_sql("SET LOCAL deadlock_timeout = '50ms'")
            _increment(conn, "A")
            holding_a.set()
            other_pid.wait()
            _wait_until_blocked_by(conn, pids[0])
        else:
            _increment(conn, "A")
        _increment(conn, "B")
        return len(tries)

    def other() -> None:
        with db.write() as conn:
            conn.exec_driver_sql("SET LOCAL deadlock_timeout = '60s'")
            holding_a.wait()
            _increment(conn, "B")
            pids.append(_pid(conn))
            other_pid.set()
            _increment(conn, "A")

    with ThreadPoolExecutor(2) as pool:
        other_done = pool.submit(other)
        assert db.write_retrying(retried) == 2
        other_done.result()
    assert (_counter(db, "A"), _counter(db, "B")) == (2, 2), "the aborted try left nothing"


def test_retries_are_bounded_and_end_in_a_conflict(db):
    """Work aborted every time runs WRITE_ATTEMPTS times; then the caller gets a Conflict.

    Each try reads a row in a repeatable-read snapshot, another transaction
    changes that row and commits, and the try's own change of it is then a
    serialisation failure.
    """
    _postgresql_only(db)
    _counters(db, "A")
    tries: list[int] = []

    def always_stale(conn: Connection) -> None:
        tries.append(len(tries) + 1)
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        _counter_in(conn, "A")
        with db.write() as other:
            _increment(other, "A")
        _increment(conn, "A")

    with pytest.raises(Conflict, match=r"nothing was saved\. Try again"):
        db.write_retrying(always_stale)
    assert len(tries) == WRITE_ATTEMPTS
    assert _counter(db, "A") == WRITE_ATTEMPTS, "only the other transactions' changes stayed"


def test_other_failures_are_not_retried(db):
    """A refusal is final: the work ran once and its change was rolled back."""
    _counters(db, "A")
    tries: list[int] = []

    def refused(conn: Connection) -> None:
        tries.append(1)
        _increment(conn, "A")
        raise ValidationFailed("not this")

    with pytest.raises(ValidationFailed):
        db.write_retrying(refused)
    assert len(tries) == 1 and _counter(db, "A") == 0
