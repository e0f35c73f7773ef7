"""Change control through the API: weakening a signed transition needs a second person's
signed approval, and every step of the procedure is enforced by the service."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import DBAPIError

from labledger.app import create_app
from labledger.audit.verify import verify
from labledger.bundles.format import parse_bundle
from labledger.change_gate import control_setting
from labledger.changes.control import set_control
from labledger.changes.service import activate, propose_bundles
from labledger.db.engine import Database
from labledger.db.tables import (
    audit_event,
    change_approval,
    change_control_setting,
    change_request,
    change_request_item,
)
from labledger.db.types import utc_now
from labledger.errors import Conflict, ValidationFailed
from labledger.identity.principal import APPROVE_CONFIGURATION, SYSTEM
from tests.conftest import TEST_PASSWORD, Person
from tests.definitions import unchanged
from tests.test_api import problem
from tests.test_bundles_export import fresh_database
from tests.test_integration_support import allow_webhooks
from tests.test_seed_lims import load_lims
from tests.web.record_fixtures import make_lab

API = "/api/v1/change-requests"
#: The shipped LIMS sample workflow, whose signed Release the scenario weakens.
LIMS_FLOW = "sample_lifecycle"


def _people(db: Database, make_person: Any, **others: Person) -> dict[str, Person]:
    """An author, two QA approvers and ``others``; then change control goes on."""
    people = {
        "author": make_person("alice", "cc_admin", permissions=("configure",)),
        "qa": make_person("quentin", "cc_qa", permissions=(APPROVE_CONFIGURATION,)),
        "qa2": make_person("querida", "cc_qa", permissions=(APPROVE_CONFIGURATION,)),
        **others,
    }
    with db.write() as conn:
        set_control(conn, SYSTEM, enabled=True, reason="validated use")
    return people


@pytest.fixture
def lab(db: Database, make_person: Any) -> dict[str, Person]:
    """The lot lab (a type whose approval is signed) under change control; ``tech`` is
    its analyst, who takes no part in change control."""
    lot_lab = make_lab(db, make_person)
    return _people(db, make_person, tech=lot_lab.analyst)


@pytest.fixture
def lims_lab(db: Database, tmp_path: Path, make_person: Any) -> dict[str, Person]:
    """The shipped LIMS configuration under change control: its sample workflow's Release."""
    load_lims(db, tmp_path, demo=False)
    return _people(db, make_person)


def _workflow(client: Any, person: Person, key: str = "lot_flow") -> dict[str, Any]:
    response = client.get(f"/api/v1/workflows/{key}", headers=person.headers)
    assert response.status_code == 200, response.text
    definition: dict[str, Any] = response.json()["definition"]
    return definition


def _without_release_signature(definition: dict[str, Any]) -> dict[str, Any]:
    """The workflow whose signed release (LIMS *Release*, the lot's *Approve*) needs no
    signature any more, and is open to the role of its first step too."""
    weakened = copy.deepcopy(definition)
    release = next(t for t in weakened["transitions"] if t["key"] in ("release", "approve"))
    del release["signature"]
    release["roles"] = [*release["roles"], weakened["transitions"][0]["roles"][0]]
    return weakened


def _propose(client: Any, person: Person, items: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post(
        API,
        json={"title": "Faster release", "reason": "Release without QA signature", "items": items},
        headers=person.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _approve(
    client: Any, person: Person, change: dict[str, Any], password: str = TEST_PASSWORD
) -> Any:
    return client.post(
        f"{API}/{change['id']}/approve",
        json={
            "content_hash": change["content_hash"],
            "signature": {"username": person.username, "password": password},
        },
        headers=person.headers,
    )


@pytest.mark.requirement("REQ-CHG-01")
def test_publishing_around_change_control_is_refused(client, lims_lab):
    weakened = _without_release_signature(_workflow(client, lims_lab["author"], LIMS_FLOW))
    response = client.put(
        "/api/v1/workflows/sample_lifecycle", json=weakened, headers=lims_lab["author"].headers
    )
    assert response.status_code == 409
    problem = response.json()
    assert problem["title"] == "Change control"
    assert "change request" in problem["detail"]
    release = next(
        t
        for t in _workflow(client, lims_lab["author"], LIMS_FLOW)["transitions"]
        if t["key"] == "release"
    )
    assert release["signature"] == {"meaning": "Approved for release"}


@pytest.mark.requirement("REQ-CHG-01")
def test_weakening_release_needs_a_second_persons_signed_approval(client, db, lims_lab):
    author, qa = lims_lab["author"], lims_lab["qa"]
    weakened = _without_release_signature(_workflow(client, author, LIMS_FLOW))
    change = _propose(
        client, author, [{"kind": "workflow", "key": "sample_lifecycle", "body": weakened}]
    )
    assert change["status"] == "draft"
    weakening = [s["text"] for s in change["weakening"]]
    assert any("no longer requires a signature" in text for text in weakening), weakening

    activate = client.post(f"{API}/{change['id']}/activate", json={}, headers=author.headers)
    assert activate.status_code == 409
    assert _approve(client, author, change).status_code == 403  # the author cannot approve

    wrong = _approve(client, qa, change, password="not the password")
    assert wrong.status_code == 403
    with db.read() as conn:
        refused = set(
            conn.execute(
                select(audit_event.c.action).where(audit_event.c.actor == qa.username)
            ).scalars()
        )
    assert "signature.failed" in refused
    approved = _approve(client, qa, change)
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "approved"
    assert [a["meaning"] for a in body["approvals"]] == ["Configuration approval"]

    active = client.post(f"{API}/{change['id']}/activate", json={}, headers=author.headers)
    assert active.status_code == 200, active.text
    assert active.json()["status"] == "active"
    release = next(
        t for t in _workflow(client, author, LIMS_FLOW)["transitions"] if t["key"] == "release"
    )
    assert "signature" not in release
    with db.read() as conn:
        publish = conn.execute(
            select(audit_event.c.details)
            .where(audit_event.c.action == "config.publish")
            .order_by(audit_event.c.seq.desc())
            .limit(1)
        ).scalar_one()
    assert publish["change_request"] == change["id"]


@pytest.mark.requirement("REQ-CHG-02")
def test_approving_content_other_than_reviewed_is_refused(client, lab):
    author, qa = lab["author"], lab["qa"]
    workflow = _workflow(client, author)
    change = _propose(
        client, author, [{"kind": "workflow", "key": workflow["key"], "body": workflow}]
    )
    stale = dict(change, content_hash="0" * 64)
    response = _approve(client, qa, stale)
    assert response.status_code == 409
    assert "changed after you reviewed it" in response.json()["detail"]


@pytest.mark.requirement("REQ-CHG-02")
def test_an_edit_after_approval_voids_it(client, lab):
    author, qa = lab["author"], lab["qa"]
    workflow = _workflow(client, author)
    change = _propose(
        client, author, [{"kind": "workflow", "key": workflow["key"], "body": workflow}]
    )
    assert _approve(client, qa, change).json()["status"] == "approved"
    edited = client.put(
        f"{API}/{change['id']}/items/workflow/{workflow['key']}",
        json=_without_release_signature(workflow),
        headers=author.headers,
    )
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert body["status"] == "draft"
    assert [a["valid"] for a in body["approvals"]] == [False]
    activate = client.post(f"{API}/{change['id']}/activate", json={}, headers=author.headers)
    assert activate.status_code == 409


def test_a_rejection_needs_a_reason_and_returns_the_draft(client, lab):
    author, qa = lab["author"], lab["qa"]
    workflow = _workflow(client, author)
    change = _propose(
        client, author, [{"kind": "workflow", "key": workflow["key"], "body": workflow}]
    )
    url = f"{API}/{change['id']}/reject"
    assert client.post(url, json={"reason": "  "}, headers=qa.headers).status_code == 422
    assert client.post(url, json={"reason": "no"}, headers=lab["tech"].headers).status_code == 403
    rejected = client.post(url, json={"reason": "Keep the signature"}, headers=qa.headers)
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "draft"
    assert rejected.json()["rejection"] == "Keep the signature"


@pytest.mark.parametrize(
    ("step", "who", "body", "field"),
    [
        ("", "author", {"title": "Lot\x00", "reason": "Why"}, "title"),
        ("", "author", {"title": "Lot", "reason": "Why\x00"}, "reason"),
        ("/revert", "author", {"kind": "workflow", "key": "lot\x00flow", "version": 1}, "version"),
        ("/{id}/reject", "qa", {"reason": "Keep\x00"}, "reason"),
        ("/{id}/withdraw", "author", {"reason": "Gone\x00"}, "reason"),
        ("/{id}/reject", "qa", {"reason": "x" * 5000}, "reason"),
    ],
)
def test_text_the_database_cannot_hold_is_refused_by_field(client, db, lab, step, who, body, field):
    """A NUL (which PostgreSQL text cannot hold) or an over-long reason gets a field
    error on both databases, and nothing is written."""
    author = lab["author"]
    workflow = _workflow(client, author)
    change = _propose(
        client, author, [{"kind": "workflow", "key": workflow["key"], "body": workflow}]
    )
    if not step:
        body = {**body, "items": [{"kind": "workflow", "key": "lot_flow", "body": workflow}]}
    with unchanged(db):
        answer = client.post(
            API + step.format(id=change["id"]),
            json={"reason": "Why", **body},
            headers=lab[who].headers,
        )
    assert field in [error["field"] for error in problem(answer, 422)["errors"]]


def test_the_second_change_to_the_same_definition_must_be_rebased(client, lab):
    author, qa = lab["author"], lab["qa"]
    workflow = _workflow(client, author)
    relabelled = dict(workflow, label="Sample lifecycle (v2)")
    first = _propose(
        client, author, [{"kind": "workflow", "key": workflow["key"], "body": relabelled}]
    )
    second = _propose(
        client,
        author,
        [
            {
                "kind": "workflow",
                "key": workflow["key"],
                "body": _without_release_signature(workflow),
            }
        ],
    )
    for change in (first, second):
        assert _approve(client, qa, change).status_code == 200
    assert (
        client.post(f"{API}/{first['id']}/activate", json={}, headers=author.headers).status_code
        == 200
    )
    refused = client.post(f"{API}/{second['id']}/activate", json={}, headers=author.headers)
    assert refused.status_code == 409
    assert "rebase" in refused.json()["detail"]
    (both,) = refused.json()["stale"]
    assert any("renamed" in text for text in both["changed_meanwhile"]), both
    assert any("no longer requires a signature" in text for text in both["this_request"]), both
    rebased = client.post(f"{API}/{second['id']}/rebase", headers=author.headers)
    assert rebased.status_code == 200, rebased.text
    body = rebased.json()
    assert body["status"] == "draft" and body["stale"] == []
    assert _approve(client, qa, body).status_code == 200
    assert (
        client.post(f"{API}/{second['id']}/activate", json={}, headers=author.headers).status_code
        == 200
    )


def test_a_definition_that_does_not_validate_is_refused_with_its_path(client, lab):
    author = lab["author"]
    workflow = _workflow(client, author)
    broken = copy.deepcopy(workflow)
    broken["transitions"][0]["to"] = "nowhere"
    response = client.post(
        API,
        json={
            "title": "Broken",
            "reason": "test",
            "items": [{"kind": "workflow", "key": workflow["key"], "body": broken}],
        },
        headers=author.headers,
    )
    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["errors"]]
    assert any(f.startswith("items[0].body.transitions[0]") for f in fields), fields


@pytest.mark.requirement("REQ-CHG-03")
def test_switching_change_control_off_needs_a_reason_and_is_audited(client, db, lab):
    author = lab["author"]
    url = f"{API}/control"
    assert (
        client.put(url, json={"enabled": False, "reason": ""}, headers=author.headers).status_code
        == 422
    )
    assert (
        client.put(
            url, json={"enabled": False, "reason": "x"}, headers=lab["tech"].headers
        ).status_code
        == 403
    )
    response = client.put(
        url, json={"enabled": False, "reason": "Training copy"}, headers=author.headers
    )
    assert response.status_code == 200
    assert response.json() == {"enabled": False, "approvals_required": 1}
    with db.read() as conn:
        assert control_setting(conn).enabled is False
        event = conn.execute(
            select(audit_event.c.actor, audit_event.c.reason)
            .where(audit_event.c.action == "change.control")
            .order_by(audit_event.c.seq.desc())
            .limit(1)
        ).one()
    assert tuple(event) == (author.username, "Training copy")


@pytest.mark.requirement("REQ-CHG-01")
def test_two_approvals_when_the_setting_asks_for_two(client, db, lab):
    author, qa, qa2 = lab["author"], lab["qa"], lab["qa2"]
    with db.write() as conn:
        set_control(conn, SYSTEM, enabled=True, reason="two approvers", approvals_required=2)
    workflow = _workflow(client, author)
    change = _propose(
        client, author, [{"kind": "workflow", "key": workflow["key"], "body": workflow}]
    )
    first = _approve(client, qa, change).json()
    assert first["status"] == "draft" and first["approvals_missing"] == 1
    assert _approve(client, qa, change).status_code == 409  # the same approver twice
    second = _approve(client, qa2, change).json()
    assert second["status"] == "approved" and second["approvals_missing"] == 0


def test_change_requests_are_not_for_everyone(client, lab):
    assert client.get(API, headers=lab["tech"].headers).status_code == 403
    listed = client.get(API, headers=lab["qa"].headers)
    assert listed.status_code == 200
    assert listed.json()["control"] == {"enabled": True, "approvals_required": 1}


def test_the_impact_lists_open_records_a_new_required_field_would_fail(client, db, lab):
    author = lab["author"]
    response = client.get("/api/v1/types/lot", headers=author.headers)
    assert response.status_code == 200, response.text
    lot = response.json()["definition"]
    created = client.post(
        "/api/v1/records/lot",
        json={"data": {"code": "L-1", "product": "Aspirin"}},
        headers=lab["tech"].headers,
    )
    new_field = {"key": "courier", "label": "Courier", "type": "text", "required": True}
    changed = dict(lot, fields=[*lot["fields"], new_field])
    change = _propose(client, author, [{"kind": "object_type", "key": "lot", "body": changed}])
    texts = [s["text"] for item in change["review"] for s in item["statements"]]
    assert any("Courier" in text for text in texts), texts
    impact = client.get(f"{API}/{change['id']}/impact", headers=lab["qa"].headers)
    assert impact.status_code == 200, impact.text
    (location_impact,) = impact.json()["types"]
    assert created.status_code == 201, created.text
    assert [r["number"] for r in location_impact["listed"]] == [created.json()["number"]]
    assert location_impact["records"] == 1


def test_the_openapi_document_describes_change_requests(client):
    document = client.get("/schema/openapi.json").json()
    operation = document["paths"]["/api/v1/change-requests/{change_id}/approve"]["post"]
    assert {"200", "403", "409", "422"} <= set(operation["responses"])


def _verified(db: Database) -> list[str]:
    with db.read() as conn:
        report = verify(conn)
    return [d.message for d in report.discrepancies if d.kind == "change"]


@pytest.mark.requirement("REQ-CHG-03")
def test_audit_verify_covers_change_requests_approvals_and_the_setting(client, db, lab):
    author, qa = lab["author"], lab["qa"]
    workflow = _workflow(client, author)
    change = _propose(
        client, author, [{"kind": "workflow", "key": workflow["key"], "body": workflow}]
    )
    assert _approve(client, qa, change).status_code == 200
    assert _verified(db) == []

    with db.write() as conn:  # an edit outside the platform: the proposal's body
        weakened = _without_release_signature(workflow)
        conn.execute(
            update(change_request_item)
            .where(change_request_item.c.change_request_id == change["id"])
            .values(body=weakened)
        )
    assert _verified(db) == [
        f"change request CR-{change['id']}: its title, reason or items differ from its content hash"
    ]

    with db.write() as conn:  # marked approved or active by hand
        conn.execute(
            update(change_request)
            .where(change_request.c.id == change["id"])
            .values(status="active")
        )
    assert any("differs from event" in m for m in _verified(db))


@pytest.mark.requirement("REQ-CHG-03")
def test_switching_change_control_off_by_hand_is_found(db, lab):
    with db.write() as conn:
        conn.execute(
            insert(change_control_setting).values(
                enabled=False,
                approvals_required=1,
                reason="quietly",
                changed_at=utc_now(),
                changed_by="mallory",
            )
        )
    (message,) = _verified(db)
    assert message.endswith("(off) was not written through the platform")


def test_an_approved_change_is_promoted_to_another_installation(client, db, lims_lab, tmp_path):
    author, qa = lims_lab["author"], lims_lab["qa"]
    weakened = _without_release_signature(_workflow(client, author, LIMS_FLOW))
    change = _propose(
        client, author, [{"kind": "workflow", "key": "sample_lifecycle", "body": weakened}]
    )
    draft = client.get(f"{API}/{change['id']}/bundle", headers=author.headers)
    assert draft.status_code == 409  # not approved: nothing to promote
    assert _approve(client, qa, change).status_code == 200
    exported = client.get(f"{API}/{change['id']}/bundle", headers=author.headers)
    assert exported.status_code == 200, exported.text
    provenance = exported.json()["change_request"]
    assert provenance["number"] == change["id"]
    assert [a["signer"] for a in provenance["approvals"]] == [qa.username]
    assert any("no longer requires a signature" in c["text"] for c in provenance["changes"])

    with fresh_database("sqlite", tmp_path) as production:
        load_lims(production, tmp_path, demo=False)
        with production.write() as conn:
            set_control(conn, SYSTEM, enabled=True, reason="production")
            local = propose_bundles(
                conn,
                SYSTEM,
                [parse_bundle(exported.content, max_bytes=10_000_000)],
                title="Promote faster release",
                reason="as validated",
            )
        assert local.status == "draft" and local.approvals == ()
        assert local.origin is not None
        assert local.origin["promoted_from"]["content_hash"] == change["content_hash"]
        assert [(i.kind, i.key) for i in local.items] == [("workflow", "sample_lifecycle")]
        with production.write() as conn, pytest.raises(Conflict):
            activate(conn, SYSTEM, local.id)  # still needs local approval


#: A promotion bundle as another installation exports it (also a document of the
#: schema/struct agreement corpus).
PROMOTION = {
    "format": "labledger.bundle/1",
    "name": "change-request-7",
    "version": "0123456789ab",
    "change_request": {
        "installation": "dev-site",
        "number": 7,
        "title": "Courier field",
        "reason": "Track the courier",
        "status": "approved",
        "content_hash": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "approvals": [
            {
                "signer": "quinn",
                "printed_name": "Quinn Q.",
                "meaning": "Configuration approval",
                "signed_at": "2026-12-01T10:00:00+00:00",
                "content_hash": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            }
        ],
        "changes": [{"subject": 'Type "Sample"', "text": 'New field "Courier"', "weakens": False}],
    },
    "records": [{"type": "sample", "ref": "s1", "data": {"client": "x"}}],
}


def test_a_promotion_bundle_with_records_is_refused(db, lab):
    raw = json.dumps(PROMOTION).encode()
    with db.write() as conn, pytest.raises(ValidationFailed) as refused:
        propose_bundles(
            conn,
            lab["author"].principal,
            [parse_bundle(raw, max_bytes=1_000_000)],
            title="t",
            reason="r",
        )
    assert [e.field for e in refused.value.errors] == ["bundles"]


@pytest.mark.requirement("REQ-CHG-02")
def test_approvals_are_append_only(client, db, lab):
    author, qa = lab["author"], lab["qa"]
    workflow = _workflow(client, author)
    change = _propose(
        client, author, [{"kind": "workflow", "key": workflow["key"], "body": workflow}]
    )
    assert _approve(client, qa, change).status_code == 200
    for statement in (
        update(change_approval).values(signer="mallory"),
        delete(change_approval),
    ):
        with pytest.raises(DBAPIError, match="append-only"), db.write() as conn:
            conn.execute(statement)


@pytest.mark.requirement("REQ-CHG-04")
def test_the_audit_trail_tells_the_whole_procedure_with_the_diff(client, db, lab):
    author, qa = lab["author"], lab["qa"]
    workflow = _workflow(client, author)
    change = _propose(
        client,
        author,
        [{"kind": "workflow", "key": workflow["key"], "body": dict(workflow, label="Lifecycle")}],
    )
    url = f"{API}/{change['id']}"
    edited = client.put(
        f"{url}/items/workflow/{workflow['key']}",
        json=_without_release_signature(workflow),
        headers=author.headers,
    ).json()
    client.post(f"{url}/reject", json={"reason": "Keep the label"}, headers=qa.headers)
    assert _approve(client, qa, edited).status_code == 200
    assert client.post(f"{url}/activate", json={}, headers=author.headers).status_code == 200
    with db.read() as conn:
        events = conn.execute(
            select(audit_event.c.action, audit_event.c.actor, audit_event.c.changes)
            .where(audit_event.c.details["change_request"].as_integer() == change["id"])
            .order_by(audit_event.c.seq)
        ).all()
    assert [(e.action, e.actor) for e in events] == [
        ("change.propose", author.username),
        ("change.edit", author.username),
        ("change.reject", qa.username),
        ("change.approve", qa.username),
        ("config.publish", author.username),
        ("change.activate", author.username),
    ]
    proposed, edit = events[0].changes, events[1].changes
    assert proposed["workflow:lot_flow"]["changed"]["label"]["new"] == "Lifecycle"
    assert "transitions.approve.signature" in edit["workflow:lot_flow"]["changed"]


def test_a_scheduled_change_comes_into_force_when_due(client, db, lab):
    author, qa = lab["author"], lab["qa"]
    workflow = _workflow(client, author)
    relabelled = dict(workflow, label="Scheduled lifecycle")
    change = _propose(
        client, author, [{"kind": "workflow", "key": workflow["key"], "body": relabelled}]
    )
    assert _approve(client, qa, change).status_code == 200
    later = (utc_now() + timedelta(days=1)).isoformat()
    scheduled = client.post(
        f"{API}/{change['id']}/activate", json={"at": later}, headers=author.headers
    )
    assert scheduled.json()["status"] == "scheduled"
    assert _workflow(client, author)["label"] == workflow["label"]

    with db.write() as conn:  # the day passes
        conn.execute(
            update(change_request)
            .where(change_request.c.id == change["id"])
            .values(activate_at=utc_now() - timedelta(seconds=1))
        )
    with TestClient(create_app(db)) as restarted:  # a server starting activates what is due
        assert _workflow(restarted, author)["label"] == "Scheduled lifecycle"
        assert (
            restarted.get(f"{API}/{change['id']}", headers=author.headers).json()["status"]
            == "active"
        )


def test_webhooks_change_through_change_requests(client, db, lab, monkeypatch):
    author, qa = lab["author"], lab["qa"]
    allow_webhooks(monkeypatch, db, "erp.example.com")
    hook = {"name": "erp", "url": "https://erp.example.com/hook", "kinds": ["record.created"]}
    refused = client.post("/api/v1/webhooks", json=hook, headers=author.headers)
    assert refused.status_code == 409
    assert refused.json()["title"] == "Change control"

    change = _propose(client, author, [{"kind": "webhook", "key": "erp", "body": hook}])
    (statement,) = change["weakening"]
    assert 'sends event kinds "record.created" to https://erp.example.com/hook' in statement["text"]
    assert _approve(client, qa, change).status_code == 200
    activated = client.post(f"{API}/{change['id']}/activate", json={}, headers=author.headers)
    assert activated.status_code == 200, activated.text
    created = client.get("/api/v1/webhooks/erp", headers=author.headers)
    assert created.status_code == 200
    # A new secret is a credential, not configuration: its operator sets it at once.
    rotated = client.patch(
        "/api/v1/webhooks/erp", json={"rotate_secret": True}, headers=author.headers
    )
    assert rotated.status_code == 200 and rotated.json()["secret"].startswith("whsec_")
    widened = client.patch("/api/v1/webhooks/erp", json={"kinds": []}, headers=author.headers)
    assert widened.status_code == 409
