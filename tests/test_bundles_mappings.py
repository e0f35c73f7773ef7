"""Import mappings travel in configuration bundles like types and workflows do."""

from __future__ import annotations

from typing import Any

import pytest

from labledger.bundles.export import export_bundle
from labledger.bundles.importer import ImportConflict, apply_bundle, preview_bundle
from labledger.errors import ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.integration.mappings import load_mapping, publish_mapping
from tests.test_bundles import audit_events, encode, item, snapshot, source_of, starter_bundle
from tests.test_integration_mappings import batch_mapping, results_mapping


def mapping_bundle(**overrides: Any) -> dict[str, Any]:
    """The starter bundle with the plate reader mapping into its measurement type."""
    bundle = starter_bundle()
    bundle["mappings"] = [results_mapping(**overrides)]
    return bundle


def _errors(caught: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {e.field: e.message for e in caught.value.errors}


def test_preview_and_apply_publish_the_mapping_after_its_type(db):
    raw = encode(mapping_bundle())
    before = snapshot(db)
    preview = preview_bundle(db, SYSTEM, raw)
    assert snapshot(db) == before
    assert (item(preview, "mapping", "plate_results").action, preview.items[-1].kind) == (
        "added",
        "mapping",
    )
    lines = preview.lines()
    assert "  + mapping plate_results: added as version 1" in lines
    assert "      columns added: batch, name, value, measured_on, tags, comment" in lines

    report = apply_bundle(db, SYSTEM, raw)
    added = item(report, "mapping", "plate_results")
    assert (added.path, added.action, added.version) == ("mappings[0]", "added", 1)
    with db.read() as conn:
        assert load_mapping(conn, "plate_results").definition == results_mapping()
    assert source_of(db, "mapping", "plate_results")[:2] == ("starter", "1.0")
    [published] = [
        e for e in audit_events(db, "config.publish") if e["details"]["kind"] == "mapping"
    ]
    assert published["details"]["target"] == "measurement"
    [imported] = audit_events(db, "config.import")
    assert {"kind": "mapping", "key": "plate_results", "action": "added", "version": 1} in [
        {k: i[k] for k in ("kind", "key", "action", "version")}
        for i in imported["details"]["items"]
    ]


def test_importing_the_same_mappings_again_changes_nothing(db):
    raw = encode(mapping_bundle())
    apply_bundle(db, SYSTEM, raw)
    before = snapshot(db)
    report = apply_bundle(db, SYSTEM, raw)
    assert not report.changed
    assert item(report, "mapping", "plate_results").action == "unchanged"
    assert snapshot(db) == before


def test_a_changed_mapping_is_previewed_with_old_and_new_values(db):
    apply_bundle(db, SYSTEM, encode(mapping_bundle()))
    bundle = mapping_bundle(label="Plate reader results (v2)", mode="row")
    bundle["version"] = "1.1"
    bundle["mappings"][0]["columns"][1]["source"] = "Analysis"
    raw = encode(bundle)

    preview = preview_bundle(db, SYSTEM, raw)
    changed = item(preview, "mapping", "plate_results")
    assert (changed.action, changed.old_version, changed.version) == ("changed", 1, 2)
    changes = {c.path: (c.old, c.new) for c in changed.changes}
    assert changes == {
        "label": ("Plate reader results", "Plate reader results (v2)"),
        "mode": (None, "row"),
        "columns.name.source": ("Test", "Analysis"),  # columns are known by their field
    }
    text = "\n".join(preview.lines())
    assert "  ~ mapping plate_results: version 1 -> 2" in text
    assert 'column `name` source: "Test" -> "Analysis"' in text

    report = apply_bundle(db, SYSTEM, raw)
    assert item(report, "mapping", "plate_results").version == 2
    with db.read() as conn:
        assert load_mapping(conn, "plate_results").atomic is False
    published = audit_events(db, "config.publish")[-1]
    assert published["details"]["key"] == "plate_results"
    assert published["changes"]["changed"]["columns.name.source"] == {
        "old": "Test",
        "new": "Analysis",
    }
    assert source_of(db, "mapping", "plate_results")[1] == "1.1"


def _edit_mapping_locally(db, **overrides: Any) -> None:
    with db.write() as conn:
        publish_mapping(conn, SYSTEM, results_mapping(**overrides))


def test_a_local_change_conflicts_and_force_overwrites_it(db):
    apply_bundle(db, SYSTEM, encode(mapping_bundle()))
    _edit_mapping_locally(db, label="Our plate reader")
    bundle = mapping_bundle(strict_header=True)
    bundle["version"] = "2.0"
    raw = encode(bundle)
    before = snapshot(db)

    with pytest.raises(ImportConflict) as refused:
        apply_bundle(db, SYSTEM, raw)
    assert snapshot(db) == before
    [problem] = refused.value.errors
    assert problem.field == "mappings[0]"
    assert "changed here since it was imported from starter 1.0" in problem.message

    report = apply_bundle(db, SYSTEM, raw, force=True)
    forced = item(report, "mapping", "plate_results")
    assert (forced.action, forced.forced, forced.version) == ("changed", True, 3)
    with db.read() as conn:
        assert load_mapping(conn, "plate_results").definition == bundle["mappings"][0]


def test_a_local_change_is_kept_when_the_bundle_mapping_did_not_change(db):
    raw = encode(mapping_bundle())
    apply_bundle(db, SYSTEM, raw)
    _edit_mapping_locally(db, label="Our plate reader")
    before = snapshot(db)
    report = apply_bundle(db, SYSTEM, raw)
    assert item(report, "mapping", "plate_results").action == "kept"
    assert not report.conflicts and not report.changed
    assert snapshot(db) == before


def test_a_mapping_made_here_conflicts_with_the_bundles(db):
    apply_bundle(db, SYSTEM, encode(starter_bundle()))
    _edit_mapping_locally(db, label="Made here")
    with pytest.raises(ImportConflict) as refused:
        apply_bundle(db, SYSTEM, encode(mapping_bundle()))
    assert [e.field for e in refused.value.errors] == ["mappings[0]"]
    assert "was not imported from a bundle" in refused.value.errors[0].message


BAD_MAPPINGS: dict[str, tuple[Any, str, str]] = {
    "field the type lacks": (
        lambda m: m["columns"][1].update(field="analyte"),
        "mappings[0].columns[1].field",
        "Measurement has no field 'analyte'",
    ),
    "unit on a text field": (
        lambda m: m["columns"][1].update(unit={"expected": "mg/L"}),
        "mappings[0].columns[1].unit",
        "only a number field has a unit",
    ),
    "column without a source": (
        lambda m: m["columns"][0].pop("source"),
        "mappings[0].columns[0].source",
        "is required",
    ),
    "unknown target type": (
        lambda m: m.update(target="lot"),
        "mappings[0].target",
        "there is no object type 'lot'",
    ),
}


@pytest.mark.parametrize("case", list(BAD_MAPPINGS))
def test_a_bad_mapping_is_refused_with_its_json_path(db, case):
    change, path, message = BAD_MAPPINGS[case]
    bundle = mapping_bundle()
    bundle["mappings"].insert(0, batch_mapping())
    change(bundle["mappings"][1])
    path = path.replace("mappings[0]", "mappings[1]")
    before = snapshot(db)
    for run in (preview_bundle, apply_bundle):
        with pytest.raises(ValidationFailed) as refused:
            run(db, SYSTEM, encode(bundle))
        found = _errors(refused)
        assert path in found, found
        assert message in found[path]
    assert snapshot(db) == before


def test_a_mapping_that_is_not_an_object_or_repeats_a_key_is_refused(db):
    bundle = mapping_bundle()
    bundle["mappings"].append("plate_results")
    with pytest.raises(ValidationFailed) as refused:
        apply_bundle(db, SYSTEM, encode(bundle))
    assert _errors(refused) == {"mappings[1]": "must be an object"}
    bundle["mappings"][1] = results_mapping(label="Again")
    with pytest.raises(ValidationFailed) as refused:
        apply_bundle(db, SYSTEM, encode(bundle))
    assert _errors(refused) == {"mappings[1].key": "'plate_results' is also the key of mappings[0]"}


def test_a_mapping_may_target_a_type_already_in_the_database(db):
    apply_bundle(db, SYSTEM, encode(starter_bundle()))
    other = {
        "format": starter_bundle()["format"],
        "name": "instruments",
        "version": "1",
        "mappings": [results_mapping()],
    }
    report = apply_bundle(db, SYSTEM, encode(other))
    assert item(report, "mapping", "plate_results").action == "added"


def test_export_carries_the_mappings_of_the_exported_types(db):
    bundle = mapping_bundle()
    bundle["mappings"].append(batch_mapping())
    apply_bundle(db, SYSTEM, encode(bundle))
    with db.read() as conn:
        everything = export_bundle(conn, SYSTEM)
        batches = export_bundle(conn, SYSTEM, types=["batch"])
        measurements = export_bundle(conn, SYSTEM, types=["measurement"])
    assert [m["key"] for m in everything["mappings"]] == ["batch_list", "plate_results"]
    assert everything["mappings"][1] == results_mapping()
    assert [m["key"] for m in batches["mappings"]] == ["batch_list"]
    # Measurements refer to batches, so the batch type and its mapping come along.
    assert [m["key"] for m in measurements["mappings"]] == ["batch_list", "plate_results"]
