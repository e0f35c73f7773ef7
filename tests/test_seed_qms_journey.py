"""The QMS journey through the REST API, with the shipped configuration only:
a major deviation, its CAPA, two actions with evidence, the effectiveness check,
closure of the CAPA and then of the deviation, with every wrong move refused."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from labledger.audit.verify import verify
from labledger.db.tables import audit_event, record, signature
from tests.conftest import TEST_PASSWORD, Person
from tests.test_seed_qms import Api, count, days_from_today, load_seeds, person, today


@pytest.fixture
def people(db, tmp_path) -> dict[str, Person]:
    load_seeds(db, tmp_path, "qms")
    return {
        "orla": person(db, "orla", "qms_originator"),
        "owen": person(db, "owen", "qms_owner"),
        "quentin": person(db, "quentin", "qms_qa"),
        "hilde": person(db, "hilde", "qms_qa_head"),
    }


def _refused(db, response: Any, status: int, message: str) -> None:
    """A wrong move: refused with this message; only the refusal (and a failed signing) stays."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert message in response.json()["detail"]


#: What a refused request records: the failed signing and the refusal on the record.
REFUSAL_EVENTS = ("signature.failed", "record.transition_refused", "record.sign_refused")


def _unchanged(db) -> tuple[int, int, int]:
    return (
        count(db),
        count(db, audit_event, audit_event.c.action.not_in(REFUSAL_EVENTS)),
        count(db, signature),
    )


def test_major_deviation_with_capa_from_report_to_closure(db, client, people):
    api = Api(client)
    orla, owen, quentin, hilde = (people[k] for k in ("orla", "owen", "quentin", "hilde"))
    year = today().year

    # An originator raises a major deviation and submits it.
    deviation = api.create(
        orla,
        "deviation",
        {
            "title": "Tablet weight out of limits on press P2",
            "description": "IPC weights of 12 tablets above the upper limit for 20 minutes.",
            "occurred_on": days_from_today(-2),
            "became_aware_on": days_from_today(-1),
            "discovered_by": "IPC technician",
            "area": "production",
            "product": "Metformin 500 mg tablets",
            "batch_lot": "MET-26-2230",
            "classification": "major",
            "immediate_actions": "Press stopped; tablets of the period segregated.",
        },
    )
    dev_id = deviation["id"]
    assert deviation["number"] == f"DEV-{year}-0001"
    assert deviation["state"] == "draft"
    assert deviation["data"]["due_date"] == days_from_today(30)
    api.step(orla, "deviation", dev_id, "submit")

    # QA assesses it, names owner and approver, requires a CAPA and creates it.
    api.step(quentin, "deviation", dev_id, "start_assessment")
    before = _unchanged(db)
    same_person = client.patch(
        f"/api/v1/records/deviation/{dev_id}",
        json={"data": {"owner": "owen", "qa_approver": "owen"}},
        headers={**quentin.headers, "If-Match": "3"},
    )
    _refused(db, same_person, 422, "check the fields")
    assert same_person.json()["errors"] == [
        {
            "field": "data.qa_approver",
            "message": "The QA approver must be someone other than the owner.",
        }
    ]
    assert _unchanged(db) == before
    api.update(
        quentin,
        "deviation",
        dev_id,
        owner="owen",
        qa_approver="quentin",
        impact_assessment="Segregated tablets rejected; no other batch affected.",
        capa_required="yes",
    )
    deviation = api.step(quentin, "deviation", dev_id, "create_capa")
    capa_id = deviation["data"]["capa"]
    capa = api.get(owen, "capa", capa_id)
    assert capa["number"] == f"CAPA-{year}-0001"
    assert capa["state"] == "open"
    assert capa["data"]["source"] == "deviation"
    assert capa["data"]["source_deviation"] == dev_id
    assert capa["data"]["problem_statement"].startswith("IPC weights of 12 tablets")
    assert capa["data"]["due_date"] == days_from_today(90)
    api.step(quentin, "deviation", dev_id, "start_investigation")

    # The owner plans the CAPA: root cause, two actions, effectiveness criteria.
    api.update(
        owen,
        "capa",
        capa_id,
        root_cause_method="five_whys",
        root_cause_analysis="Worn feeder paddles let the fill depth drift.",
        effectiveness_criteria="No weight excursion on P2 in the next 10 batches.",
    )
    actions = [
        api.create(
            owen,
            "capa_action",
            {
                "capa": capa_id,
                "kind": kind,
                "description": description,
                "owner": "owen",
                "due_date": days_from_today(20),
            },
        )
        for kind, description in (
            ("corrective", "Replace feeder paddles of P2"),
            ("preventive", "Add paddle wear check to the preventive maintenance plan"),
        )
    ]
    assert [a["number"] for a in actions] == [f"CAPA-{year}-0001-A01", f"CAPA-{year}-0001-A02"]

    # The owner cannot approve their own plan; a wrong password is refused and audited.
    before = _unchanged(db)
    _refused(
        db,
        api.attempt(owen, "capa", capa_id, "approve_plan", sign=TEST_PASSWORD),
        403,
        "Only these roles may approve plan: QMS QA, QMS QA head.",
    )
    _refused(
        db,
        api.attempt(quentin, "capa", capa_id, "approve_plan", sign="not my password"),
        403,
        "Signature refused",
    )
    assert _unchanged(db) == before
    assert count(db, audit_event, audit_event.c.action == "signature.failed") == 1
    assert count(db, audit_event, audit_event.c.action == "record.sign_refused") == 1
    capa = api.step(quentin, "capa", capa_id, "approve_plan", sign=True)
    assert capa["state"] == "plan_approved"
    assert [(s["meaning"], s["printed_name"]) for s in capa["signatures"]] == [
        ("CAPA Plan Approval", "Quentin Tester")
    ]
    api.step(owen, "capa", capa_id, "start_implementation")

    # The first action is completed with its evidence.
    first, second = (a["id"] for a in actions)
    api.step(owen, "capa_action", first, "start")
    before = _unchanged(db)
    _refused(
        db,
        api.attempt(owen, "capa_action", first, "complete"),
        422,
        "Fill in first: Completion notes, Completion evidence.",
    )
    assert _unchanged(db) == before
    evidence = api.upload(owen, "work-order-8812.pdf", b"%PDF-1.4 work order 8812 closed")
    api.update(
        owen,
        "capa_action",
        first,
        completion_notes="Paddles replaced (WO-8812).",
        evidence=evidence,
    )
    done = api.step(owen, "capa_action", first, "complete")
    assert (done["state"], done["data"]["completed_on"]) == ("completed", today().isoformat())
    assert api.get(owen, "capa", capa_id)["state"] == "in_implementation"

    # The CAPA cannot leave implementation while an action is open.
    before = _unchanged(db)
    _refused(
        db,
        api.attempt(owen, "capa", capa_id, "complete_implementation"),
        422,
        "Every action must be completed or cancelled first",
    )
    assert _unchanged(db) == before

    # Completing the last action moves the CAPA on and plans its effectiveness check.
    evidence = api.upload(owen, "pm-plan-v12.pdf", b"%PDF-1.4 maintenance plan version 12")
    api.update(
        owen,
        "capa_action",
        second,
        completion_notes="Wear check added to PM plan v12.",
        evidence=evidence,
    )
    api.step(owen, "capa_action", second, "complete")
    capa = api.get(owen, "capa", capa_id)
    assert capa["state"] == "effectiveness_check"
    checks = client.get(
        f"/api/v1/records/effectiveness_check?capa={capa_id}", headers=owen.headers
    ).json()["items"]
    [check] = checks
    assert check["number"] == f"CAPA-{year}-0001-E1"
    assert check["state"] == "planned"
    assert check["data"]["criteria"] == "No weight excursion on P2 in the next 10 batches."
    assert check["data"]["due_date"] == days_from_today(30)

    # The effectiveness check passes (judged by QA, never by the owner).
    api.update(quentin, "effectiveness_check", check["id"], evaluation="10 batches: no excursion.")
    _refused(
        db,
        api.attempt(
            owen, "effectiveness_check", check["id"], "record_effective", sign=TEST_PASSWORD
        ),
        403,
        "Only these roles may record: effective",
    )
    check = api.step(quentin, "effectiveness_check", check["id"], "record_effective", sign=True)
    assert (check["state"], check["data"]["result"]) == ("effective", "effective")

    # QA closes the CAPA with a signature.
    api.update(quentin, "capa", capa_id, closure_summary="Both actions done and effective.")
    capa = api.step(quentin, "capa", capa_id, "close", sign=True)
    assert (capa["state"], capa["data"]["closed_on"]) == ("closed", today().isoformat())
    assert [s["meaning"] for s in capa["signatures"]] == ["CAPA Plan Approval", "Quality Approval"]

    # The owner completes the investigation; QA (not the owner) closes the deviation.
    api.update(
        owen,
        "deviation",
        dev_id,
        root_cause_category="equipment",
        root_cause="Worn feeder paddles of press P2.",
    )
    api.step(owen, "deviation", dev_id, "send_for_final_approval")
    before = _unchanged(db)
    _refused(
        db,
        api.attempt(owen, "deviation", dev_id, "approve_final", sign=TEST_PASSWORD),
        403,
        "Only these roles may approve and close",
    )
    _refused(
        db,
        api.attempt(hilde, "deviation", dev_id, "approve_final", sign="wrong again!"),
        403,
        "Signature refused",
    )
    assert _unchanged(db) == before
    deviation = api.step(quentin, "deviation", dev_id, "approve_final", sign=True)
    assert deviation["state"] == "closed"
    assert deviation["data"]["closed_on"] == today().isoformat()
    assert [(s["meaning"], s["status"]) for s in deviation["signatures"]] == [
        ("Quality Approval", "current")
    ]

    # The audit trail shows it all, and the chain is intact.
    def history(type_key: str, record_id: int) -> list[tuple[str, str | None, str]]:
        items = client.get(
            f"/api/v1/records/{type_key}/{record_id}/audit", headers=quentin.headers
        ).json()["items"]
        return [(e["action"], (e["details"] or {}).get("transition"), e["actor"]) for e in items]

    assert history("deviation", dev_id) == [
        ("record.create", None, "orla"),
        ("record.transition", "submit", "orla"),
        ("record.transition", "start_assessment", "quentin"),
        ("record.update", None, "quentin"),
        ("record.transition", "create_capa", "quentin"),
        ("record.transition", "start_investigation", "quentin"),
        ("record.update", None, "owen"),
        ("record.transition", "send_for_final_approval", "owen"),
        ("record.transition_refused", "approve_final", "owen"),
        ("record.sign_refused", "approve_final", "hilde"),
        ("record.transition", "approve_final", "quentin"),
        ("record.sign", "approve_final", "quentin"),
    ]
    assert history("capa", capa_id) == [
        ("record.create", None, "quentin"),
        ("record.update", None, "owen"),
        ("record.transition_refused", "approve_plan", "owen"),
        ("record.sign_refused", "approve_plan", "quentin"),
        ("record.transition", "approve_plan", "quentin"),
        ("record.sign", "approve_plan", "quentin"),
        ("record.transition", "start_implementation", "owen"),
        ("record.transition_refused", "complete_implementation", "owen"),
        ("record.transition", "complete_implementation", "owen"),
        ("record.update", None, "quentin"),
        ("record.transition", "close", "quentin"),
        ("record.sign", "close", "quentin"),
    ]
    with db.read() as conn:
        automatic = conn.execute(
            select(audit_event.c.details)
            .where(audit_event.c.record_id == capa_id, audit_event.c.action == "record.transition")
            .order_by(audit_event.c.seq)
        ).scalars()
        assert [d["automatic"] for d in automatic] == [False, False, True, False]
        failed = conn.execute(
            select(audit_event.c.actor).where(audit_event.c.action == "signature.failed")
        ).scalars()
        assert sorted(failed) == ["hilde", "quentin"]
        rows = conn.execute(
            select(record.c.number, record.c.state).where(record.c.id.in_([dev_id, capa_id]))
        )
        states = {number: state for number, state in rows}
        assert verify(conn).ok
    assert states == {f"DEV-{year}-0001": "closed", f"CAPA-{year}-0001": "closed"}
    verified = client.get("/api/v1/audit/verify", headers=quentin.headers).json()
    assert verified["ok"] is True and verified["events"] > 30
