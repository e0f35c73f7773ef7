"""The workflow engine: guards, roles, separation of duties, signatures, actions, races."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select, text

from labledger.db.tables import audit_event, record, signature
from labledger.errors import Conflict, Forbidden, ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.metadata import versions
from labledger.metadata.types import definition_context, publish_type
from labledger.records.service import create_record, update_record
from labledger.workflows.definitions import WORKFLOW_KIND, publish_workflow
from labledger.workflows.engine import SignatureInput, available_transitions, run_transition
from labledger.workflows.model import workflow_model
from tests.conftest import TEST_PASSWORD
from tests.tampering import bypassing_triggers
from tests.workflow_definitions import JOB_FLOW, TASK_FLOW, job_type, task_type


@pytest.fixture
def people(db, make_person):
    """analyst (creates, enters), reviewer, second reviewer, qa."""
    return {
        "analyst": make_person("alice", "analyst"),
        "reviewer": make_person("rob", "reviewer"),
        "analyst2": make_person("bella", "analyst"),
        "qa": make_person("quinn", "qa"),
    }


@pytest.fixture
def flows(db, people):
    with db.write() as conn:
        publish_workflow(conn, SYSTEM, TASK_FLOW)
        publish_workflow(conn, SYSTEM, JOB_FLOW)
        publish_type(
            conn, SYSTEM, job_type(), context=definition_context(conn, "job", extra_types={"task"})
        )
        publish_type(conn, SYSTEM, task_type())


def _create(db, person, type_key, data) -> dict[str, Any]:
    with db.write() as conn:
        return create_record(conn, person.principal, type_key, data)


def _run(db, person, type_key, record_id, transition, *, password=None, reason=None, version=None):
    sig = SignatureInput(person.username, password) if password else None
    return run_transition(
        db,
        person.principal,
        type_key,
        record_id,
        transition,
        reason=reason,
        signature=sig,
        expected_version=version,
    )


def _count(db, table) -> int:
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


@pytest.mark.requirement("REQ-WF-01")
def test_record_starts_in_initial_state(db, flows, people):
    job = _create(db, people["analyst"], "job", {"title": "Lot 7"})
    assert job["state"] == "open"


@pytest.mark.requirement("REQ-WF-01")
def test_full_path_with_actions_signatures_and_parent_transition(db, flows, people):
    job = _create(db, people["analyst"], "job", {"title": "Lot 7"})
    job = _run(db, people["analyst"], "job", job["id"], "start")
    assert job["state"] == "in_progress"
    with db.read() as conn:
        task_id = conn.execute(select(record.c.id).where(record.c.type_key == "task")).scalar_one()
        task_row = conn.execute(select(record).where(record.c.id == task_id)).mappings().one()
    assert task_row["data"] == {"job": job["id"], "name": "Lot 7 task"}
    assert task_row["state"] == "pending"

    with pytest.raises(ValidationFailed, match="Value"):
        _run(db, people["analyst"], "task", task_id, "enter")
    with db.write() as conn:
        update_record(
            conn,
            people["analyst"].principal,
            "task",
            task_id,
            {"value": 4.2},
            expected_version=1,
        )
    _run(db, people["analyst"], "task", task_id, "enter")
    with pytest.raises(ValidationFailed, match="All tasks must be reviewed first"):
        _run(db, people["analyst"], "job", job["id"], "to_review")

    reviewed = _run(db, people["reviewer"], "task", task_id, "review", password=TEST_PASSWORD)
    assert reviewed["state"] == "reviewed"
    with db.read() as conn:
        job_state = conn.execute(
            select(record.c.state).where(record.c.id == job["id"])
        ).scalar_one()
    assert job_state == "in_review", "the last review moves the job on automatically"

    with pytest.raises(Forbidden, match="Only these roles"):
        _run(db, people["analyst"], "job", job["id"], "release", password=TEST_PASSWORD)
    released = _run(db, people["qa"], "job", job["id"], "release", password=TEST_PASSWORD)
    assert released["state"] == "released"


@pytest.mark.requirement("REQ-WF-03")
def test_creator_may_not_release_own_job(db, flows, make_person):
    both = make_person("casey", "analyst", "qa")
    job = _create(db, both, "job", {"title": "Own"})
    with db.write() as conn:
        conn.execute(record.update().where(record.c.id == job["id"]).values(state="in_review"))
    with pytest.raises(Forbidden, match="Separation of duties"):
        _run(db, both, "job", job["id"], "release", password=TEST_PASSWORD)


@pytest.mark.requirement("REQ-SIG-01")
def test_release_sets_fields_and_stores_signature(db, flows, people, make_person):
    qa_creator = people["qa"]
    job = _create(db, people["analyst"], "job", {"title": "Lot 8"})
    with db.write() as conn:
        conn.execute(record.update().where(record.c.id == job["id"]).values(state="in_review"))
    released = _run(db, qa_creator, "job", job["id"], "release", password=TEST_PASSWORD)
    assert released["state"] == "released"
    assert released["data"]["released_on"]
    with db.read() as conn:
        sig = conn.execute(select(signature)).mappings().one()
        actions = [
            r.action
            for r in conn.execute(
                select(audit_event.c.action)
                .where(audit_event.c.record_id == job["id"])
                .order_by(audit_event.c.seq)
            )
        ]
    assert sig["printed_name"] == "Quinn Tester"
    assert sig["meaning"] == "Approved for release"
    assert sig["record_version"] == released["version"]
    assert len(sig["content_hash"]) == 64
    assert actions == ["record.create", "record.transition", "record.sign"]


@pytest.mark.requirement("REQ-SIG-05")
def test_wrong_password_refused_audited_and_locks_after_five(db, flows, people):
    job = _create(db, people["analyst"], "job", {"title": "Lot 9"})
    with db.write() as conn:
        conn.execute(record.update().where(record.c.id == job["id"]).values(state="in_review"))
    for _ in range(4):
        with pytest.raises(Forbidden, match="Signature refused"):
            _run(db, people["qa"], "job", job["id"], "release", password="wrong password!")
    with pytest.raises(Forbidden, match="locked"):
        _run(db, people["qa"], "job", job["id"], "release", password="wrong password!")
    with pytest.raises(Forbidden, match="locked"):
        _run(db, people["qa"], "job", job["id"], "release", password=TEST_PASSWORD)
    with db.read() as conn:
        failed = conn.execute(
            select(func.count())
            .select_from(audit_event)
            .where(audit_event.c.action == "signature.failed")
        ).scalar_one()
        locks = conn.execute(
            select(func.count()).select_from(audit_event).where(audit_event.c.action == "user.lock")
        ).scalar_one()
        state = conn.execute(select(record.c.state).where(record.c.id == job["id"])).scalar_one()
    assert failed == 5 and locks == 1 and state == "in_review"
    assert _count(db, signature) == 0


@pytest.mark.requirement("REQ-SIG-04")
def test_signature_needs_own_account_and_changed_one_time_password(db, flows, people):
    job = _create(db, people["analyst"], "job", {"title": "Lot 10"})
    with db.write() as conn:
        conn.execute(record.update().where(record.c.id == job["id"]).values(state="in_review"))
    with pytest.raises(Forbidden, match="own account"):
        run_transition(
            db,
            people["qa"].principal,
            "job",
            job["id"],
            "release",
            signature=SignatureInput("rob", TEST_PASSWORD),
        )
    with db.write() as conn:
        conn.execute(
            text("UPDATE app_user SET must_change_password = :t WHERE username = 'quinn'"),
            {"t": True},
        )
    with pytest.raises(Forbidden, match="one-time password"):
        _run(db, people["qa"], "job", job["id"], "release", password=TEST_PASSWORD)


@pytest.mark.requirement("REQ-SIG-02")
def test_signature_status_after_edit_and_when_moved(db, flows, people, client):
    task = _create(db, people["analyst"], "task", {"name": "t1", "value": 1})
    _run(db, people["analyst"], "task", task["id"], "enter")
    _run(db, people["reviewer"], "task", task["id"], "review", password=TEST_PASSWORD)
    url = f"/api/v1/records/task/{task['id']}/signatures"
    items = client.get(url, headers=people["reviewer"].headers).json()["items"]
    assert [(s["meaning"], s["status"], s["printed_name"]) for s in items] == [
        ("Reviewed", "current", "Rob Tester")
    ]
    with db.write() as conn:  # content changed behind the workflow's back
        conn.execute(
            record.update().where(record.c.id == task["id"]).values(data={"name": "t1", "value": 2})
        )
    items = client.get(url, headers=people["reviewer"].headers).json()["items"]
    assert items[0]["status"] == "earlier_version"
    other = _create(db, people["analyst"], "task", {"name": "t1", "value": 1})
    with bypassing_triggers(db, "signature") as conn:  # move the signature to another record
        conn.execute(signature.update().values(record_id=other["id"]))
    moved = client.get(
        f"/api/v1/records/task/{other['id']}/signatures", headers=people["reviewer"].headers
    ).json()["items"]
    assert moved[0]["status"] == "invalid"


@pytest.mark.requirement("REQ-WF-03")
def test_reviewer_must_not_be_the_analyst(db, flows, people, make_person):
    both = make_person("sam", "analyst", "reviewer")
    task = _create(db, both, "task", {"name": "t", "value": 1})
    _run(db, both, "task", task["id"], "enter")
    with pytest.raises(Forbidden, match="must not be the analyst"):
        _run(db, both, "task", task["id"], "review", password=TEST_PASSWORD)


@pytest.mark.requirement("REQ-AUD-06", "REQ-WF-05")
def test_reason_required_and_state_locks_fields(db, flows, people):
    task = _create(db, people["analyst"], "task", {"name": "t", "value": 1})
    entered = _run(db, people["analyst"], "task", task["id"], "enter")
    with pytest.raises(ValidationFailed, match="reason"):
        _run(db, people["reviewer"], "task", task["id"], "request_retest")
    with db.write() as conn, pytest.raises(ValidationFailed, match="current state"):
        update_record(
            conn,
            people["analyst"].principal,
            "task",
            task["id"],
            {"name": "x"},
            expected_version=entered["version"],
        )
    done = _run(db, people["reviewer"], "task", task["id"], "request_retest", reason="drift")
    assert done["state"] == "retest"


def test_api_status_codes(db, flows, people, client):
    job = _create(db, people["analyst"], "job", {"title": "Lot 11"})
    base = f"/api/v1/records/job/{job['id']}/transitions"
    listed = client.get(base, headers=people["qa"].headers).json()["items"]
    by_key = {t["key"]: t for t in listed}
    assert by_key["start"]["allowed"] is False
    assert by_key["start"]["why_not"][0]["kind"] == "role"
    assert by_key["cancel"]["reason_required"] is True
    assert client.post(f"{base}/start", json={}, headers=people["qa"].headers).status_code == 403
    response = client.post(f"{base}/cancel", json={}, headers=people["qa"].headers)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    ok = client.post(f"{base}/start", json={}, headers=people["analyst"].headers)
    assert ok.status_code == 200 and ok.json()["state"] == "in_progress"
    again = client.post(f"{base}/start", json={}, headers=people["analyst"].headers)
    assert again.status_code == 409
    assert (
        client.post(f"{base}/nope", json={}, headers=people["analyst"].headers).status_code == 404
    )


@pytest.mark.requirement("REQ-WF-01")
def test_racing_transitions_one_wins(db, flows, people):
    job = _create(db, people["analyst"], "job", {"title": "Race"})
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def attempt(person):
        barrier.wait()
        try:
            _run(db, person, "job", job["id"], "start")
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [
        threading.Thread(target=attempt, args=(p,)) for p in (people["analyst"], people["analyst2"])
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    with db.read() as conn:
        transitions = conn.execute(
            select(func.count())
            .select_from(audit_event)
            .where(
                audit_event.c.record_id == job["id"], audit_event.c.action == "record.transition"
            )
        ).scalar_one()
        tasks = conn.execute(
            select(func.count()).select_from(record).where(record.c.type_key == "task")
        ).scalar_one()
    assert transitions == 1 and tasks == 1


@pytest.mark.parametrize(
    "bad, path",
    [
        ({"to": "nowhere"}, "transitions[0].to"),
        ({"guard": "value >"}, "transitions[0].guard"),
        ({"guard": "__import__('os').system('id')"}, "transitions[0].guard"),
        ({"guard": "value.__class__"}, "transitions[0].guard"),
        ({"roles": ["ghost"]}, "transitions[0].roles[0]"),
    ],
)
def test_invalid_workflows_refused_at_publish(db, bad, path):
    definition = {
        **TASK_FLOW,
        "key": "broken",
        "transitions": [{**TASK_FLOW["transitions"][0], **bad}],
    }
    with db.write() as conn, pytest.raises(ValidationFailed) as caught:
        publish_workflow(conn, SYSTEM, definition)
    assert path in [e.field for e in caught.value.errors]


def test_guard_naming_unknown_field_refused_when_type_published(db, people):
    flow = {
        **TASK_FLOW,
        "key": "picky",
        "transitions": [{**TASK_FLOW["transitions"][0], "guard": "valeu > 1"}],
    }
    with db.write() as conn:
        publish_workflow(conn, SYSTEM, flow)
        publish_type(conn, SYSTEM, job_type() | {"workflow": None})
    with db.write() as conn, pytest.raises(ValidationFailed) as caught:
        publish_type(conn, SYSTEM, task_type() | {"workflow": "picky"})
    assert "unknown name 'valeu'" in str(caught.value)


AUTHORITY = [
    (transition["key"], role)
    for transition in TASK_FLOW["transitions"]
    for role in ("analyst", "reviewer", "qa")
]


@pytest.mark.requirement("REQ-WF-02")
@pytest.mark.parametrize("transition_key, role", AUTHORITY)
def test_authority_table_from_metadata(db, flows, make_person, transition_key, role):
    """For each transition and role: allowed roles pass the role check, all others are refused."""
    transition = next(t for t in TASK_FLOW["transitions"] if t["key"] == transition_key)
    author = make_person("author", "analyst")
    actor = make_person("actor", role)
    task = _create(db, author, "task", {"name": "t", "value": 1})
    start = transition["from"][0]
    with db.write() as conn:
        conn.execute(record.update().where(record.c.id == task["id"]).values(state=start))
    allowed = role in transition["roles"]
    try:
        _run(db, actor, "task", task["id"], transition_key, password=TEST_PASSWORD, reason="why")
        outcome = "ran"
    except Forbidden:
        outcome = "refused"
    assert outcome == ("ran" if allowed else "refused")


@pytest.mark.requirement("REQ-WF-04")
def test_available_transitions_explain_guard(db, flows, people):
    job = _create(db, people["analyst"], "job", {"title": "Lot 12"})
    _run(db, people["analyst"], "job", job["id"], "start")
    with db.read() as conn:
        items = {
            t["key"]: t
            for t in available_transitions(conn, people["analyst"].principal, "job", job["id"])
        }
    assert items["to_review"]["why_not"] == [
        {"kind": "guard", "message": "All tasks must be reviewed first."}
    ]


def test_overdue_records_are_listed(db, flows, people, client):
    late = _create(db, people["analyst"], "job", {"title": "Late", "due": "2020-01-01"})
    _create(db, people["analyst"], "job", {"title": "Future", "due": "2999-01-01"})
    done = _create(db, people["analyst"], "job", {"title": "Done late", "due": "2020-01-01"})
    _create(db, people["analyst"], "job", {"title": "No due date"})
    with db.write() as conn:
        conn.execute(record.update().where(record.c.id == done["id"]).values(state="released"))
    response = client.get("/api/v1/records/job?overdue=true", headers=people["analyst"].headers)
    assert [r["id"] for r in response.json()["items"]] == [late["id"]]
    no_due = client.get("/api/v1/records/task?overdue=true", headers=people["analyst"].headers)
    assert no_due.status_code == 422


@pytest.mark.requirement("REQ-WF-02")
def test_role_is_refused_before_the_password_is_checked(db, flows, people):
    job = _create(db, people["analyst"], "job", {"title": "Lot 13"})
    with db.write() as conn:
        conn.execute(record.update().where(record.c.id == job["id"]).values(state="in_review"))
    with pytest.raises(Forbidden, match="Only these roles"):
        _run(db, people["analyst"], "job", job["id"], "release", password="wrong password!")
    with db.read() as conn:
        failed = conn.execute(
            select(func.count())
            .select_from(audit_event)
            .where(audit_event.c.action == "signature.failed")
        ).scalar_one()
    assert failed == 0, "a wrong password of someone without the role is never counted"


def _job_flow_with_stray_properties() -> dict[str, Any]:
    """The job flow as an earlier, less strict release may have stored it: properties
    the structs no longer mean, on the workflow and at every depth in it."""
    states = [dict(s) for s in JOB_FLOW["states"]]
    states[1]["colour"] = "amber"
    transitions = {t["key"]: dict(t) for t in JOB_FLOW["transitions"]}
    start, release = transitions["start"], transitions["release"]
    start["icon"] = "play"
    start["actions"] = [{**start["actions"][0], "note": "one task per job"}]
    release["signature"] = {**release["signature"], "display": "stamp"}
    release["separation"] = {**release["separation"], "explained": True}
    return {**JOB_FLOW, "owner": "QA", "states": states, "transitions": [*transitions.values()]}


def test_a_stored_workflow_version_with_properties_it_no_longer_means_still_runs(db, flows, people):
    stray = _job_flow_with_stray_properties()
    with db.write() as conn, pytest.raises(ValidationFailed) as refused:
        publish_workflow(conn, SYSTEM, stray)
    assert "transitions[0].icon" in [e.field for e in refused.value.errors]
    with db.write() as conn:
        assert (
            versions.store(conn, WORKFLOW_KIND, "job_flow", stray, "earlier-release").version == 2
        )

    with db.read() as conn:
        model = workflow_model(conn, "job_flow")
        assert model.version == 2
        assert "owner" not in model.definition and "icon" not in model.transitions["start"]
        assert model.transition_specs["release"].signature_meaning == "Approved for release"
    job = _create(db, people["analyst"], "job", {"title": "Lot 8"})
    assert _run(db, people["analyst"], "job", job["id"], "start")["state"] == "in_progress"
    assert _count(db, record) == 2, "the create action ran"
    with db.write() as conn:
        relabelled = publish_type(
            conn,
            SYSTEM,
            {**job_type(), "label": "Job order"},
            context=definition_context(conn, "job", extra_types={"task"}),
        )
    assert relabelled.version == 2, "a type is still checked against the stored workflow"


@pytest.mark.requirement("REQ-WF-04")
def test_a_guard_without_a_message_names_the_condition_that_failed(db, flows, people):
    flow = {**JOB_FLOW, "transitions": [dict(t) for t in JOB_FLOW["transitions"]]}
    to_review = next(t for t in flow["transitions"] if t["key"] == "to_review")
    to_review.pop("guard_message")
    to_review["guard"] = "title != '' and  all_referencing_in('task', 'job', 'reviewed')"
    with db.write() as conn:
        publish_workflow(conn, SYSTEM, flow)
    job = _create(db, people["analyst"], "job", {"title": "Lot 14"})
    _run(db, people["analyst"], "job", job["id"], "start")
    with pytest.raises(ValidationFailed) as refused:
        _run(db, people["analyst"], "job", job["id"], "to_review")
    assert refused.value.detail == "Not met: all_referencing_in('task', 'job', 'reviewed')."
