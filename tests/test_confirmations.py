"""A transition that asks for a confirmation with a justification when its condition holds
(``confirm`` in the workflow): refused without one, audited with one, asked per record in a
bulk step, checked when published, and its removal read as a weakened control."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import select

from labledger.db.tables import audit_event
from labledger.errors import ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.workflows.definitions import publish_workflow
from labledger.workflows.engine import run_transition
from tests.conftest import TEST_PASSWORD
from tests.definitions import refusal_recorded
from tests.test_change_readable import member, sample_lifecycle_edited, texts
from tests.web.record_fixtures import LOT_FLOW, create, make_lab

HIGH_PRIORITY = "This lot is marked high priority."


def confirming_flow() -> dict[str, Any]:
    """The lot workflow whose approval asks for a confirmation on high-priority lots."""
    flow = copy.deepcopy(LOT_FLOW)
    member(flow, "transitions", "approve")["confirm"] = {
        "when": "priority == 'high'",
        "message": HIGH_PRIORITY,
    }
    return flow


@pytest.fixture
def lab(db, make_person):
    people = make_lab(db, make_person)
    with db.write() as conn:
        publish_workflow(conn, SYSTEM, confirming_flow())
    return people


def _submitted(db, lab, priority: str) -> dict[str, Any]:
    code = f"L-{priority.upper()}-{id(object())}"[:20]
    lot = create(db, lab.analyst, "lot", {"code": code, "priority": priority})
    run_transition(db, lab.analyst.principal, "lot", lot["id"], "submit")
    return lot


def _signed(**body: Any) -> dict[str, Any]:
    return {"signature": {"username": "quinn", "password": TEST_PASSWORD}, **body}


def _confirmations(db, record_id: int) -> list[Any]:
    with db.read() as conn:
        details = conn.execute(
            select(audit_event.c.details).where(
                audit_event.c.record_id == record_id, audit_event.c.action == "record.transition"
            )
        ).scalars()
        return [d.get("confirmed") for d in details]


@pytest.mark.requirement("REQ-WF-06")
def test_the_step_is_refused_without_a_justification_and_audited_with_one(db, client, lab):
    lot = _submitted(db, lab, "high")
    path = f"/api/v1/records/lot/{lot['id']}/transitions"
    options = client.get(path, headers=lab.qa.headers).json()["items"]
    assert {o["key"]: o["confirm"] for o in options} == {"approve": HIGH_PRIORITY, "reject": None}
    with refusal_recorded(db):
        refused = client.post(f"{path}/approve", json=_signed(), headers=lab.qa.headers)
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["blocked_by"] == ["confirmation"]
    assert problem["errors"][0]["field"] == "justification"
    assert HIGH_PRIORITY in problem["detail"]
    blank = client.post(f"{path}/approve", json=_signed(justification="  "), headers=lab.qa.headers)
    assert blank.status_code == 422, "a justification of blanks is none"
    approved = client.post(
        f"{path}/approve",
        json=_signed(justification="Priority set by the customer; checked with them."),
        headers=lab.qa.headers,
    )
    assert approved.status_code == 200, approved.text
    assert _confirmations(db, lot["id"])[-1] == {
        "message": HIGH_PRIORITY,
        "justification": "Priority set by the customer; checked with them.",
    }


def test_a_record_the_condition_does_not_hold_for_needs_no_confirmation(db, client, lab):
    lot = _submitted(db, lab, "low")
    approved = client.post(
        f"/api/v1/records/lot/{lot['id']}/transitions/approve",
        json=_signed(justification="Not asked, so not kept."),
        headers=lab.qa.headers,
    )
    assert approved.status_code == 200, approved.text
    assert _confirmations(db, lot["id"])[-1] is None


def test_an_overlong_justification_is_refused(db, client, lab):
    lot = _submitted(db, lab, "high")
    refused = client.post(
        f"/api/v1/records/lot/{lot['id']}/transitions/approve",
        json=_signed(justification="x" * 2001),
        headers=lab.qa.headers,
    )
    assert refused.status_code == 422
    assert "under 2000 characters" in refused.json()["detail"]


def test_a_bulk_step_asks_per_record_and_one_justification_confirms_them_all(db, client, lab):
    high, low = _submitted(db, lab, "high"), _submitted(db, lab, "low")
    ids = [high["id"], low["id"]]
    path = "/api/v1/records/lot/transitions/approve"
    first = client.post(path, json=_signed(ids=ids), headers=lab.qa.headers).json()
    assert (first["moved"], first["refused"]) == (1, 1)
    assert first["items"][0]["refusal"]["blocked_by"] == ["confirmation"]
    assert first["items"][1]["record"]["state"] == "approved"
    again = client.post(
        path,
        json=_signed(ids=[high["id"]], justification="Customer priority, agreed."),
        headers=lab.qa.headers,
    ).json()
    assert again["moved"] == 1
    assert _confirmations(db, high["id"])[-1]["justification"] == "Customer priority, agreed."


def test_a_confirmation_naming_no_field_of_the_type_is_refused_when_published(db, lab):
    flow = confirming_flow()
    member(flow, "transitions", "approve")["confirm"]["when"] = "priorty == 'high'"
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        publish_workflow(conn, SYSTEM, flow)
    assert [e.field for e in refused.value.errors] == ["transitions[1].confirm.when"]


def test_a_confirmation_removed_weakens_and_one_added_does_not() -> None:
    def unconfirm(flow: dict[str, Any]) -> None:
        del member(flow, "transitions", "release")["confirm"]

    removed = sample_lifecycle_edited(unconfirm)
    assert [(s.text, s.weakens) for s in removed] == [
        (
            "Release no longer asks for a confirmation when "
            "\"any(referencing_values('result', 'sample', 'out_of_spec'))\"",
            True,
        )
    ]

    def confirm_cancel(flow: dict[str, Any]) -> None:
        member(flow, "transitions", "cancel")["confirm"] = {
            "when": "priority == 'urgent'",
            "message": "An urgent sample.",
        }

    added = sample_lifecycle_edited(confirm_cancel)
    assert texts(added) == ["Cancel now asks for a confirmation when \"priority == 'urgent'\""]
    assert not added[0].weakens
