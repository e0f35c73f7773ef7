"""Bad bundles: each refused with the JSON path of the problem, nothing changed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from labledger.bundles.format import dump_bundle, parse_bundle, schema_errors
from labledger.bundles.importer import apply_bundle, preview_bundle
from labledger.errors import PayloadTooLarge, ValidationFailed
from labledger.identity.principal import SYSTEM, SYSTEM_PERMISSIONS
from labledger.metadata.schemas import meta_schema
from labledger.records.service import create_record
from labledger.settings import BUNDLE_MAX_BYTES_ENV, Settings
from tests.definitions import reconfigure
from tests.test_bundles import encode, snapshot, starter_bundle
from tests.test_integration_mappings import results_mapping


def _mutated(change: Callable[[dict[str, Any]], Any]) -> bytes:
    bundle = starter_bundle()
    change(bundle)
    return encode(bundle)


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(bundle: dict[str, Any]) -> None:
        target = bundle
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return change


BAD_BUNDLES: dict[str, tuple[bytes, str, str]] = {
    "malformed JSON": (
        b'{"format": "labledger.bundle/1",\n "name": "x", "version": 1,,}',
        "(document)",
        "is not valid JSON: Expecting property name enclosed in double quotes at line 2",
    ),
    "not UTF-8": (b'{"name": "\xff"}', "(document)", "is not UTF-8 text"),
    "NaN": (b'{"format": "labledger.bundle/1", "n": NaN}', "(document)", "NaN"),
    "not an object": (b"[1, 2]", "(document)", "must be a JSON object"),
    "wrong format": (
        _mutated(_set(["format"], "labledger.bundle/2")),
        "format",
        '"labledger.bundle/2" is not a bundle format this version reads',
    ),
    "missing format": (
        _mutated(lambda b: b.pop("format")),
        "format",
        "is required",
    ),
    "bad envelope": (_mutated(_set(["name"], "Not A Name")), "name", "does not match"),
    "unknown section": (_mutated(_set(["extras"], [])), "extras", "is not a known field"),
    "unknown field type": (
        _mutated(_set(["types", 1, "fields", 2, "type"], "colour")),
        "types[1].fields[2].type",
        "must be one of",
    ),
    "workflow naming a missing state": (
        _mutated(_set(["workflows", 0, "transitions", 1, "from"], ["draft", "lost"])),
        "workflows[0].transitions[1].from[1]",
        "there is no state 'lost'",
    ),
    "type referencing a missing type": (
        _mutated(_set(["types", 0, "fields", 2, "to"], "lot")),
        "types[0].fields[2].to",
        "there is no object type 'lot'",
    ),
    "type referencing a missing workflow": (
        _mutated(_set(["types", 1, "workflow"], "approval")),
        "types[1].workflow",
        "there is no workflow 'approval'",
    ),
    "type naming a missing role": (
        _mutated(_set(["types", 1, "permissions", "edit"], ["analyst", "chemist"])),
        "types[1].permissions.edit[1]",
        "there is no role 'chemist'",
    ),
    "duplicate type keys": (
        _mutated(lambda b: b["types"].append(b["types"][1])),
        "types[2].key",
        "'batch' is also the key of types[1]",
    ),
    "duplicate role keys": (
        _mutated(lambda b: b["roles"].append({"key": "reviewer", "label": "Again"})),
        "roles[3].key",
        "'reviewer' is also the key of roles[1]",
    ),
    "duplicate member names": (
        encode(starter_bundle()).replace(b'"plural": "Batches"', b'"plural": "A", "plural": "B"'),
        "types[1].plural",
        "appears more than once in the same object",
    ),
    "expression that does not parse": (
        _mutated(_set(["types", 0, "fields", 7, "expression"], "value < (low")),
        "types[0].fields[7].expression",
        "syntax error: '(' was never closed",
    ),
    "guard that does not parse": (
        _mutated(_set(["workflows", 0, "transitions", 0, "guard"], "1 +")),
        "workflows[0].transitions[0].guard",
        "syntax error",
    ),
    "bad role permission": (
        _mutated(_set(["roles", 2, "permissions"], ["fly"])),
        "roles[2].permissions[0]",
        "must be one of",
    ),
    "record ref to nothing": (
        _mutated(_set(["records", 1, "data", "batch"], {"ref": "batch-9"})),
        "records[1].data.batch.ref",
        "no earlier record has ref 'batch-9'",
    ),
    "duplicate record refs": (
        _mutated(lambda b: b["records"].append(b["records"][0])),
        "records[2].ref",
        "'batch-1' is also the ref of records[0]",
    ),
    "record without data": (
        _mutated(lambda b: b["records"][0].pop("data")),
        "records[0].data",
        "is required",
    ),
}


@pytest.mark.parametrize("case", list(BAD_BUNDLES))
def test_bad_bundle_is_refused_with_its_json_path(db, case):
    raw, path, message = BAD_BUNDLES[case]
    before = snapshot(db)
    for run in (preview_bundle, apply_bundle):
        with pytest.raises(ValidationFailed) as refused:
            run(db, SYSTEM, raw)
        found = {e.field: e.message for e in refused.value.errors}
        assert path in found, found
        assert message in found[path]
    assert snapshot(db) == before


def test_a_failing_index_does_not_hide_the_problems_of_later_items(db):
    """A unique index over duplicate values fails in the database itself; on PostgreSQL
    that aborts the transaction, yet the mapping after it is still checked."""
    apply_bundle(db, SYSTEM, encode(starter_bundle()))
    with db.write() as conn:
        data = {"code": "B-2", "product": "Aspirin"}
        create_record(conn, SYSTEM, "batch", data, skip_permission=True)
    bundle = starter_bundle()
    bundle["types"][1]["fields"][1]["unique"] = True  # two batches of Aspirin exist
    bundle["mappings"] = [results_mapping()]
    bundle["mappings"][0]["columns"][1]["field"] = "analyte"
    before = snapshot(db)
    for run in (preview_bundle, apply_bundle):
        with pytest.raises(ValidationFailed) as refused:
            run(db, SYSTEM, encode(bundle))
        found = {e.field: e.message for e in refused.value.errors}
        assert found == {
            "types[1].fields": "existing records hold duplicate values",
            "mappings[0].columns[1].field": "Measurement has no field 'analyte'",
        }
    assert snapshot(db) == before


def test_a_field_keeps_its_type_across_bundle_versions(db):
    apply_bundle(db, SYSTEM, encode(starter_bundle()))
    bundle = starter_bundle()
    bundle["types"][0]["fields"][4] = {"key": "value", "label": "Value", "type": "text"}
    with pytest.raises(ValidationFailed) as refused:
        apply_bundle(db, SYSTEM, encode(bundle))
    found = {e.field: e.message for e in refused.value.errors}
    assert "was published as decimal" in found["types[0].fields[4].type"]


def test_bundle_over_the_size_limit_is_refused(db, monkeypatch):
    raw = encode(starter_bundle())
    before = snapshot(db)
    reconfigure(monkeypatch, db, bundle_max_bytes=len(raw) - 1)
    with pytest.raises(PayloadTooLarge) as refused:
        apply_bundle(db, SYSTEM, raw)
    [problem] = refused.value.errors
    assert problem.field == "(document)"
    assert f"the limit is {len(raw) - 1:,} bytes" in problem.message
    reconfigure(monkeypatch, db, bundle_max_bytes=1000)
    with pytest.raises(PayloadTooLarge):
        preview_bundle(db, SYSTEM, raw)
    assert snapshot(db) == before
    monkeypatch.setenv(BUNDLE_MAX_BYTES_ENV, "ten")
    with pytest.raises(SystemExit, match=f"^{BUNDLE_MAX_BYTES_ENV} must be a positive whole"):
        Settings.from_env()
    monkeypatch.setenv(BUNDLE_MAX_BYTES_ENV, str(len(raw)))
    reconfigure(monkeypatch, db, bundle_max_bytes=Settings.from_env().bundle_max_bytes)
    assert apply_bundle(db, SYSTEM, raw).changed


def test_default_size_limit_is_ten_megabytes(monkeypatch):
    monkeypatch.delenv(BUNDLE_MAX_BYTES_ENV, raising=False)
    limit = Settings.from_env().bundle_max_bytes
    assert limit == 10 * 1024 * 1024
    with pytest.raises(PayloadTooLarge):
        parse_bundle(b" " * (limit + 1), max_bytes=limit)
    with pytest.raises(ValidationFailed):  # within the limit: on to the JSON checks
        parse_bundle(b" " * limit, max_bytes=limit)


def test_canonical_bytes_parse_back_to_the_same_bundle():
    bundle = starter_bundle()
    bundle["description"] = "Größe ≤ 10 µg"
    data = dump_bundle(bundle)
    assert data.endswith(b"}\n") and "µg".encode() in data
    assert data.startswith(b'{\n  "description"')
    parsed = parse_bundle(data, max_bytes=Settings.bundle_max_bytes)
    assert parsed.body == json.loads(data)
    assert dump_bundle(parsed.body) == data


def test_the_published_schema_validates_a_whole_bundle():
    """Editors given metadata/*.schema.json check types and workflows inside a bundle too."""
    bundle = starter_bundle()
    assert schema_errors(bundle) == []
    bundle["types"][1]["fields"][2]["type"] = "colour"
    bundle["workflows"][0]["states"][0]["initial"] = "yes"
    assert [e.field for e in schema_errors(bundle)] == [
        "types[1].fields[2].type",
        "workflows[0].states[0].initial",
    ]


def test_role_schema_lists_the_system_permissions():
    permissions = meta_schema("role")["properties"]["permissions"]["items"]["enum"]
    assert permissions == list(SYSTEM_PERMISSIONS)
