"""The shipped QMS configuration (seeds/qms): it loads on its own, once, with its
demo data, its workflows match the shipped library, and its field rules hold.

The helpers at the top (loading seed folders, QMS people, API calls) are
shared by the other QMS test modules.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from labledger.app import create_app
from labledger.audit.verify import verify
from labledger.bootstrap import initialise
from labledger.bundles.seeds import load_seed_bundles
from labledger.cli import main
from labledger.db.engine import Database, open_database
from labledger.db.tables import audit_event, record
from labledger.identity.principal import SYSTEM
from labledger.identity.tokens import create_token, principal_for_token
from labledger.identity.users import check_password, create_user
from labledger.resources import data_path
from labledger.workflows.model import workflow_model
from tests.conftest import TEST_PASSWORD, Person
from tests.definitions import refusal_recorded
from tests.test_bundles import snapshot
from tests.web.helpers import sign_in

SEEDS = data_path("seeds")
LIBRARY = data_path("workflows")
DEMO_PASSWORD = "quality-demo-2026"
#: The shipped workflows each seed bundle embeds.
EMBEDDED = {
    "qms": ["deviation", "capa", "capa_action", "effectiveness_check"],
    "qms-lims": ["oos_investigation"],
}


def today() -> date:
    return datetime.now(UTC).date()


def days_from_today(days: int) -> str:
    return (today() + timedelta(days=days)).isoformat()


def load_seeds(db: Database, tmp_path: Path, *names: str, demo: bool = False) -> list[str]:
    """Load only the named shipped seed folders, as ``labledger init`` would."""
    root = tmp_path / "seeds"
    root.mkdir(exist_ok=True)
    for name in names:
        if not (root / name).exists():
            shutil.copytree(SEEDS / name, root / name)
    return load_seed_bundles(db, demo=demo, root=root)[0]


def person(db: Database, username: str, *roles: str) -> Person:
    """A user holding roles of the loaded bundles (the roles are not redefined), with a token."""
    with db.write() as conn:
        create_user(
            conn,
            SYSTEM,
            username=username,
            full_name=username.title() + " Tester",
            roles=list(roles),
            password=TEST_PASSWORD,
            one_time=False,
        )
        token = create_token(conn, SYSTEM, username)
        principal = principal_for_token(conn, token)
    assert principal is not None
    return Person(principal, token)


def count(db: Database, table: Any = record, *conditions: Any) -> int:
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*conditions)).scalar_one()


def states_of(db: Database, type_key: str) -> Counter[str]:
    with db.read() as conn:
        rows = conn.execute(select(record.c.state).where(record.c.type_key == type_key)).scalars()
        return Counter(rows)


def bundle_body(name: str) -> dict[str, Any]:
    return json.loads((SEEDS / name / "bundle.json").read_text(encoding="utf-8"))


class Api:
    """The calls of the journey, each asserting the status it expects."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def create(self, who: Person, type_key: str, data: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(
            f"/api/v1/records/{type_key}", json={"data": data}, headers=who.headers
        )
        assert response.status_code == 201, response.text
        return response.json()

    def get(self, who: Person, type_key: str, record_id: int) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/records/{type_key}/{record_id}", headers=who.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def update(self, who: Person, type_key: str, record_id: int, **data: Any) -> dict[str, Any]:
        version = self.get(who, type_key, record_id)["version"]
        response = self.client.patch(
            f"/api/v1/records/{type_key}/{record_id}",
            json={"data": data},
            headers={**who.headers, "If-Match": str(version)},
        )
        assert response.status_code == 200, response.text
        return response.json()

    def attempt(
        self,
        who: Person,
        type_key: str,
        record_id: int,
        step: str,
        *,
        sign: str | None = None,
        **body: Any,
    ) -> Any:
        if sign is not None:
            body["signature"] = {"username": who.username, "password": sign}
        return self.client.post(
            f"/api/v1/records/{type_key}/{record_id}/transitions/{step}",
            json=body,
            headers=who.headers,
        )

    def step(
        self,
        who: Person,
        type_key: str,
        record_id: int,
        step: str,
        *,
        sign: bool = False,
        **body: Any,
    ) -> dict[str, Any]:
        response = self.attempt(
            who, type_key, record_id, step, sign=TEST_PASSWORD if sign else None, **body
        )
        assert response.status_code == 200, response.text
        return response.json()

    def upload(self, who: Person, filename: str, content: bytes) -> int:
        response = self.client.post(
            f"/api/v1/attachments?filename={filename}",
            content=content,
            headers={**who.headers, "Content-Type": "application/pdf"},
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]


@pytest.mark.parametrize("name", sorted(EMBEDDED))
def test_embedded_workflows_are_the_shipped_library_files(name):
    embedded = {w["key"]: w for w in bundle_body(name)["workflows"]}
    assert sorted(embedded) == sorted(EMBEDDED[name])
    for key, definition in embedded.items():
        library = json.loads((LIBRARY / f"{key}.json").read_text(encoding="utf-8"))
        assert definition == library, f"workflows/{key}.json and seeds/{name} differ"


def test_qms_alone_loads_with_demo_data_once(db, tmp_path):
    assert load_seeds(db, tmp_path, "qms", demo=True) == ["qms 1.0"]
    deviation_states = states_of(db, "deviation")
    capa_states = states_of(db, "capa")
    assert sum(deviation_states.values()) == 20 and sum(capa_states.values()) == 10
    with db.read() as conn:
        for key, found in (("deviation", deviation_states), ("capa", capa_states)):
            states = {s["key"] for s in workflow_model(conn, key).definition["states"]}
            assert set(found) == states, f"demo {key}s cover every state"
    assert set(states_of(db, "capa_action")) == {"planned", "in_progress", "completed", "cancelled"}
    with db.write() as conn:
        for username in ("orla", "owen", "quentin", "qiana", "hilde", "qmsadmin"):
            checked = check_password(conn, username, DEMO_PASSWORD)
            assert checked.principal is not None, username

    before = snapshot(db)
    assert load_seeds(db, tmp_path, "qms", demo=True) == ["qms 1.0"]
    assert snapshot(db) == before


def test_qms_alone_has_no_laboratory_link(db, tmp_path, admin, client):
    load_seeds(db, tmp_path, "qms")
    types = {t["key"] for t in client.get("/api/v1/types", headers=admin.headers).json()["items"]}
    assert {"deviation", "capa", "capa_action", "effectiveness_check"} <= types
    assert not types & {"result", "oos_investigation"}


def test_overdue_demo_records_are_listed(db, tmp_path, client):
    """Demo records past their (fixed) due date and not final are overdue; the others are not."""
    load_seeds(db, tmp_path, "qms", demo=True)
    reader = person(db, "reader", "qms_originator")
    finals = {"closed", "cancelled", "completed", "effective", "not_effective", "inconclusive"}
    for type_key in ("deviation", "capa", "capa_action", "effectiveness_check"):
        with db.read() as conn:
            rows = conn.execute(
                select(record.c.state, record.c.data).where(record.c.type_key == type_key)
            ).all()
        expected = sorted(
            row.data["due_date"]
            for row in rows
            if row.data.get("due_date", "9999") < today().isoformat() and row.state not in finals
        )
        response = client.get(
            f"/api/v1/records/{type_key}?overdue=true&limit=100", headers=reader.headers
        )
        assert response.status_code == 200, response.text
        assert expected, f"the demo shows overdue {type_key} records"
        assert sorted(r["data"]["due_date"] for r in response.json()["items"]) == expected


def test_init_with_demo_loads_every_shipped_bundle_and_twice_changes_nothing(db):
    report = initialise(db, demo=True)
    assert {"qms 1.0", "qms-lims 1.0"} <= set(report.bundles)
    assert report.demo_users["quentin"] == DEMO_PASSWORD
    assert count(db, record, record.c.type_key == "deviation") == 20
    before = snapshot(db)
    again = initialise(db, demo=True)
    assert again.bundles == report.bundles and again.demo_users == {}
    assert snapshot(db) == before
    with db.read() as conn:
        assert verify(conn).ok


def test_init_command_on_a_fresh_sqlite_file(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert main(["--database", url, "init", "--demo"]) == 0
    first = capsys.readouterr().out
    assert "Configuration loaded: qms 1.0" in first
    assert f"quentin          {DEMO_PASSWORD}" in first
    assert main(["--database", url, "init", "--demo"]) == 0
    assert "Demo users" not in capsys.readouterr().out
    fresh = open_database(url)
    try:
        with fresh.read() as conn:
            assert verify(conn).ok
            deviations = conn.execute(
                select(func.count()).select_from(record).where(record.c.type_key == "deviation")
            ).scalar_one()
    finally:
        fresh.dispose()
    assert deviations == 20


# --- the deviation's own rules ---

REPORT = {
    "title": "Label printer misprint",
    "description": "Batch number printed twice on the label.",
    "discovered_by": "Line operator",
    "area": "packaging",
    "immediate_actions": "Labels segregated.",
}


@pytest.fixture
def qms(db, tmp_path):
    load_seeds(db, tmp_path, "qms")
    return {
        "orla": person(db, "orla", "qms_originator"),
        "owen": person(db, "owen", "qms_owner"),
        "quentin": person(db, "quentin", "qms_qa"),
        "qiana": person(db, "qiana", "qms_qa", "qms_owner"),
    }


def _report(**data: Any) -> dict[str, Any]:
    yesterday = days_from_today(-1)
    return {"data": {**REPORT, "occurred_on": yesterday, "became_aware_on": yesterday, **data}}


@pytest.mark.parametrize(
    ("classification", "days"), [("critical", 15), ("major", 30), ("minor", 45)]
)
def test_due_date_defaults_from_the_classification(qms, client, classification, days):
    created = client.post(
        "/api/v1/records/deviation",
        json=_report(classification=classification),
        headers=qms["orla"].headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["data"]["due_date"] == days_from_today(days)
    assert body["number"] == f"DEV-{today().year}-0001"
    assert body["state"] == "draft"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"occurred_on": "2999-01-01"}, "data.occurred_on", "cannot be in the future"),
        ({"became_aware_on": "2000-01-01"}, "data.became_aware_on", "before it occurred"),
        (
            {"owner": "owen", "qa_approver": "owen"},
            "data.qa_approver",
            "someone other than the owner",
        ),
        ({"capa_required": "no"}, "data.no_capa_rationale", "is required"),
        ({"classification": "severe"}, "data.classification", "must be one of"),
    ],
)
def test_a_bad_deviation_is_refused_and_changes_nothing(qms, client, db, data, field, message):
    records, events = count(db), count(db, audit_event)
    refused = client.post(
        "/api/v1/records/deviation",
        json=_report(**{"classification": "minor", **data}),
        headers=qms["orla"].headers,
    )
    assert refused.status_code == 422
    assert [e["message"] for e in refused.json()["errors"] if e["field"] == field]
    assert message in " ".join(e["message"] for e in refused.json()["errors"])
    assert (count(db), count(db, audit_event)) == (records, events)


def _assessed(api: Api, qms, raiser: Person | None = None, **data: Any) -> dict[str, Any]:
    """A minor deviation raised (by orla), submitted and assessed by quentin."""
    raiser = raiser or qms["orla"]
    created = api.create(raiser, "deviation", _report(classification="minor")["data"])
    api.step(raiser, "deviation", created["id"], "submit")
    api.step(qms["quentin"], "deviation", created["id"], "start_assessment")
    assessed = {
        "impact_assessment": "None.",
        "capa_required": "no",
        "no_capa_rationale": "One-off.",
        "root_cause_category": "equipment",
        "root_cause": "Worn print head.",
        "owner": "owen",
        "qa_approver": "quentin",
        **data,
    }
    return api.update(qms["quentin"], "deviation", created["id"], **assessed)


def _in_approval(api: Api, qms, raiser: Person | None = None, **data: Any) -> dict[str, Any]:
    deviation = _assessed(api, qms, raiser, **data)
    return api.step(qms["quentin"], "deviation", deviation["id"], "send_for_approval")


def test_minor_deviation_is_approved_with_a_quality_approval_signature(qms, client):
    api = Api(client)
    deviation = _in_approval(api, qms)
    assert deviation["state"] == "in_approval"
    signed = api.step(qms["quentin"], "deviation", deviation["id"], "approve", sign=True)
    assert signed["state"] == "closed"
    assert signed["data"]["closed_on"] == today().isoformat()
    assert [s["meaning"] for s in signed["signatures"]] == ["Quality Approval"]


@pytest.mark.parametrize(
    ("approver", "owner", "raised_by_approver", "status", "message"),
    [
        (
            "qiana",
            "qiana",
            False,
            422,
            "The owner cannot approve their own deviation: the QA approver named on it "
            "(or the QA head) approves.",
        ),
        ("qiana", "owen", False, 422, "The owner cannot approve their own deviation"),
        (
            "quentin",
            "owen",
            True,
            403,
            "You raised this deviation, so someone else must approve it.",
        ),
        (
            "owen",
            "owen",
            False,
            403,
            "Only these roles may approve and close: QMS QA, QMS QA head.",
        ),
    ],
)
def test_only_the_named_qa_approver_approves(
    qms, client, db, approver, owner, raised_by_approver, status, message
):
    """Not the owner, not the originator, not another QA person than the one named."""
    api = Api(client)
    raiser = qms["quentin"] if raised_by_approver else None
    deviation = _in_approval(api, qms, raiser, owner=owner)
    with refusal_recorded(db):
        refused = api.attempt(
            qms[approver], "deviation", deviation["id"], "approve", sign=TEST_PASSWORD
        )
    assert refused.status_code == status
    assert refused.json()["detail"].startswith(message)
    assert states_of(db, "deviation") == {"in_approval": 1}


def test_rejection_needs_a_reason_and_returns_the_deviation_to_its_owner(qms, client):
    api = Api(client)
    deviation = _in_approval(api, qms)
    no_reason = api.attempt(qms["quentin"], "deviation", deviation["id"], "reject")
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"] == [
        {"field": "reason", "message": "Give a reason for this step."}
    ]
    rejected = api.step(
        qms["quentin"], "deviation", deviation["id"], "reject", reason="Root cause too thin."
    )
    assert rejected["state"] == "in_assessment"
    history = client.get(
        f"/api/v1/records/deviation/{deviation['id']}/audit", headers=qms["owen"].headers
    ).json()["items"]
    assert history[-1]["reason"] == "Root cause too thin."


def test_cancelling_needs_a_reason_and_a_qa_signature(qms, client):
    api = Api(client)
    created = api.create(qms["orla"], "deviation", _report(classification="major")["data"])
    refused = api.attempt(
        qms["orla"], "deviation", created["id"], "cancel", reason="Dup", sign=TEST_PASSWORD
    )
    assert refused.status_code == 403
    assert refused.json()["detail"] == "Only these roles may cancel: QMS QA, QMS QA head."
    unsigned = api.attempt(qms["quentin"], "deviation", created["id"], "cancel", reason="Dup")
    assert unsigned.status_code == 422
    assert unsigned.json()["errors"][0]["field"] == "signature.password"
    cancelled = api.step(
        qms["quentin"], "deviation", created["id"], "cancel", reason="Twice.", sign=True
    )
    assert cancelled["state"] == "cancelled"
    assert cancelled["signatures"][0]["meaning"] == "Quality Approval"


def test_a_minor_deviation_is_not_investigated(qms, client):
    api = Api(client)
    deviation = _assessed(api, qms)
    investigate = api.attempt(qms["quentin"], "deviation", deviation["id"], "start_investigation")
    assert investigate.status_code == 422
    assert investigate.json()["detail"].startswith("Only major and critical deviations")


def test_a_deviation_requiring_a_capa_cannot_go_to_approval_without_one(qms, client, db):
    api = Api(client)
    quentin = qms["quentin"]
    deviation = _assessed(api, qms, capa_required="yes", no_capa_rationale=None)
    records = count(db)
    refused = api.attempt(quentin, "deviation", deviation["id"], "send_for_approval")
    assert refused.status_code == 422
    assert "needs its CAPA created and linked first" in refused.json()["detail"]
    assert count(db) == records
    capa_id = api.step(quentin, "deviation", deviation["id"], "create_capa")["data"]["capa"]
    capa = api.get(quentin, "capa", capa_id)
    assert capa["data"]["source"] == "deviation"
    assert capa["data"]["source_deviation"] == deviation["id"]
    assert (capa["data"]["owner"], capa["data"]["qa_approver"]) == ("owen", "quentin")
    again = api.attempt(quentin, "deviation", deviation["id"], "create_capa")
    assert again.status_code == 422, "one CAPA per deviation"
    moved = api.step(quentin, "deviation", deviation["id"], "send_for_approval")
    assert moved["state"] == "in_approval"


# --- the CAPA's own rules ---


@pytest.fixture
def capa_in_implementation(qms, client) -> dict[str, Any]:
    """A CAPA from an audit, its plan (one action by owen) approved, in implementation."""
    api = Api(client)
    quentin, owen = qms["quentin"], qms["owen"]
    capa = api.create(
        quentin,
        "capa",
        {
            "title": "Supplier change not notified",
            "source": "audit",
            "source_reference": "AUD-2026-014 finding 3",
            "problem_statement": "The supplier moved production without telling us.",
            "owner": "owen",
            "qa_approver": "quentin",
            "root_cause_method": "other",
            "root_cause_analysis": "Quality agreement silent on site changes.",
            "effectiveness_criteria": "Next supplier audit without such finding.",
        },
    )
    action = api.create(
        owen,
        "capa_action",
        {
            "capa": capa["number"],
            "kind": "corrective",
            "description": "Amend the quality agreement",
            "owner": "owen",
            "due_date": days_from_today(10),
        },
    )
    api.step(quentin, "capa", capa["id"], "approve_plan", sign=True)
    api.step(owen, "capa", capa["id"], "start_implementation")
    return {"capa": capa["id"], "action": action["id"]}


def _checks(client, who: Person, capa_id: int) -> list[dict[str, Any]]:
    listed = client.get(f"/api/v1/records/effectiveness_check?capa={capa_id}", headers=who.headers)
    return sorted(listed.json()["items"], key=lambda r: r["id"])


def test_a_not_effective_check_reopens_the_capa(qms, client, capa_in_implementation):
    api = Api(client)
    quentin, owen = qms["quentin"], qms["owen"]
    capa_id, action_id = capa_in_implementation["capa"], capa_in_implementation["action"]
    evidence = api.upload(owen, "agreement.pdf", b"%PDF-1.4 amended agreement")
    api.update(owen, "capa_action", action_id, completion_notes="Signed.", evidence=evidence)
    api.step(owen, "capa_action", action_id, "complete")
    [check] = _checks(client, quentin, capa_id)
    api.update(quentin, "effectiveness_check", check["id"], evaluation="Same finding again.")

    api.update(quentin, "capa", capa_id, closure_summary="Not yet.")
    refused = api.attempt(quentin, "capa", capa_id, "close", sign=TEST_PASSWORD)
    assert refused.status_code == 422
    assert "Closing needs an effective effectiveness check" in refused.json()["detail"]

    api.step(quentin, "effectiveness_check", check["id"], "record_not_effective", sign=True)
    assert api.get(quentin, "capa", capa_id)["state"] == "in_implementation"
    again = api.create(
        owen,
        "capa_action",
        {
            "capa": capa_id,
            "kind": "preventive",
            "description": "Audit the supplier's change control",
            "owner": "owen",
            "due_date": days_from_today(30),
        },
    )
    assert again["number"].endswith("-A02")
    evidence = api.upload(owen, "audit.pdf", b"%PDF-1.4 audit report")
    api.update(owen, "capa_action", again["id"], completion_notes="Audited.", evidence=evidence)
    api.step(owen, "capa_action", again["id"], "complete")
    first, second = _checks(client, quentin, capa_id)
    assert (first["state"], second["state"]) == ("not_effective", "planned")
    assert second["number"].endswith("-E2")
    api.update(quentin, "effectiveness_check", second["id"], evaluation="No finding.")
    api.step(quentin, "effectiveness_check", second["id"], "record_effective", sign=True)
    api.update(quentin, "capa", capa_id, closure_summary="Effective after the second action.")
    assert api.step(quentin, "capa", capa_id, "close", sign=True)["state"] == "closed"


def _complete(api: Api, who: Person, action_id: int) -> None:
    evidence = api.upload(who, "evidence.pdf", b"%PDF-1.4 evidence")
    api.update(who, "capa_action", action_id, completion_notes="Done.", evidence=evidence)
    api.step(who, "capa_action", action_id, "complete")


def test_an_inconclusive_check_leaves_the_reopening_to_qa(qms, client, capa_in_implementation):
    api = Api(client)
    quentin, owen = qms["quentin"], qms["owen"]
    capa_id = capa_in_implementation["capa"]
    _complete(api, owen, capa_in_implementation["action"])
    [check] = _checks(client, quentin, capa_id)
    early = api.attempt(quentin, "capa", capa_id, "reopen")
    assert early.status_code == 422
    assert early.json()["detail"] == (
        "An effectiveness check is still planned: record its result first."
    )
    api.update(quentin, "effectiveness_check", check["id"], evaluation="Too few batches yet.")
    done = api.step(quentin, "effectiveness_check", check["id"], "record_inconclusive", sign=True)
    assert (done["state"], done["data"]["result"]) == ("inconclusive", "inconclusive")
    assert api.get(quentin, "capa", capa_id)["state"] == "effectiveness_check"
    assert api.step(quentin, "capa", capa_id, "reopen")["state"] == "in_implementation"


def test_the_owner_does_not_judge_their_own_capa(qms, client, capa_in_implementation, db):
    api = Api(client)
    qiana = qms["qiana"]
    capa_id = capa_in_implementation["capa"]
    api.update(qms["quentin"], "capa", capa_id, owner="qiana")
    _complete(api, qms["owen"], capa_in_implementation["action"])
    [check] = _checks(client, qiana, capa_id)
    api.update(qiana, "effectiveness_check", check["id"], evaluation="Fine.")
    with refusal_recorded(db):
        refused = api.attempt(
            qiana, "effectiveness_check", check["id"], "record_effective", sign=TEST_PASSWORD
        )
    assert refused.status_code == 422
    assert refused.json()["detail"] == (
        "The CAPA's owner cannot judge the effectiveness of their own CAPA."
    )


def test_only_the_actions_owner_or_qa_works_on_it(qms, client, capa_in_implementation, db):
    api = Api(client)
    olive = person(db, "olive", "qms_owner")
    refused = api.attempt(olive, "capa_action", capa_in_implementation["action"], "start")
    assert refused.status_code == 422
    assert refused.json()["detail"] == "Only the action's owner (or QA) works on it."


def test_cancelling_the_only_action_leaves_the_capa_in_implementation(
    qms, client, capa_in_implementation
):
    api = Api(client)
    quentin, owen = qms["quentin"], qms["owen"]
    capa_id, action_id = capa_in_implementation["capa"], capa_in_implementation["action"]
    no_reason = api.attempt(quentin, "capa_action", action_id, "cancel")
    assert no_reason.status_code == 422
    api.step(quentin, "capa_action", action_id, "cancel", reason="Superseded by a new contract.")
    assert api.get(owen, "capa", capa_id)["state"] == "in_implementation"
    refused = api.attempt(owen, "capa", capa_id, "complete_implementation")
    assert refused.status_code == 422
    assert refused.json()["detail"] == (
        "Every action must be completed or cancelled first (and at least one completed)."
    )


def test_only_the_qa_head_cancels_a_capa(qms, client, capa_in_implementation, db):
    api = Api(client)
    capa_id = capa_in_implementation["capa"]
    hilde = person(db, "hilde", "qms_qa_head")
    refused = api.attempt(
        qms["quentin"], "capa", capa_id, "cancel", sign=TEST_PASSWORD, reason="Not needed."
    )
    assert refused.status_code == 403
    cancelled = api.step(hilde, "capa", capa_id, "cancel", sign=True, reason="Merged elsewhere.")
    assert cancelled["state"] == "cancelled"
    assert [s["meaning"] for s in cancelled["signatures"]] == [
        "CAPA Plan Approval",
        "Quality Approval",
    ]


def test_overdue_records_stand_out_on_the_home_page_and_in_lists(db, tmp_path):
    """What a demo QA person sees: overdue work marked on 'My work' and an overdue-only list."""
    load_seeds(db, tmp_path, "qms", demo=True)
    app = create_app(db)
    with TestClient(app) as browser:
        assert sign_in(browser, "quentin", DEMO_PASSWORD).status_code in (302, 303)
        home = browser.get("/").text
        assert "Mix-up of capsule shells" in home
        assert home.count('class="badge overdue"') >= 3
        listed = browser.get("/records/deviation?overdue=true").text
    assert "Foreign particle in ampoule during visual inspection" in listed
    assert 'class="badge overdue"' in listed
    assert "Tablet hardness drift on press P4" not in listed
