"""Transitions racing on children of one parent: no deadlock, no error, one winner per record.

Each child's step moves its parent on (a ``transition_referenced`` action), so
every transition writes a reference to the parent and then locks the parent
row: the pattern that deadlocked on PostgreSQL when record rows were locked
``FOR UPDATE`` (that lock waits for the key-share lock each reference insert
holds on the parent).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from labledger.audit.verify import verify_chain
from labledger.db.engine import Database
from labledger.errors import Conflict
from labledger.identity.principal import SYSTEM
from labledger.metadata.types import publish_type
from labledger.records.service import create_record, load_row
from labledger.workflows.definitions import publish_workflow
from labledger.workflows.engine import run_transition
from tests.definitions import acting, add_roles

T = TypeVar("T")
ANALYST = acting("ann", "analyst")
THREADS = 6
PER_THREAD = 4
LIMIT = 1024

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
        parent = create_record(conn, ANALYST, "tally", {"name": "P"}, attachment_limit=LIMIT)
        marks = [
            create_record(
                conn,
                ANALYST,
                "mark",
                {"name": f"M{n}", "tally": parent["id"]},
                attachment_limit=LIMIT,
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
    return run_transition(
        db, ANALYST, type_key, record_id, transition, attachment_limit=LIMIT, lockout_threshold=5
    )


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
        assert verify_chain(conn).ok
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
