"""Demo data is real data: ``labledger init --demo`` runs the shipped workflows as
the demo users, so every demo record has the history and the signatures its
state implies, made by people who were allowed to make them."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pytest
from sqlalchemy import Connection, select

from labledger.audit.verify import verify
from labledger.bootstrap import ADMIN_USERNAME, initialise
from labledger.db.engine import Database
from labledger.db.tables import audit_event, record, signature
from labledger.identity.principal import SYSTEM
from labledger.identity.users import get_user
from labledger.metadata.types import type_model
from labledger.resources import data_path
from labledger.workflows.model import WorkflowModel, workflow_model
from labledger.workflows.signatures import CURRENT, EARLIER_VERSION, signatures_of

#: The shipped seed folders that carry demo data.
DEMOS = sorted(p.name for p in data_path("seeds").iterdir() if (p / "demo.json").is_file())


def demo_users() -> dict[str, set[str]]:
    """Each shipped demo user and their roles."""
    users: dict[str, set[str]] = {}
    for name in DEMOS:
        body = json.loads(data_path("seeds", name, "demo.json").read_text(encoding="utf-8"))
        users.update({u["username"]: set(u.get("roles", [])) for u in body["users"]})
    return users


def _transitions_by_record(conn: Connection) -> dict[int, list[Any]]:
    events = defaultdict(list)
    for event in conn.execute(
        select(audit_event)
        .where(audit_event.c.action.in_(["record.transition", "record.sign"]))
        .order_by(audit_event.c.seq)
    ).mappings():
        events[event["record_id"]].append(event)
    return events


def _check_history(
    row: Any, workflow: WorkflowModel, events: list[Any], users: dict[str, set[str]]
) -> None:
    """The record's transition events lead, one by one, from the initial state to its state."""
    state = workflow.initial_state
    signed = 0
    for event in events:
        if event["action"] == "record.sign":
            signed += 1
            assert event["actor"] in users, (row["number"], event["actor"])
            continue
        transition = workflow.transitions[event["details"]["transition"]]
        assert event["changes"]["state"] == {"old": state, "new": transition["to"]}, row["number"]
        assert state in transition["from"]
        assert event["actor"] in users, f"{row['number']}: step by {event['actor']}"
        if not event["details"]["automatic"]:
            assert users[event["actor"]] & set(transition.get("roles", [])), (
                f"{row['number']}: {event['actor']} may not {transition['key']}"
            )
        state = transition["to"]
    assert state == row["state"], f"{row['number']} got to {row['state']} without its steps"
    wanted = sum(
        1
        for e in events
        if e["action"] == "record.transition"
        and workflow.transitions[e["details"]["transition"]].get("signature")
    )
    assert signed == wanted, f"{row['number']}: every signed step has its signature event"


def _check_signatures(conn: Connection, row: Any, events: list[Any]) -> int:
    """Signature rows match the signed steps, by whoever ran them, never by the creator."""
    stored = conn.execute(
        select(signature.c.transition, signature.c.signer)
        .where(signature.c.record_id == row["id"])
        .order_by(signature.c.id)
    ).all()
    steps = [e for e in events if e["action"] == "record.sign"]
    assert row["created_by"] not in {s.signer for s in stored}, (
        f"{row['number']}: signed by its creator"
    )
    assert [(s.transition, s.signer) for s in stored] == [
        (e["details"]["transition"], e["actor"]) for e in steps
    ], row["number"]
    for found in signatures_of(conn, dict(row)):
        # Signed content is the data: a later step may change it (a second
        # review), or only the state (the CAPA plan's approval stays current).
        if found["record_version"] == row["version"]:
            assert found["status"] == CURRENT, row["number"]
        else:
            assert found["status"] in (CURRENT, EARLIER_VERSION), row["number"]
    return len(stored)


def test_init_demo_runs_every_demo_record_through_its_workflow(db: Database) -> None:
    users = demo_users()
    assert set(initialise(db, demo=True).demo_users) == set(users)
    with db.read() as conn:
        rows = conn.execute(select(record).order_by(record.c.id)).mappings().all()
        history = _transitions_by_record(conn)
        creators = {
            e.record_id: e.actor
            for e in conn.execute(
                select(audit_event.c.record_id, audit_event.c.actor).where(
                    audit_event.c.action == "record.create"
                )
            )
        }
        assert len(rows) > 150
        signatures = 0
        for row in rows:
            assert row["created_by"] in users and creators[row["id"]] == row["created_by"], (
                f"{row['number']} was created by {row['created_by']}, not by a demo user"
            )
            assert row["created_by"] not in (ADMIN_USERNAME, SYSTEM.username)
            model = type_model(conn, row["type_key"])
            if not model.workflow:
                assert not history[row["id"]]
                continue
            workflow = workflow_model(conn, model.workflow)
            _check_history(row, workflow, history[row["id"]], users)
            signatures += _check_signatures(conn, row, history[row["id"]])
        assert signatures > 80, "reviews, releases, approvals and checks are signed"
        _check_reviews(conn)
        _check_releases(conn)
        assert verify(conn).ok


def _check_reviews(conn: Connection) -> None:
    """Nobody signs the review of a result whose value they entered."""
    entered = defaultdict(set)
    for event in conn.execute(
        select(audit_event.c.record_id, audit_event.c.actor, audit_event.c.changes).where(
            audit_event.c.action == "record.update", audit_event.c.type_key == "result"
        )
    ):
        if {"value", "text_value"} & set(event.changes):
            entered[event.record_id].add(event.actor)
    reviews = conn.execute(
        select(signature.c.record_id, signature.c.signer).where(signature.c.type_key == "result")
    ).all()
    assert len(reviews) > 50
    for review in reviews:
        assert entered[review.record_id] and review.signer not in entered[review.record_id]


def _check_releases(conn: Connection) -> None:
    """A release is the signature of someone who analysed none of the sample's results."""
    samples = conn.execute(select(record).where(record.c.type_key == "sample")).mappings().all()
    results = conn.execute(select(record.c.data).where(record.c.type_key == "result")).all()
    released = [s for s in samples if s["state"] == "released"]
    assert released
    for sample in released:
        (release,) = [s for s in signatures_of(conn, dict(sample)) if s["transition"] == "release"]
        assert release["signer"] == sample["data"]["released_by"]
        assert release["printed_name"] == get_user(conn, release["signer"])["full_name"]
        assert release["status"] == CURRENT
        analysts = {r.data.get("analyst") for r in results if r.data["sample"] == sample["id"]}
        assert analysts - {None} and release["signer"] not in analysts


def _set_by_steps(bundle: dict[str, Any]) -> dict[str, set[str]]:
    """For each type of a bundle, the fields its workflow's actions set."""
    workflows = {w["key"]: w for w in bundle.get("workflows", [])}
    return {
        t["key"]: {
            action.get("field") or action.get("link_field")
            for transition in workflows[t["workflow"]]["transitions"]
            for action in transition.get("actions", [])
        }
        - {None}
        for t in bundle.get("types", [])
        if t.get("workflow") in workflows
    }


@pytest.mark.parametrize("name", DEMOS)
def test_demo_files_never_give_fields_that_steps_set(name):
    folder = data_path("seeds", name)
    bundle = json.loads((folder / "bundle.json").read_text(encoding="utf-8"))
    demo = json.loads((folder / "demo.json").read_text(encoding="utf-8"))
    set_by_steps = _set_by_steps(bundle)
    types = {}
    for item in demo["records"]:
        types.setdefault(item["ref"], item.get("type"))
        given = set(item.get("data", {}))
        for step in item.get("steps", []):
            given |= set(step.get("data", {}))
        assert not given & set_by_steps.get(types[item["ref"]], set()), item["ref"]
        assert "state" not in item, "a demo record gets its state from its steps"
