"""The tampering catalogue: every way of editing stored data outside the platform
that ``audit verify`` must detect, on both databases.

Each case starts from one small installation with records, a signed workflow
step, every kind of configuration and a checkpoint, changes something by SQL
the way an intruder with database access (triggers switched off) would, and
requires ``audit verify`` to name the discrepancy. The untouched installation
verifies clean, so each case fails if the check it covers were removed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, delete, func, insert, select, update

from labledger import cli
from labledger.audit.checkpoints import Checkpoint, create_checkpoint, parse_checkpoint
from labledger.audit.trail import GENESIS_HASH, LANES, event_hash
from labledger.audit.verify import VerifyReport, verify
from labledger.db.tables import (
    audit_event,
    audit_head,
    config_item,
    config_version,
    record,
    role,
    signature,
)
from labledger.errors import ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.integration.mappings import publish_mapping
from labledger.metadata.types import definition_context, publish_type
from labledger.printing.templates import publish_print_template
from labledger.records.service import create_record
from labledger.workflows.definitions import publish_workflow
from labledger.workflows.engine import SignatureInput, run_transition
from tests.conftest import TEST_PASSWORD
from tests.definitions import batch_type, database_url
from tests.tampering import bypassing_triggers
from tests.test_integration_mappings import batch_mapping
from tests.test_printing import label_template
from tests.web.helpers import sign_in
from tests.workflow_definitions import JOB_FLOW, TASK_FLOW, job_type, task_type


@dataclass
class Installation:
    """What the cases tamper with."""

    task_id: int
    task_number: str
    batch_id: int
    batch_number: str
    checkpoint: Checkpoint


@pytest.fixture
def installation(db, make_person) -> Installation:
    analyst = make_person("alice", "analyst")
    reviewer = make_person("rob", "reviewer")
    make_person("quinn", "qa")
    with db.write() as conn:
        publish_workflow(conn, SYSTEM, TASK_FLOW)
        publish_workflow(conn, SYSTEM, JOB_FLOW)
        context = definition_context(conn, "job", extra_types={"task"})
        publish_type(conn, SYSTEM, job_type(), context=context)
        publish_type(conn, SYSTEM, task_type())
        publish_type(conn, SYSTEM, batch_type())
        publish_print_template(conn, SYSTEM, label_template())
        publish_mapping(conn, SYSTEM, batch_mapping())
        task = create_record(conn, analyst.principal, "task", {"name": "assay", "value": 7.5})
        batch = create_record(
            conn,
            analyst.principal,
            "batch",
            {"code": "B-1", "product": "Salt"},
        )
    for person, step, password in ((analyst, "enter", None), (reviewer, "review", TEST_PASSWORD)):
        run_transition(
            db,
            person.principal,
            "task",
            task["id"],
            step,
            signature=SignatureInput(person.username, password) if password else None,
        )
    with db.write() as conn:
        checkpoint = create_checkpoint(conn, SYSTEM.username)
    return Installation(task["id"], task["number"], batch["id"], batch["number"], checkpoint)


def _report(db, checkpoint: Checkpoint | None = None) -> VerifyReport:
    with db.read() as conn:
        return verify(conn, checkpoint=checkpoint)


def _events(conn: Connection) -> list[dict[str, Any]]:
    return [
        dict(r) for r in conn.execute(select(audit_event).order_by(audit_event.c.seq)).mappings()
    ]


# --- the cases: each tampers and says what the report must name ---------------------------

Tamper = Callable[[Connection, Installation], tuple[str, str]]


def _lane_events(conn: Connection, lane: int) -> list[dict[str, Any]]:
    return [e for e in _events(conn) if e["lane"] == lane]


def _edit_event(conn, inst):
    conn.execute(update(audit_event).where(audit_event.c.seq == 5).values(actor="mallory"))
    return "chain", "event 5 was altered"


def _delete_event(conn, inst):
    gone = _lane_events(conn, 1)[4]
    conn.execute(delete(audit_event).where(audit_event.c.seq == gone["seq"]))
    return "chain", f"lane 1 is missing its event {gone['lane_seq']}"


def _insert_event(conn, inst):
    """A forged event after the fourth of lane 1, every later one moved up a place."""
    events = _events(conn)
    after = _lane_events(conn, 1)[3]
    later = [e for e in events if e["seq"] > after["seq"]]
    for row in reversed(later):
        moved = {"seq": row["seq"] + 1}
        if row["lane"] == 1:
            moved["lane_seq"] = row["lane_seq"] + 1
        conn.execute(update(audit_event).where(audit_event.c.seq == row["seq"]).values(moved))
    forged = {
        **after,
        "seq": after["seq"] + 1,
        "lane_seq": after["lane_seq"] + 1,
        "actor": "mallory",
        "prev_hash": after["hash"],
    }
    forged["hash"] = event_hash(forged)
    conn.execute(insert(audit_event).values(forged))
    next_in_lane = next(e for e in later if e["lane"] == 1)
    return "chain", f"event {next_in_lane['seq'] + 1} does not link to event {forged['seq']}"


def _reorder_events(conn, inst):
    """Two neighbours in lane 1 swap their places in the trail and in the lane."""
    a, b = _lane_events(conn, 1)[4:6]
    moves = ((a["seq"], -1, -1), (b["seq"], a["seq"], a["lane_seq"]), (-1, b["seq"], b["lane_seq"]))
    for seq, new_seq, position in moves:
        conn.execute(
            update(audit_event)
            .where(audit_event.c.seq == seq)
            .values(seq=new_seq, lane_seq=position)
        )
    return "chain", f"event {a['seq']} does not link to event"


def _replace_event(conn, inst):
    events = _events(conn)
    replaced = {**events[4], "reason": "replaced"}
    if conn.dialect.name == "sqlite":
        conn.execute(insert(audit_event).prefix_with("OR REPLACE").values(replaced))
    else:
        conn.execute(delete(audit_event).where(audit_event.c.seq == replaced["seq"]))
        conn.execute(insert(audit_event).values(replaced))
    return "chain", f"event {replaced['seq']} was altered"


def _rewrite_lanes(conn) -> None:
    """Change history, then recompute every hash of every lane and their tips."""
    events = _events(conn)
    conn.execute(delete(audit_event))
    tips: dict[int, str] = {}
    for row in events:
        if row["actor"] == "rob":
            row["actor"] = "mallory"
        row["prev_hash"] = tips.get(row["lane"], GENESIS_HASH)
        if row["action"] == "audit.checkpoint":  # its record of the other lanes, too
            named = row["details"]["lanes"]
            row["details"] = {"lanes": [[n, p, tips.get(n, GENESIS_HASH)] for n, p, _ in named]}
        row["hash"] = tips[row["lane"]] = event_hash(row)
        conn.execute(insert(audit_event).values(row))
    for lane, tip in tips.items():
        conn.execute(update(audit_head).where(audit_head.c.id == lane).values(hash=tip))


def _rewrite_whole_chain(conn, inst):
    """Only the checkpoint kept outside the system sees it."""
    _rewrite_lanes(conn)
    return "checkpoint", "the chain was rewritten"


def _rewrite_a_lane(conn, inst):
    """A lane rewritten up to its tip, the checkpoint event left alone: it names the old tip."""
    lane = next(e["lane"] for e in _events(conn) if e["actor"] == "rob")
    events = _lane_events(conn, lane)
    conn.execute(delete(audit_event).where(audit_event.c.lane == lane))
    prev = GENESIS_HASH
    for row in events:
        if row["actor"] == "rob":
            row["actor"] = "mallory"
        row["prev_hash"] = prev
        row["hash"] = prev = event_hash(row)
        conn.execute(insert(audit_event).values(row))
    conn.execute(update(audit_head).where(audit_head.c.id == lane).values(hash=prev))
    return "checkpoint", f"says lane {lane} ended at position"


def _record_data(conn, inst):
    conn.execute(
        update(record).where(record.c.id == inst.task_id).values(data={"name": "assay", "value": 9})
    )
    return "record", f"record {inst.task_number} differs from event"


def _event_details_not_an_object(conn, inst):
    sign = conn.execute(select(audit_event.c.seq).where(audit_event.c.action == "record.sign"))
    seq = sign.scalar_one()
    conn.execute(update(audit_event).where(audit_event.c.seq == seq).values(details=[1, 2]))
    return "chain", f"event {seq} was altered"


def _record_data_not_an_object(conn, inst):
    conn.execute(update(record).where(record.c.id == inst.task_id).values(data=["x"]))
    return "record", f"record {inst.task_number} differs"


def _record_state(conn, inst):
    conn.execute(update(record).where(record.c.id == inst.batch_id).values(state="released"))
    return "record", f"record {inst.batch_number} differs"


def _record_inserted(conn, inst):
    row = dict(conn.execute(select(record).where(record.c.id == inst.batch_id)).mappings().one())
    del row["id"]
    row.update(number="BAT-FORGED", data={"code": "B-9", "product": "Gold"})
    conn.execute(insert(record).values(row))
    return "record", "record BAT-FORGED has no audit event"


def _record_deleted(conn, inst):
    conn.execute(delete(record).where(record.c.id == inst.batch_id))
    return "record", f"record {inst.batch_number} was removed"


def _signature_column(column: str, value: Any) -> Tamper:
    def tamper(conn, inst):
        current = conn.execute(select(signature.c[column])).scalar_one()
        new = value(current) if callable(value) else value
        conn.execute(update(signature).values({column: new}))
        return "signature", f"({column})" if column != "content" else "content was altered"

    return tamper


def _signature_deleted(conn, inst):
    conn.execute(delete(signature))
    return "signature", "was removed"


def _signature_copied(conn, inst):
    row = dict(conn.execute(select(signature)).mappings().one())
    del row["id"]
    conn.execute(insert(signature).values(row))
    return "signature", "is a copy of another signature"


def _config_body(kind: str, key: str) -> Tamper:
    def tamper(conn, inst):
        where = (config_version.c.kind == kind) & (config_version.c.key == key)
        body = conn.execute(select(config_version.c.body).where(where)).scalars().first()
        conn.execute(update(config_version).where(where).values(body={**body, "label": "Forged"}))
        return "configuration", f"{kind} '{key}' version 1 differs from event"

    return tamper


def _config_rolled_back(conn, inst):
    """Point a workflow at a version that was never published (as if to drop a signature)."""
    where = (config_item.c.kind == "workflow") & (config_item.c.key == "task_flow")
    conn.execute(update(config_item).where(where).values(current_version=7))
    return "configuration", "is set to version 7, but version 1 was published last"


def _role_changed(conn, inst):
    conn.execute(update(role).where(role.c.key == "analyst").values(permissions=["configure"]))
    return "role", "role 'analyst' differs from event"


def _head_removed(conn, inst):
    conn.execute(delete(audit_head))
    return "head", "the chain tip of lane 1 (audit_head) is missing"


def _head_added(conn, inst):
    head = dict(conn.execute(select(audit_head).where(audit_head.c.id == 1)).mappings().one())
    conn.execute(insert(audit_head).values({**head, "id": LANES + 1}))
    return "head", f"hold a row for lane {LANES + 1}, which does not exist"


CASES: dict[str, Tamper] = {
    "edit an event": _edit_event,
    "delete an event": _delete_event,
    "insert an event": _insert_event,
    "reorder events": _reorder_events,
    "replace an event": _replace_event,
    "rewrite the whole chain after a checkpoint": _rewrite_whole_chain,
    "rewrite one lane before a checkpoint": _rewrite_a_lane,
    "record data": _record_data,
    "record state": _record_state,
    "event details replaced by a list": _event_details_not_an_object,
    "record data replaced by a list": _record_data_not_an_object,
    "record inserted by SQL": _record_inserted,
    "record deleted by SQL": _record_deleted,
    "signature meaning": _signature_column("meaning", "Approved"),
    "signature printed name": _signature_column("printed_name", "Someone Else"),
    "signature time": _signature_column("signed_at", lambda t: t - timedelta(days=3)),
    "signature signer": _signature_column("signer", "alice"),
    "signature record version": _signature_column("record_version", 1),
    "signature transition": _signature_column("transition", "enter"),
    "signature content hash": _signature_column("content_hash", "0" * 64),
    "signature content": _signature_column("content", {"record_id": 0}),
    "signature type": _signature_column("type_key", "job"),
    "signature moved to its audit event's neighbour": _signature_column(
        "audit_seq", lambda s: s - 1
    ),
    "signature deleted": _signature_deleted,
    "signature copied": _signature_copied,
    "object type definition": _config_body("object_type", "task"),
    "workflow definition": _config_body("workflow", "task_flow"),
    "print template definition": _config_body("print_template", "batch_label"),
    "import mapping definition": _config_body("mapping", "batch_list"),
    "workflow rolled back to another version": _config_rolled_back,
    "role permissions": _role_changed,
    "chain tip removed": _head_removed,
    "chain tip of a lane that does not exist": _head_added,
}


@pytest.mark.requirement("REQ-AUD-02")
def test_the_untouched_installation_verifies(db, installation):
    report = _report(db, installation.checkpoint)
    assert report.ok, report.discrepancies
    assert report.records == 2 and report.signatures == 1 and report.not_provable == 0
    assert report.config_versions >= 6 and report.roles >= 3


@pytest.mark.requirement("REQ-AUD-02", "REQ-AUD-04")
@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_tampering_is_detected_and_named(db, installation, case, capsys):
    tables = ("audit_event", "signature")
    with bypassing_triggers(db, *tables) as conn:
        kind, words = CASES[case](conn, installation)
    report = _report(db, installation.checkpoint)
    assert not report.ok
    named = [d for d in report.discrepancies if d.kind == kind and words in d.message]
    assert named, report.discrepancies
    url = database_url(db)
    command = ["--database", url, "audit", "verify", "--checkpoint", installation.checkpoint.text]
    assert cli.main(command) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert "AUDIT TRAIL NOT INTACT" in err and named[0].message in err
    assert "Traceback" not in err


@pytest.mark.requirement("REQ-AUD-04")
def test_record_discrepancies_name_the_field(db, installation):
    with db.write() as conn:
        conn.execute(
            update(record)
            .where(record.c.id == installation.task_id)
            .values(data={"name": "assay", "value": 9}, state="entered")
        )
    problems = _report(db).discrepancies
    assert {(d.record_number, d.field) for d in problems} == {
        (installation.task_number, "data.value"),
        (installation.task_number, "state"),
    }
    assert all(d.seq is not None for d in problems)


@pytest.mark.requirement("REQ-SIG-02")
def test_a_signature_edited_after_the_fact_shows_as_invalid(db, installation, client, make_person):
    viewer = make_person("vera", "analyst")
    url = f"/api/v1/records/task/{installation.task_id}/signatures"
    assert client.get(url, headers=viewer.headers).json()["items"][0]["status"] == "current"
    with bypassing_triggers(db, "signature") as conn:
        conn.execute(update(signature).values(meaning="Approved for release"))
    assert client.get(url, headers=viewer.headers).json()["items"][0]["status"] == "invalid"


@pytest.mark.requirement("REQ-SIG-02", "REQ-AUD-04")
def test_signed_content_edited_under_its_hash_shows_as_invalid(
    db, installation, client, make_person
):
    """The stored copy of what was signed is outside the manifest its event proves: only
    hashing it again catches an edit that leaves the hash alone."""
    viewer = make_person("vera", "analyst")
    url = f"/api/v1/records/task/{installation.task_id}/signatures"
    with db.read() as conn:
        content = conn.execute(select(signature.c.content)).scalar_one()
    forged = {**content, "data": {**content["data"], "value": 999}}
    with bypassing_triggers(db, "signature") as conn:
        conn.execute(update(signature).values(content=forged))
    assert client.get(url, headers=viewer.headers).json()["items"][0]["status"] == "invalid"
    problems = _report(db).discrepancies
    assert [d.message for d in problems if d.kind == "signature"] == [
        f"signature 1 on record {installation.task_number}: the signed content was altered"
    ]


@pytest.mark.requirement("REQ-AUD-03")
def test_the_platform_cannot_change_or_replace_events_and_signatures(db, installation):
    """The append-only triggers stand on both databases, INSERT OR REPLACE included."""
    with db.read() as conn:
        event = dict(
            conn.execute(select(audit_event).where(audit_event.c.seq == 3)).mappings().one()
        )
        sig = dict(conn.execute(select(signature)).mappings().one())
    attempts = [
        update(signature).values(meaning="x"),
        delete(signature),
    ]
    if db.dialect == "sqlite":
        attempts += [
            insert(audit_event).prefix_with("OR REPLACE").values({**event, "actor": "mallory"}),
            insert(signature).prefix_with("OR REPLACE").values({**sig, "meaning": "x"}),
        ]
    for statement in attempts:
        with pytest.raises(Exception, match="append-only"), db.write() as conn:
            conn.execute(statement)
    assert _report(db).ok


@pytest.mark.requirement("REQ-AUD-05")
def test_a_checkpoint_is_recorded_and_checked(db, installation, capsys):
    url = database_url(db)
    assert cli.main(["--database", url, "audit", "checkpoint"]) == 0
    line = capsys.readouterr().out.strip()
    checkpoint = parse_checkpoint(line)
    with db.read() as conn:
        last = (
            conn.execute(select(audit_event).order_by(audit_event.c.seq.desc())).mappings().first()
        )
    assert (last["action"], last["seq"], last["hash"]) == (
        "audit.checkpoint",
        checkpoint.seq,
        checkpoint.hash,
    )
    assert cli.main(["--database", url, "audit", "verify", "--checkpoint", line]) == 0
    assert "up to checkpoint" in capsys.readouterr().out
    beyond = Checkpoint(checkpoint.seq + 5, checkpoint.hash).text
    assert cli.main(["--database", url, "audit", "verify", "--checkpoint", beyond]) == 1
    assert "but the chain ends at" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text", ["", "labledger-checkpoint:12", "x" * 200, "labledger-checkpoint:1:zz"]
)
def test_a_malformed_checkpoint_is_refused_readably(db, installation, capsys, client, text):
    with pytest.raises(ValidationFailed, match="not a checkpoint"):
        parse_checkpoint(text)
    url = database_url(db)
    assert cli.main(["--database", url, "audit", "verify", "--checkpoint", text or " "]) == 1
    assert "not a checkpoint" in capsys.readouterr().err


def test_the_api_and_the_admin_page_show_the_same_result(db, installation, client, make_person):
    auditor = make_person("audrey", "auditor", permissions=("read_audit",))
    url = "/api/v1/audit/verify"
    line = installation.checkpoint.text
    assert client.get(url, params={"checkpoint": line}, headers=auditor.headers).json()["ok"]
    with db.write() as conn:
        conn.execute(update(record).where(record.c.id == installation.batch_id).values(state="x"))
    body = client.get(url, params={"checkpoint": line}, headers=auditor.headers).json()
    assert body["ok"] is False and body["problem_count"] == 1
    problem = body["discrepancies"][0]
    assert (problem["kind"], problem["record_number"], problem["field"]) == (
        "record",
        installation.batch_number,
        "state",
    )
    refused = client.get(url, params={"checkpoint": "nonsense"}, headers=auditor.headers)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["errors"][0]["field"] == "checkpoint"

    sign_in(client, "audrey", TEST_PASSWORD)
    page = client.get("/audit/verify", params={"checkpoint": line})
    assert "AUDIT TRAIL NOT INTACT" in page.text and problem["message"] in page.text
    bad = client.get("/audit/verify", params={"checkpoint": "<script>"})
    assert bad.status_code == 422
    assert "expected labledger-checkpoint" in bad.text and "<script>" not in bad.text


@pytest.mark.parametrize("damage", ["removed", "one too many"])
def test_writes_stop_readably_while_the_chain_tip_is_damaged(
    db, installation, client, make_person, damage
):
    analyst = make_person("ann", "analyst")
    with db.write() as conn:
        before = conn.execute(select(audit_event.c.seq)).all()
        if damage == "removed":
            conn.execute(delete(audit_head))
        else:
            head = dict(
                conn.execute(select(audit_head).where(audit_head.c.id == 1)).mappings().one()
            )
            conn.execute(insert(audit_head).values({**head, "id": LANES + 1}))
    response = client.post(
        "/api/v1/records/batch", json={"data": {"code": "B-2"}}, headers=analyst.headers
    )
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "labledger audit verify" in response.json()["detail"]
    with db.read() as conn:
        assert conn.execute(select(audit_event.c.seq)).all() == before
        assert conn.execute(select(record.c.number).where(record.c.number.like("BAT-%"))).all()
        numbers = conn.execute(select(record.c.data)).scalars().all()
    assert all(data.get("code") != "B-2" for data in numbers)


def test_verify_reads_one_moment_while_others_write(db, installation, make_person):
    """A change committed while verify runs must not look like tampering."""
    analyst = make_person("ann", "analyst")
    with db.snapshot() as conn:
        before = conn.execute(select(func.count()).select_from(record)).scalar_one()
        with db.write() as other:
            create_record(other, analyst.principal, "batch", {"code": "B-7"})
        assert conn.execute(select(func.count()).select_from(record)).scalar_one() == before
        assert verify(conn).ok
