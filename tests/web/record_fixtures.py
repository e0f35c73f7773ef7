"""Types, workflows and people the record page tests share: lots and their results.

A lot is reviewed and approved with an electronic signature; its results are
entered in a grid, with a computed out-of-specification flag. Only the test
suite knows these names: the pages are generic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labledger.db.engine import Database
from labledger.identity.principal import SYSTEM
from labledger.metadata.types import definition_context, publish_type
from labledger.records.service import create_record
from labledger.workflows.definitions import publish_workflow
from tests.conftest import Person
from tests.definitions import add_roles

LOT_FLOW: dict[str, Any] = {
    "key": "lot_flow",
    "label": "Lot review",
    "states": [
        {"key": "open", "label": "Open", "initial": True},
        {"key": "in_review", "label": "In review", "editable": "none"},
        # Notes may be added after approval; the signature then belongs to an earlier version.
        {"key": "approved", "label": "Approved", "final": True, "editable": ["notes"]},
    ],
    "transitions": [
        {
            "key": "submit",
            "label": "Submit",
            "from": ["open"],
            "to": "in_review",
            "roles": ["analyst"],
        },
        {
            "key": "approve",
            "label": "Approve",
            "from": ["in_review"],
            "to": "approved",
            "roles": ["qa"],
            "signature": {"meaning": "Approved for release"},
            "separation": {"creator": True},
        },
        {
            "key": "reject",
            "label": "Send back",
            "from": ["in_review"],
            "to": "open",
            "roles": ["qa"],
            "reason_required": True,
        },
    ],
}

RESULT_FLOW: dict[str, Any] = {
    "key": "result_flow",
    "label": "Result entry",
    "states": [
        {"key": "pending", "label": "Pending", "initial": True},
        {"key": "entered", "label": "Entered", "editable": ["value", "note"]},
        {"key": "reviewed", "label": "Reviewed", "final": True, "editable": "none"},
    ],
    "transitions": [
        {
            "key": "enter",
            "label": "Enter",
            "from": ["pending"],
            "to": "entered",
            "roles": ["analyst"],
            "requires_fields": ["value"],
        },
        {
            "key": "review",
            "label": "Review",
            "from": ["entered"],
            "to": "reviewed",
            "roles": ["qa"],
        },
    ],
}


def lot_type(**overrides: Any) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "key": "lot",
        "label": "Lot",
        "plural": "Lots",
        "numbering": "LOT-{####}",
        "title": "{code} {product}",
        "workflow": "lot_flow",
        "due_field": "due",
        "require_reason": True,
        "sections": [{"key": "origin", "label": "Origin"}],
        "permissions": {"read": ["*"], "create": ["analyst"], "edit": ["analyst"]},
        "fields": [
            {
                "key": "code",
                "label": "Code",
                "type": "text",
                "required": True,
                "unique": True,
                "filterable": True,
                "in_list": True,
                "max_length": 20,
                "help": "Capital letters, digits and dashes.",
                "pattern": "^[A-Z0-9-]+$",
            },
            {
                "key": "product",
                "label": "Product",
                "type": "text",
                "filterable": True,
                "in_list": True,
            },
            {
                "key": "quantity",
                "label": "Quantity",
                "type": "integer",
                "min": 0,
                "unit": "kg",
                "filterable": True,
                "in_list": True,
            },
            {
                "key": "made_on",
                "label": "Made on",
                "type": "date",
                "filterable": True,
                "section": "origin",
            },
            {"key": "due", "label": "Due", "type": "date", "in_list": True},
            {
                "key": "priority",
                "label": "Priority",
                "type": "choice",
                "filterable": True,
                "options": [{"value": "low", "label": "Low"}, {"value": "high", "label": "High"}],
            },
            {"key": "notes", "label": "Notes", "type": "long_text", "section": "origin"},
            {"key": "certificate", "label": "Certificate", "type": "attachment", "max_size": 1000},
            {
                "key": "supplier_ref",
                "label": "Supplier reference",
                "type": "text",
                "read_only": True,
            },
        ],
    }
    definition.update(overrides)
    return definition


def result_type(**overrides: Any) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "key": "result",
        "label": "Result",
        "plural": "Results",
        "numbering": "RES-{#####}",
        "title": "{test}",
        "workflow": "result_flow",
        "permissions": {"read": ["*"], "create": ["analyst"], "edit": ["analyst"]},
        "fields": [
            {"key": "lot", "label": "Lot", "type": "reference", "to": "lot", "filterable": True},
            {"key": "test", "label": "Test", "type": "text", "required": True, "in_list": True},
            {
                "key": "value",
                "label": "Value",
                "type": "decimal",
                "precision": 2,
                "unit": "mg/L",
                "min": -1000,
                "max": 1000,
                "in_list": True,
            },
            {"key": "low", "label": "Low limit", "type": "decimal", "default": 1},
            {"key": "high", "label": "High limit", "type": "decimal", "default": 5},
            {
                "key": "out_of_spec",
                "label": "Out of specification",
                "type": "computed",
                "result_type": "boolean",
                "expression": "value < low or value > high",
                "in_list": True,
            },
            {
                "key": "method",
                "label": "Method",
                "type": "choice",
                "options": [{"value": "hplc", "label": "HPLC"}, {"value": "gc", "label": "GC"}],
            },
            {
                "key": "tags",
                "label": "Tags",
                "type": "multi_choice",
                "options": [
                    {"value": "repeat", "label": "Repeat"},
                    {"value": "urgent", "label": "Urgent"},
                ],
            },
            {"key": "checked", "label": "Checked", "type": "boolean"},
            {"key": "measured_at", "label": "Measured at", "type": "datetime"},
            {"key": "analyst", "label": "Analyst", "type": "user"},
            {
                "key": "explanation",
                "label": "Explanation",
                "type": "text",
                "visible_if": "out_of_spec == True",
                "required_if": "out_of_spec == True",
            },
            {"key": "note", "label": "Note", "type": "text"},
        ],
    }
    definition.update(overrides)
    return definition


@dataclass
class Lab:
    """The people of a test: an analyst, a second analyst and QA."""

    analyst: Person
    other: Person
    qa: Person


def publish_lab(db: Database, *, lot: dict[str, Any] | None = None) -> None:
    """Publish the two workflows and the lot and result types."""
    add_roles(db, "analyst", "qa")
    with db.write() as conn:
        publish_workflow(conn, SYSTEM, LOT_FLOW)
        publish_workflow(conn, SYSTEM, RESULT_FLOW)
        publish_type(conn, SYSTEM, lot or lot_type())
        publish_type(conn, SYSTEM, result_type(), context=definition_context(conn, "result"))


def make_lab(db: Database, make_person: Any, **kwargs: Any) -> Lab:
    people = Lab(
        analyst=make_person("ann", "analyst"),
        other=make_person("bo", "analyst"),
        qa=make_person("quinn", "qa"),
    )
    publish_lab(db, **kwargs)
    return people


def create(db: Database, person: Person, type_key: str, data: dict[str, Any]) -> dict[str, Any]:
    with db.write() as conn:
        return create_record(conn, person.principal, type_key, data)
