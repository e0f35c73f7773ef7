"""One write path: a workflow step's values pass the same field checks as a person's
save, and fields the system sets (workflow actions, ``system_set``) are never a
person's to give, whichever way the values come in."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from labledger.db.tables import audit_event, record
from labledger.errors import ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.integration.importer import apply_import
from labledger.integration.mappings import publish_mapping
from labledger.metadata.types import publish_type
from labledger.records.service import create_record, update_record
from labledger.records.validation import SYSTEM_SET_MESSAGE
from labledger.workflows.definitions import publish_workflow
from labledger.workflows.engine import run_transition
from tests.definitions import refusal_recorded

GAUGE_FLOW: dict[str, Any] = {
    "key": "gauge_flow",
    "label": "Gauge flow",
    "states": [
        {"key": "open", "label": "Open", "initial": True},
        {"key": "done", "label": "Done", "editable": ["note"]},
        {"key": "archived", "label": "Archived", "final": True, "editable": "none"},
    ],
    "transitions": [
        {
            "key": "finish",
            "label": "Finish",
            "from": ["open"],
            "to": "done",
            "roles": ["tech"],
            "actions": [
                {"type": "set", "field": "checked_by", "expression": "user.username"},
                {"type": "set", "field": "checked_at", "expression": "now()"},
            ],
        },
        {
            "key": "overflow",
            "label": "Overflow",
            "from": ["open"],
            "to": "done",
            "roles": ["tech"],
            "actions": [{"type": "set", "field": "score", "expression": "1000"}],
        },
        {
            "key": "too_long",
            "label": "Too long",
            "from": ["open"],
            "to": "done",
            "roles": ["tech"],
            "actions": [{"type": "set", "field": "code", "expression": "'xyz'"}],
        },
        {
            "key": "bad_option",
            "label": "Bad option",
            "from": ["open"],
            "to": "done",
            "roles": ["tech"],
            "actions": [{"type": "set", "field": "level", "expression": "'zzz'"}],
        },
        {
            "key": "archive",
            "label": "Archive",
            "from": ["done"],
            "to": "archived",
            "roles": ["tech"],
            "actions": [{"type": "set", "field": "score", "expression": "7"}],
        },
    ],
}


def gauge_type() -> dict[str, Any]:
    return {
        "key": "gauge",
        "label": "Gauge",
        "plural": "Gauges",
        "numbering": "G-{####}",
        "workflow": "gauge_flow",
        "permissions": {"read": ["*"], "create": ["tech"], "edit": ["tech"]},
        "fields": [
            {"key": "name", "label": "Name", "type": "text", "required": True},
            {"key": "score", "label": "Score", "type": "integer", "max": 10},
            {"key": "code", "label": "Code", "type": "text", "max_length": 2},
            {
                "key": "level",
                "label": "Level",
                "type": "choice",
                "options": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}],
            },
            {"key": "checked_by", "label": "Checked by", "type": "user"},
            {"key": "checked_at", "label": "Checked at", "type": "datetime"},
            {"key": "stamp", "label": "Stamp", "type": "text", "system_set": True},
            {"key": "note", "label": "Note", "type": "text"},
        ],
    }


@pytest.fixture
def tech(db, make_person):
    person = make_person("tess", "tech")
    with db.write() as conn:
        publish_workflow(conn, SYSTEM, GAUGE_FLOW)
        publish_type(conn, SYSTEM, gauge_type())
    return person


def _create(db, person, data) -> dict[str, Any]:
    with db.write() as conn:
        return create_record(conn, person.principal, "gauge", data)


def _step(db, person, record_id, transition) -> dict[str, Any]:
    return run_transition(
        db,
        person.principal,
        "gauge",
        record_id,
        transition,
    )


def _stored(db, record_id) -> tuple[Any, ...]:
    with db.read() as conn:
        row = conn.execute(
            select(record.c.state, record.c.version, record.c.data).where(record.c.id == record_id)
        ).one()
        events = conn.execute(
            select(func.count())
            .select_from(audit_event)
            .where(audit_event.c.record_id == record_id)
        ).scalar_one()
    return (*row, events)


@pytest.mark.parametrize(
    ("transition", "field", "message"),
    [
        ("overflow", "score", "Score: "),
        ("too_long", "code", "Code: "),
        ("bad_option", "level", "Level: "),
    ],
)
def test_a_set_action_value_the_field_refuses_refuses_the_step(
    db, tech, transition, field, message
):
    gauge = _create(db, tech, {"name": "G1"})
    before = _stored(db, gauge["id"])
    with pytest.raises(ValidationFailed) as refused, refusal_recorded(db):
        _step(db, tech, gauge["id"], transition)
    assert [e.field for e in refused.value.errors] == [f"data.{field}"]
    assert message in refused.value.detail and "was refused" in refused.value.detail
    state, version, data, events = _stored(db, gauge["id"])
    assert (state, version, data, events - 1) == before, "nothing written but the refusal"


def test_set_action_values_are_normalised_and_write_locked_fields(db, tech):
    gauge = _create(db, tech, {"name": "G1"})
    done = _step(db, tech, gauge["id"], "finish")
    assert done["data"]["checked_by"] == "tess"
    assert done["data"]["checked_at"].endswith("Z") and len(done["data"]["checked_at"]) == 20
    # 'done' locks every field but the note; the workflow's own step still sets the score.
    archived = _step(db, tech, gauge["id"], "archive")
    assert (archived["state"], archived["data"]["score"]) == ("archived", 7)


@pytest.mark.requirement("REQ-WF-05")
@pytest.mark.parametrize("field", ["checked_by", "checked_at", "stamp"])
def test_a_person_cannot_give_a_system_set_field_on_create(db, tech, field):
    value = {"checked_by": "tess", "checked_at": "2026-01-01T00:00:00Z", "stamp": "x"}[field]
    with pytest.raises(ValidationFailed) as refused:
        _create(db, tech, {"name": "G1", field: value})
    assert [(e.field, e.message) for e in refused.value.errors] == [
        (f"data.{field}", SYSTEM_SET_MESSAGE)
    ]
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(record)).scalar_one() == 0


@pytest.mark.requirement("REQ-WF-05")
def test_a_person_cannot_change_a_system_set_field_but_may_send_it_back(db, tech):
    done = _step(db, tech, _create(db, tech, {"name": "G1"})["id"], "finish")
    with db.write() as conn, pytest.raises(ValidationFailed) as refused:
        update_record(
            conn,
            tech.principal,
            "gauge",
            done["id"],
            {"checked_by": "admin"},
            expected_version=done["version"],
        )
    assert [e.field for e in refused.value.errors] == ["data.checked_by"]
    with db.write() as conn:
        saved = update_record(
            conn,
            tech.principal,
            "gauge",
            done["id"],
            {**done["data"], "note": "as read"},
            expected_version=done["version"],
        )
    assert saved["data"]["note"] == "as read"
    assert saved["data"]["checked_by"] == "tess"


@pytest.mark.requirement("REQ-WF-05")
def test_the_api_refuses_a_system_set_field_with_a_field_error(client, db, tech):
    response = client.post(
        "/api/v1/records/gauge",
        headers=tech.headers,
        json={"data": {"name": "G1", "stamp": "forged"}},
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert {"field": "data.stamp", "message": SYSTEM_SET_MESSAGE} in response.json()["errors"]


def test_a_mapping_cannot_target_a_system_set_field(db, tech):
    mapping = {
        "key": "gauges",
        "label": "Gauges",
        "target": "gauge",
        "format": "csv",
        "columns": [
            {"source": "Name", "field": "name"},
            {"source": "By", "field": "checked_by"},
        ],
        "constants": {"stamp": "x"},
    }
    with db.write() as conn, pytest.raises(ValidationFailed) as refused:
        publish_mapping(conn, SYSTEM, mapping)
    assert {e.field for e in refused.value.errors} == {"columns[1].field", "constants.stamp"}
    assert all(SYSTEM_SET_MESSAGE in e.message for e in refused.value.errors)


def test_an_import_through_a_mapping_that_now_targets_a_system_set_field_is_refused(db, tech):
    mapping = {
        "key": "gauges",
        "label": "Gauges",
        "target": "gauge",
        "format": "csv",
        "columns": [{"source": "Name", "field": "name"}, {"source": "Note", "field": "note"}],
    }
    with db.write() as conn:
        publish_mapping(conn, SYSTEM, mapping)
        definition = gauge_type()
        definition["fields"][7]["system_set"] = True
        publish_type(conn, SYSTEM, definition)
    with pytest.raises(ValidationFailed) as refused:
        apply_import(db, tech.principal, "gauges", b"Name,Note\nG1,forged\n", "gauges.csv")
    assert "no longer fits" in refused.value.detail
    assert [e.field for e in refused.value.errors] == ["columns[1].field"]
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(record)).scalar_one() == 0


def test_a_system_set_field_cannot_also_be_required(db, tech):
    definition = gauge_type()
    definition["workflow"] = None
    definition["fields"][6]["required"] = True
    with db.write() as conn, pytest.raises(ValidationFailed) as refused:
        publish_type(conn, SYSTEM, definition)
    assert [e.field for e in refused.value.errors] == ["fields[6].system_set"]
