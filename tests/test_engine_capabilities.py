"""Generic capabilities configurations build on: rules across fields, default
expressions, multi-valued references, child numbering, per-item record creation
and related-record values in guards."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from labledger.db.tables import record, record_reference
from labledger.errors import ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.metadata.types import definition_context, publish_type
from labledger.records.service import create_record
from labledger.workflows.definitions import publish_workflow
from labledger.workflows.engine import run_transition

EVERYONE = {"read": ["*"], "create": ["*"], "edit": ["*"]}


def _type(key: str, fields: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "key": key,
        "label": key.title(),
        "plural": key.title() + "s",
        "numbering": key[:3].upper() + "-{####}",
        "permissions": EVERYONE,
        "fields": fields,
        **extra,
    }


def _create(db, person, type_key, data) -> dict[str, Any]:
    with db.write() as conn:
        return create_record(conn, person.principal, type_key, data)


def test_rules_refuse_with_message_on_fields(db, publish, make_person):
    person = make_person("olga", "owner")
    make_person("quentin", "qa")
    publish(
        _type(
            "issue",
            [
                {"key": "owner", "label": "Owner", "type": "user"},
                {"key": "approver", "label": "Approver", "type": "user"},
            ],
            rules=[
                {
                    "expression": "owner == None or owner != approver",
                    "message": "The approver must not be the owner.",
                    "fields": ["approver"],
                }
            ],
        )
    )
    with pytest.raises(ValidationFailed) as caught:
        _create(db, person, "issue", {"owner": "olga", "approver": "olga"})
    assert [(e.field, e.message) for e in caught.value.errors] == [
        ("data.approver", "The approver must not be the owner.")
    ]
    assert _create(db, person, "issue", {"owner": "olga", "approver": "quentin"})["id"]


def test_rule_can_look_at_the_referenced_record(db, publish, make_person):
    person = make_person("tina", "tech")
    publish(_type("device", [{"key": "due", "label": "Calibration due", "type": "date"}]))
    publish(
        _type(
            "reading",
            [{"key": "device", "label": "Device", "type": "reference", "to": "device"}],
            rules=[
                {
                    "expression": "device == None or referenced('device').due >= today()",
                    "message": "The device is past its calibration date.",
                    "fields": ["device"],
                }
            ],
        )
    )
    old = _create(db, person, "device", {"due": "2020-01-01"})
    good = _create(db, person, "device", {"due": "2999-01-01"})
    with pytest.raises(ValidationFailed, match="past its calibration"):
        _create(db, person, "reading", {"device": old["id"]})
    assert _create(db, person, "reading", {"device": good["id"]})["data"]["device"] == good["id"]


def test_default_expression_fills_empty_fields_at_creation(db, publish, make_person):
    person = make_person("olga", "owner")
    publish(
        _type(
            "event",
            [
                {
                    "key": "severity",
                    "label": "Severity",
                    "type": "choice",
                    "required": True,
                    "options": [
                        {"value": "minor", "label": "Minor"},
                        {"value": "major", "label": "Major"},
                    ],
                },
                {
                    "key": "due",
                    "label": "Due",
                    "type": "date",
                    "default_expression": "add_days(today(), 30 if severity == 'minor' else 10)",
                },
            ],
        )
    )
    minor = _create(db, person, "event", {"severity": "minor"})
    major = _create(db, person, "event", {"severity": "major"})
    given = _create(db, person, "event", {"severity": "major", "due": "2030-01-01"})
    assert minor["data"]["due"] > major["data"]["due"]
    assert given["data"]["due"] == "2030-01-01"


def test_multiple_references_are_stored_and_indexed(db, publish, make_person):
    person = make_person("tina", "tech")
    publish(_type("method", [{"key": "name", "label": "Name", "type": "text"}]))
    publish(
        _type(
            "kind",
            [
                {
                    "key": "methods",
                    "label": "Methods",
                    "type": "reference",
                    "to": "method",
                    "multiple": True,
                }
            ],
        )
    )
    a = _create(db, person, "method", {"name": "a"})
    b = _create(db, person, "method", {"name": "b"})
    kind = _create(db, person, "kind", {"methods": [a["id"], b["number"]]})
    assert kind["data"]["methods"] == [a["id"], b["id"]]
    with db.read() as conn:
        targets = (
            conn.execute(
                select(record_reference.c.target_id).where(
                    record_reference.c.source_id == kind["id"]
                )
            )
            .scalars()
            .all()
        )
    assert sorted(targets) == sorted([a["id"], b["id"]])
    with pytest.raises(ValidationFailed, match="there is no method record"):
        _create(db, person, "kind", {"methods": [a["id"], "NOPE-1"]})


def test_multiple_reference_cannot_be_filterable(db):
    definition = _type(
        "kind",
        [
            {
                "key": "xs",
                "label": "Xs",
                "type": "reference",
                "to": "kind",
                "multiple": True,
                "filterable": True,
            }
        ],
    )
    with (
        db.write() as conn,
        pytest.raises(ValidationFailed, match="cannot be unique or filterable"),
    ):
        publish_type(conn, SYSTEM, definition)


def test_child_numbering_counts_per_parent(db, publish, make_person):
    person = make_person("tina", "tech")
    publish(
        _type(
            "vial",
            [{"key": "parent", "label": "Parent", "type": "reference", "to": "vial"}],
            numbering="VIA-{YYYY}-{#####}",
            child_numbering={"field": "parent", "pattern": "{parent}-A{##}"},
        )
    )
    first = _create(db, person, "vial", {})
    second = _create(db, person, "vial", {})
    a1 = _create(db, person, "vial", {"parent": first["id"]})
    a2 = _create(db, person, "vial", {"parent": first["id"]})
    b1 = _create(db, person, "vial", {"parent": second["id"]})
    assert a1["number"] == first["number"] + "-A01"
    assert a2["number"] == first["number"] + "-A02"
    assert b1["number"] == second["number"] + "-A01"


FLOW = {
    "key": "intake",
    "label": "Intake",
    "states": [
        {"key": "registered", "label": "Registered", "initial": True},
        {"key": "received", "label": "Received"},
        {"key": "released", "label": "Released", "final": True},
    ],
    "transitions": [
        {
            "key": "receive",
            "label": "Receive",
            "from": ["registered"],
            "to": "received",
            "roles": ["*"],
            "actions": [
                {
                    "type": "create",
                    "record_type": "test",
                    "for_each": "referenced('kind').tests",
                    "fields": {
                        "parcel": "record.id",
                        "test_def": "item",
                        "limit": "lookup(item).limit",
                    },
                }
            ],
        },
        {
            "key": "release",
            "label": "Release",
            "from": ["received"],
            "to": "released",
            "roles": ["*"],
            "guard": "not contains(referencing_values('test', 'parcel', 'analyst'), user.username)",
            "guard_message": "Someone who tested this parcel cannot release it.",
        },
    ],
}


@pytest.fixture
def intake(db):
    with db.write() as conn:
        publish_type(
            conn,
            SYSTEM,
            _type(
                "testdef",
                [
                    {"key": "name", "label": "Name", "type": "text"},
                    {"key": "limit", "label": "Limit", "type": "decimal"},
                ],
            ),
        )
        publish_type(
            conn,
            SYSTEM,
            _type(
                "kind",
                [
                    {
                        "key": "tests",
                        "label": "Tests",
                        "type": "reference",
                        "to": "testdef",
                        "multiple": True,
                    }
                ],
            ),
        )
        publish_workflow(conn, SYSTEM, FLOW)
        publish_type(
            conn,
            SYSTEM,
            _type(
                "parcel",
                [{"key": "kind", "label": "Kind", "type": "reference", "to": "kind"}],
                workflow="intake",
            ),
            context=definition_context(conn, "parcel", extra_types={"test"}),
        )
        publish_type(
            conn,
            SYSTEM,
            _type(
                "test",
                [
                    {"key": "parcel", "label": "Parcel", "type": "reference", "to": "parcel"},
                    {"key": "test_def", "label": "Test", "type": "reference", "to": "testdef"},
                    {"key": "limit", "label": "Limit", "type": "decimal"},
                    {"key": "analyst", "label": "Analyst", "type": "user"},
                ],
            ),
        )


def test_receiving_creates_one_record_per_item_with_copied_values(db, intake, make_person):
    tech = make_person("tina", "tech")
    ph = _create(db, tech, "testdef", {"name": "pH", "limit": 7.5})
    dens = _create(db, tech, "testdef", {"name": "density", "limit": 1.2})
    kind = _create(db, tech, "kind", {"tests": [ph["id"], dens["id"]]})
    parcel = _create(db, tech, "parcel", {"kind": kind["id"]})
    run_transition(
        db,
        tech.principal,
        "parcel",
        parcel["id"],
        "receive",
    )
    with db.read() as conn:
        tests = (
            conn.execute(
                select(record.c.data).where(record.c.type_key == "test").order_by(record.c.id)
            )
            .scalars()
            .all()
        )
    assert [(t["test_def"], t["limit"]) for t in tests] == [(ph["id"], 7.5), (dens["id"], 1.2)]
    assert {t["parcel"] for t in tests} == {parcel["id"]}


def test_guard_on_related_values_keeps_testers_from_releasing(db, intake, make_person):
    tech = make_person("tina", "tech")
    other = make_person("rita", "qa")
    kind = _create(db, tech, "kind", {})
    parcel = _create(db, tech, "parcel", {"kind": kind["id"]})
    run_transition(
        db,
        tech.principal,
        "parcel",
        parcel["id"],
        "receive",
    )
    _create(db, tech, "test", {"parcel": parcel["id"], "analyst": "tina"})
    with pytest.raises(ValidationFailed, match="cannot release"):
        run_transition(
            db,
            tech.principal,
            "parcel",
            parcel["id"],
            "release",
        )
    done = run_transition(
        db,
        other.principal,
        "parcel",
        parcel["id"],
        "release",
    )
    assert done["state"] == "released"


def test_a_link_set_by_a_transition_is_indexed_at_once(db, make_person):
    person = make_person("olga", "owner")
    flow = {
        "key": "linker",
        "label": "Linker",
        "states": [
            {"key": "new", "label": "New", "initial": True},
            {"key": "linked", "label": "Linked", "required": ["note"]},
        ],
        "transitions": [
            {
                "key": "link",
                "label": "Link",
                "from": ["new"],
                "to": "linked",
                "roles": ["*"],
                "actions": [
                    {
                        "type": "create",
                        "record_type": "note",
                        "fields": {"text": "'made by the step'"},
                        "link_field": "note",
                    }
                ],
            }
        ],
    }
    with db.write() as conn:
        publish_type(
            conn, SYSTEM, _type("note", [{"key": "text", "label": "Text", "type": "text"}])
        )
        publish_workflow(conn, SYSTEM, flow)
        publish_type(
            conn,
            SYSTEM,
            _type(
                "topic",
                [{"key": "note", "label": "Note", "type": "reference", "to": "note"}],
                workflow="linker",
            ),
        )
    topic = _create(db, person, "topic", {})
    linked = run_transition(
        db,
        person.principal,
        "topic",
        topic["id"],
        "link",
    )
    assert linked["state"] == "linked", "the state may require the field its step fills"
    with db.read() as conn:
        targets = (
            conn.execute(
                select(record_reference.c.target_id).where(
                    record_reference.c.source_id == topic["id"]
                )
            )
            .scalars()
            .all()
        )
    assert targets == [linked["data"]["note"]]


def test_a_step_under_a_type_version_without_the_link_drops_it(db, make_person):
    """A step that changes no reference field leaves the links as they are, unless
    it moves the record to a type version whose reference fields differ."""
    person = make_person("olga", "owner")
    flow = {
        "key": "mover",
        "label": "Mover",
        "states": [
            {"key": "new", "label": "New", "initial": True},
            {"key": "moved", "label": "Moved"},
            {"key": "back", "label": "Back"},
        ],
        "transitions": [
            {"key": "move", "label": "Move", "from": ["new"], "to": "moved", "roles": ["*"]},
            {"key": "return", "label": "Return", "from": ["moved"], "to": "back", "roles": ["*"]},
        ],
    }
    note_field = {"key": "note", "label": "Note", "type": "reference", "to": "note"}
    label = {"key": "label", "label": "Label", "type": "text"}
    with db.write() as conn:
        publish_type(
            conn, SYSTEM, _type("note", [{"key": "text", "label": "Text", "type": "text"}])
        )
        publish_workflow(conn, SYSTEM, flow)
        publish_type(conn, SYSTEM, _type("topic", [note_field, label], workflow="mover"))
    note = _create(db, person, "note", {"text": "n"})
    topic = _create(db, person, "topic", {"note": note["id"]})

    def targets() -> list[int]:
        with db.read() as conn:
            found = select(record_reference.c.target_id).where(
                record_reference.c.source_id == topic["id"]
            )
            return list(conn.execute(found).scalars())

    run_transition(db, person.principal, "topic", topic["id"], "move")
    assert targets() == [note["id"]], "a step that sets no link keeps the links"
    with db.write() as conn:
        publish_type(conn, SYSTEM, _type("topic", [label], workflow="mover"))
    run_transition(db, person.principal, "topic", topic["id"], "return")
    assert targets() == [], "the new version has no reference field, so no link is left"
