"""Importing configuration bundles: apply, preview, idempotence, conflicts, records.

The helpers at the top (a starter bundle, a snapshot of everything an import
can write) are shared by the other bundle test modules.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from labledger.bundles.format import FORMAT
from labledger.bundles.importer import ImportConflict, apply_bundle, preview_bundle
from labledger.db.engine import Database
from labledger.db.tables import (
    app_user,
    audit_event,
    config_item,
    config_version,
    number_counter,
    outbox_event,
    record,
    role,
)
from labledger.errors import Forbidden, ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.identity.roles import save_role
from labledger.metadata.types import publish_type, type_model
from labledger.records.service import create_record
from tests.definitions import batch_type, measurement_type

REVIEW_FLOW: dict[str, Any] = {
    "key": "review",
    "label": "Review",
    "states": [
        {"key": "draft", "label": "Draft", "initial": True},
        {"key": "checked", "label": "Checked", "editable": "none"},
        {"key": "released", "label": "Released", "final": True, "editable": "none"},
    ],
    "transitions": [
        {
            "key": "check",
            "label": "Check",
            "from": ["draft"],
            "to": "checked",
            "roles": ["reviewer"],
        },
        {
            "key": "release",
            "label": "Release",
            "from": ["checked"],
            "to": "released",
            "roles": ["approver"],
            "signature": {"meaning": "Released"},
        },
    ],
}


def starter_bundle() -> dict[str, Any]:
    """Roles, a workflow, two types (the first refers to the second) and two records."""
    return {
        "format": FORMAT,
        "name": "starter",
        "version": "1.0",
        "description": "A small configuration for the tests",
        "roles": [
            {"key": "analyst", "label": "Analyst", "description": "Enters results"},
            {"key": "reviewer", "label": "Reviewer"},
            {"key": "approver", "label": "Approver", "permissions": ["read_audit"]},
        ],
        "workflows": [copy.deepcopy(REVIEW_FLOW)],
        "types": [measurement_type(), batch_type(workflow="review")],
        "records": [
            {"type": "batch", "ref": "batch-1", "data": {"code": "B-1", "product": "Aspirin"}},
            {
                "type": "measurement",
                "ref": "m-1",
                "data": {"name": "pH", "batch": {"ref": "batch-1"}, "value": 3},
            },
        ],
    }


def encode(bundle: dict[str, Any]) -> bytes:
    return json.dumps(bundle, indent=1).encode()


def snapshot(db: Database) -> dict[str, Any]:
    """Everything an import can write, so a test can assert that nothing changed."""

    def count(conn: Any, table: Any) -> int:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()

    with db.read() as conn:
        return {
            "items": sorted(
                tuple(row)
                for row in conn.execute(
                    select(
                        config_item.c.kind,
                        config_item.c.key,
                        config_item.c.current_version,
                        config_item.c.source_bundle,
                        config_item.c.source_bundle_version,
                        config_item.c.source_hash,
                    )
                )
            ),
            "roles": sorted(
                (r.key, r.label, r.description, json.dumps(r.permissions))
                for r in conn.execute(select(role))
            ),
            "versions": count(conn, config_version),
            "records": count(conn, record),
            "audit": count(conn, audit_event),
            "outbox": count(conn, outbox_event),
            "users": count(conn, app_user),
            # A dry run must not use up record numbers (see records.numbering).
            "counters": sorted(tuple(row) for row in conn.execute(select(number_counter))),
        }


def audit_events(db: Database, action: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(
            select(audit_event).where(audit_event.c.action == action).order_by(audit_event.c.seq)
        ).mappings()
        return [dict(r) for r in rows]


def source_of(db: Database, kind: str, key: str) -> tuple[Any, ...]:
    with db.read() as conn:
        return tuple(
            conn.execute(
                select(
                    config_item.c.source_bundle,
                    config_item.c.source_bundle_version,
                    config_item.c.source_hash,
                ).where(config_item.c.kind == kind, config_item.c.key == key)
            ).one()
        )


def item(report: Any, kind: str, key: str) -> Any:
    return next(i for i in report.items if i.kind == kind and i.key == key)


def test_import_publishes_everything_and_audits_once(db):
    raw = encode(starter_bundle())
    report = apply_bundle(db, SYSTEM, raw)
    assert report.changed and not report.dry_run
    assert [(i.kind, i.key, i.action, i.version) for i in report.items] == [
        ("role", "analyst", "added", None),
        ("role", "reviewer", "added", None),
        ("role", "approver", "added", None),
        ("workflow", "review", "added", 1),
        ("type", "measurement", "added", 1),
        ("type", "batch", "added", 1),
    ]
    [event] = audit_events(db, "config.import")
    assert event["actor"] == "system"
    assert event["details"]["bundle"] == "starter"
    assert event["details"]["version"] == "1.0"
    assert event["details"]["sha256"] == hashlib.sha256(raw).hexdigest()
    assert event["details"]["records_created"] == ["batch-1", "m-1"]
    assert {(i["kind"], i["key"]) for i in event["details"]["items"]} == {
        ("role", "analyst"),
        ("role", "reviewer"),
        ("role", "approver"),
        ("workflow", "review"),
        ("type", "measurement"),
        ("type", "batch"),
    }
    # Each item remembers the bundle, its version and the hash of what was imported.
    bundle_name, version, definition_hash = source_of(db, "object_type", "batch")
    assert (bundle_name, version, len(definition_hash)) == ("starter", "1.0", 64)
    assert source_of(db, "role", "approver")[:2] == ("starter", "1.0")


def test_records_are_created_with_refs_resolved_and_states(db):
    report = apply_bundle(db, SYSTEM, encode(starter_bundle()))
    created = {r.ref: r for r in report.records}
    assert [r.action for r in report.records] == ["created", "created"]
    with db.read() as conn:
        rows = {r.id: r for r in conn.execute(select(record))}
    batch = rows[created["batch-1"].id]
    measurement = rows[created["m-1"].id]
    assert measurement.data["batch"] == batch.id
    assert batch.state == "draft"  # the workflow's initial state
    [event] = [e for e in audit_events(db, "record.create") if e["record_id"] == measurement.id]
    assert event["details"] == {"bundle": "starter", "bundle_version": "1.0", "ref": "m-1"}


def test_a_record_enters_its_workflows_initial_state(db):
    bundle = starter_bundle()
    bundle["records"][0]["state"] = "draft"
    apply_bundle(db, SYSTEM, encode(bundle))
    with db.read() as conn:
        states = set(conn.execute(select(record.c.state).where(record.c.type_key == "batch")))
    assert states == {("draft",)}


def test_importing_the_same_bundle_again_changes_nothing(db):
    raw = encode(starter_bundle())
    apply_bundle(db, SYSTEM, raw)
    before = snapshot(db)
    report = apply_bundle(db, SYSTEM, raw)
    assert snapshot(db) == before
    assert not report.changed
    assert {i.action for i in report.items} == {"unchanged"}
    assert [r.action for r in report.records] == ["existing", "existing"]
    assert report.lines()[-1] == "Nothing to change: the database already matches this bundle."
    # Reformatted but equal content is the same bundle too.
    assert not apply_bundle(db, SYSTEM, json.dumps(starter_bundle()).encode()).changed
    assert snapshot(db) == before


def test_dry_run_reports_the_import_and_changes_nothing(db):
    raw = encode(starter_bundle())
    before = snapshot(db)
    preview = preview_bundle(db, SYSTEM, raw)
    assert snapshot(db) == before
    assert preview.dry_run and preview.changed
    applied = apply_bundle(db, SYSTEM, raw)
    assert [(i.key, i.action, i.version) for i in preview.items] == [
        (i.key, i.action, i.version) for i in applied.items
    ]
    assert [(r.ref, r.action) for r in preview.records] == [
        (r.ref, r.action) for r in applied.records
    ]
    assert "preview (dry run, nothing was changed)" in preview.lines()[0]


def test_new_version_publishes_only_what_changed_and_previews_effects(db):
    apply_bundle(db, SYSTEM, encode(starter_bundle()))
    with db.write() as conn:
        for n in range(2, 4):
            create_record(conn, SYSTEM, "batch", {"code": f"B-{n}"}, skip_permission=True)
    bundle = starter_bundle()
    bundle["version"] = "1.1"
    batch = bundle["types"][1]
    batch["title"] = "{code}"
    batch["fields"] = [f for f in batch["fields"] if f["key"] != "product"]
    batch["fields"][0]["max_length"] = 30
    batch["fields"].append({"key": "lot", "label": "Lot", "type": "text", "required": True})
    flow = bundle["workflows"][0]
    flow["states"].insert(2, {"key": "on_hold", "label": "On hold"})
    flow["transitions"][0]["roles"] = ["reviewer", "approver"]
    flow["transitions"].append(
        {"key": "hold", "label": "Hold", "from": ["checked"], "to": "on_hold", "roles": ["*"]}
    )
    raw = encode(bundle)

    preview = preview_bundle(db, SYSTEM, raw)
    changes = {(c.change, c.path): c for c in item(preview, "type", "batch").changes}
    removed = changes[("removed", "fields.product")]
    assert (removed.records, removed.effect) == (1, "1 record keeps its value, hidden")
    added = changes[("added", "fields.lot")]
    assert added.records == 3
    assert changes[("changed", "fields.code.max_length")].old == 20
    assert changes[("changed", "fields.code.max_length")].new == 30
    assert changes[("changed", "title")].new == "{code}"
    flow_changes = {(c.change, c.path) for c in item(preview, "workflow", "review").changes}
    assert flow_changes == {
        ("added", "states.on_hold"),
        ("added", "transitions.hold"),
        ("changed", "transitions.check.roles"),
    }
    text = "\n".join(preview.lines())
    assert "field `product` removed: 1 record keeps its value, hidden" in text
    assert "field `lot` added: 3 records have no value and will need one at the next edit" in text
    assert 'transition `check` roles: ["reviewer"] -> ["reviewer", "approver"]' in text

    before_versions = snapshot(db)["versions"]
    report = apply_bundle(db, SYSTEM, raw)
    actions = {(i.kind, i.key): (i.action, i.version) for i in report.items}
    assert actions[("type", "batch")] == ("changed", 2)
    assert actions[("workflow", "review")] == ("changed", 2)
    assert actions[("type", "measurement")] == ("unchanged", 1)
    assert actions[("role", "analyst")] == ("unchanged", None)
    # Two new versions and a new bundle manifest version; nothing else.
    assert snapshot(db)["versions"] == before_versions + 3
    assert source_of(db, "object_type", "measurement")[1] == "1.1"


def test_removed_state_reports_records_in_it(db):
    bundle = starter_bundle()
    bundle["records"][0]["state"] = "checked"
    apply_bundle(db, SYSTEM, encode(bundle), migrate=True)
    flow = bundle["workflows"][0]
    flow["states"] = [s for s in flow["states"] if s["key"] != "released"]
    flow["transitions"] = [t for t in flow["transitions"] if t["key"] != "release"]
    flow["states"][1]["final"] = True
    preview = preview_bundle(db, SYSTEM, encode(bundle))
    changes = {(c.change, c.path): c for c in item(preview, "workflow", "review").changes}
    assert changes[("removed", "states.released")].records == 0
    flow["states"] = [flow["states"][0], {"key": "archived", "label": "Archived", "final": True}]
    flow["transitions"] = []
    preview = preview_bundle(db, SYSTEM, encode(bundle))
    changes = {(c.change, c.path): c for c in item(preview, "workflow", "review").changes}
    assert changes[("removed", "states.checked")].effect == "1 record is in it"


def _edit_batch_locally(db, **overrides):
    with db.write() as conn:
        publish_type(conn, SYSTEM, batch_type(workflow="review", **overrides))


def test_local_change_conflicts_with_a_changed_bundle_item(db):
    apply_bundle(db, SYSTEM, encode(starter_bundle()))
    _edit_batch_locally(db, label="Lot of product")
    bundle = starter_bundle()
    bundle["version"] = "2.0"
    bundle["types"][1]["plural"] = "Batches of product"
    raw = encode(bundle)
    before = snapshot(db)

    with pytest.raises(ImportConflict) as refused:
        apply_bundle(db, SYSTEM, raw)
    assert snapshot(db) == before
    [problem] = refused.value.errors
    assert problem.field == "types[1]"
    assert "changed here since it was imported from starter 1.0" in problem.message
    assert refused.value.extra["report"]["conflicts"][0]["key"] == "batch"

    preview = preview_bundle(db, SYSTEM, raw)
    conflict = item(preview, "type", "batch")
    assert conflict.conflict and not conflict.forced
    assert {c.path for c in conflict.changes} == {"label", "plural"}
    assert "CONFLICT" in "\n".join(preview.lines())
    assert snapshot(db) == before

    report = apply_bundle(db, SYSTEM, raw, force=True)
    forced = item(report, "type", "batch")
    assert (forced.action, forced.forced) == ("changed", True)
    with db.read() as conn:
        assert type_model(conn, "batch").label == "Batch"
    assert audit_events(db, "config.import")[-1]["details"]["force"] is True


def test_local_change_is_kept_when_the_bundle_item_did_not_change(db):
    raw = encode(starter_bundle())
    apply_bundle(db, SYSTEM, raw)
    _edit_batch_locally(db, label="Lot of product")
    before = snapshot(db)
    report = apply_bundle(db, SYSTEM, raw)
    assert item(report, "type", "batch").action == "kept"
    assert not report.conflicts and not report.changed
    assert snapshot(db) == before
    report = apply_bundle(db, SYSTEM, raw, force=True)
    assert item(report, "type", "batch").action == "changed"
    with db.read() as conn:
        assert type_model(conn, "batch").label == "Batch"


def test_items_made_here_or_by_another_bundle_are_conflicts(db):
    with db.write() as conn:
        save_role(conn, SYSTEM, {"key": "analyst", "label": "Analyst of our own"})
    with pytest.raises(ImportConflict) as refused:
        apply_bundle(db, SYSTEM, encode(starter_bundle()))
    assert [e.field for e in refused.value.errors] == ["roles[0]"]
    assert "was not imported from a bundle" in refused.value.errors[0].message

    apply_bundle(db, SYSTEM, encode(starter_bundle()), force=True)
    other = starter_bundle()
    other["name"] = "other"
    other["roles"][1]["label"] = "Checker"
    del other["records"]
    with pytest.raises(ImportConflict) as refused:
        apply_bundle(db, SYSTEM, encode(other))
    assert "was imported from bundle starter 1.0" in refused.value.errors[0].message


def test_an_identical_local_item_is_adopted_without_conflict(db):
    with db.write() as conn:
        save_role(conn, SYSTEM, {"key": "reviewer", "label": "Reviewer"})
    report = apply_bundle(db, SYSTEM, encode(starter_bundle()))
    assert item(report, "role", "reviewer").action == "unchanged"
    assert source_of(db, "role", "reviewer")[:2] == ("starter", "1.0")


def test_a_failing_record_rolls_back_the_whole_bundle(db):
    bundle = starter_bundle()
    bundle["records"].append({"type": "batch", "ref": "dup", "data": {"code": "B-1"}})
    bundle["records"].append({"type": "batch", "ref": "bad", "data": {"code": "b 2", "x": 1}})
    before = snapshot(db)
    with pytest.raises(ValidationFailed) as refused:
        apply_bundle(db, SYSTEM, encode(bundle))
    assert snapshot(db) == before
    fields = [e.field for e in refused.value.errors]
    assert "records[2].data.code" in fields  # unique value taken by records[0]
    assert "records[3].data.code" in fields  # does not match the pattern
    assert "records[3].data.x" in fields


def test_record_state_and_type_must_exist(db):
    bundle = starter_bundle()
    bundle["records"][0]["state"] = "shipped"
    bundle["records"][1]["state"] = "draft"
    bundle["records"].append({"type": "nothing", "ref": "x", "data": {}})
    with pytest.raises(ValidationFailed) as refused:
        apply_bundle(db, SYSTEM, encode(bundle))
    messages = {e.field: e.message for e in refused.value.errors}
    assert "is not a state of workflow 'review'" in messages["records[0].state"]
    assert "has no workflow" in messages["records[1].state"]
    assert messages["records[2].type"] == "there is no object type 'nothing'"


def test_every_invalid_item_is_reported_at_once(db):
    bundle = starter_bundle()
    bundle["types"][0]["fields"][0]["type"] = "colour"
    bundle["types"][1]["fields"][1]["required_if"] = "quantity >"
    bundle["workflows"][0]["transitions"][1]["to"] = "shipped"
    before = snapshot(db)
    with pytest.raises(ValidationFailed) as refused:
        apply_bundle(db, SYSTEM, encode(bundle))
    assert snapshot(db) == before
    fields = {e.field for e in refused.value.errors}
    assert {
        "workflows[0].transitions[1].to",
        "types[0].fields[0].type",
        "types[1].fields[1].required_if",
    } <= fields


def test_importing_needs_the_configure_permission(db, make_person):
    person = make_person("ann", "analyst")
    before = snapshot(db)
    with pytest.raises(Forbidden):
        apply_bundle(db, person.principal, encode(starter_bundle()))
    with pytest.raises(Forbidden):
        preview_bundle(db, person.principal, encode(starter_bundle()))
    assert snapshot(db) == before


def test_records_are_created_once_even_when_the_bundle_grows(db):
    apply_bundle(db, SYSTEM, encode(starter_bundle()))
    bundle = starter_bundle()
    bundle["version"] = "1.1"
    bundle["records"].append(
        {"type": "measurement", "ref": "m-2", "data": {"name": "Mass", "batch": {"ref": "batch-1"}}}
    )
    report = apply_bundle(db, SYSTEM, encode(bundle))
    assert [(r.ref, r.action) for r in report.records] == [
        ("batch-1", "existing"),
        ("m-1", "existing"),
        ("m-2", "created"),
    ]
    with db.read() as conn:
        batch_id = conn.execute(select(record.c.id).where(record.c.type_key == "batch")).scalar()
        rows = conn.execute(select(record.c.data).where(record.c.type_key == "measurement"))
        assert [r.data["batch"] for r in rows] == [batch_id, batch_id]


def test_workflow_and_type_changed_together(db):
    apply_bundle(db, SYSTEM, encode(starter_bundle()))
    bundle = starter_bundle()
    bundle["types"][1]["fields"].append({"key": "lot", "label": "Lot", "type": "text"})
    bundle["workflows"][0]["states"][1]["required"] = ["lot"]
    assert item(apply_bundle(db, SYSTEM, encode(bundle)), "workflow", "review").version == 2
