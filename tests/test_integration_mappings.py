"""Import mappings: versioned and audited, dry runs row by row, atomic and row-by-row
applies traced to file lines, updates by a key column, and every kind of bad input."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from sqlalchemy import func, select

from labledger.canonical import content_hash, sha256_hex
from labledger.db.integration_tables import import_run
from labledger.db.tables import audit_event, record
from labledger.errors import ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.integration import apply as applying
from labledger.integration import dryrun
from labledger.integration.importer import apply_import, preview_import
from labledger.integration.mappings import export_mappings, publish_mapping
from labledger.metadata.types import publish_type
from labledger.records.service import create_record, update_record
from tests.definitions import (
    acting,
    add_roles,
    batch_type,
    counts,
    measurement_type,
    traffic,
    unchanged,
)

ANALYST = acting("ann", "analyst")
HEADER = "Sample,Test,Result,Unit,Measured\n"


def results_mapping(**overrides: Any) -> dict[str, Any]:
    """Instrument results into measurements: a lookup, a unit with conversions, a constant."""
    mapping: dict[str, Any] = {
        "key": "plate_results",
        "label": "Plate reader results",
        "target": "measurement",
        "columns": [
            {"source": "Sample", "field": "batch", "lookup": {"by": "code"}},
            {"source": "Test", "field": "name"},
            {
                "source": "Result",
                "field": "value",
                "unit": {
                    "expected": "mg/L",
                    "source": "Unit",
                    "convert": {"g/L": 1000, "ug/L": 0.001},
                },
            },
            {"source": "Measured", "field": "measured_on"},
            {"source": "Tags", "field": "tags", "optional": True},
            {"source": "Comment", "field": "comment", "optional": True},
        ],
        "constants": {"method": "hplc"},
    }
    mapping.update(overrides)
    return mapping


def batch_mapping(**overrides: Any) -> dict[str, Any]:
    """Batches by their unique code: existing codes are updated, new ones created."""
    mapping: dict[str, Any] = {
        "key": "batch_list",
        "label": "Batch list",
        "target": "batch",
        "match": {"source": "Code", "by": "code"},
        "columns": [
            {"source": "Code", "field": "code"},
            {"source": "Product", "field": "product"},
            {"source": "Quantity", "field": "quantity", "optional": True},
        ],
    }
    mapping.update(overrides)
    return mapping


@pytest.fixture
def lab(db, publish):
    """Batch and measurement types, batches B-1 and B-2, and the results mapping."""
    add_roles(db, "analyst", "reviewer")
    publish(batch_type())
    publish(measurement_type())
    with db.write() as conn:
        batches = [create_record(conn, ANALYST, "batch", {"code": code}) for code in ("B-1", "B-2")]
        publish_mapping(conn, SYSTEM, results_mapping())
        publish_mapping(conn, SYSTEM, batch_mapping())
    return {b["data"]["code"]: b for b in batches}


def _import(
    db, content: str | bytes, mapping: str = "plate_results", *, dry_run: bool = False, **kw: Any
):
    raw = content.encode("utf-8") if isinstance(content, str) else content
    run = preview_import if dry_run else apply_import
    return run(db, ANALYST, mapping, raw, kw.pop("filename", "plate.csv"), **kw)


def _errors(report) -> list[tuple[int, str | None, str | None, str]]:
    return [(e.line, e.column, e.field, e.message) for e in report.errors]


def test_mappings_are_versioned_audited_configuration(db, client, admin, lab, make_person):
    changed = results_mapping(label="Plate reader results (v2)")
    answer = client.put("/api/v1/mappings/plate_results", json=changed, headers=admin.headers)
    assert answer.json() == {"key": "plate_results", "version": 2, "changed": True}
    again = client.put("/api/v1/mappings/plate_results", json=changed, headers=admin.headers)
    assert again.json()["changed"] is False
    current = client.get("/api/v1/mappings/plate_results", headers=admin.headers).json()
    assert current["version"] == 2 and current["definition"]["label"].endswith("(v2)")
    first = client.get("/api/v1/mappings/plate_results?version=1", headers=admin.headers).json()
    assert first["definition"]["label"] == "Plate reader results"
    history = client.get("/api/v1/mappings/plate_results/versions", headers=admin.headers).json()
    assert [v["version"] for v in history["items"]] == [1, 2]
    listed = client.get("/api/v1/mappings", headers=admin.headers).json()["items"]
    assert [(m["key"], m["target"], m["version"]) for m in listed] == [
        ("batch_list", "batch", 1),
        ("plate_results", "measurement", 2),
    ]
    with db.read() as conn:
        published = conn.execute(
            select(audit_event.c.details, audit_event.c.changes)
            .where(audit_event.c.action == "config.publish")
            .order_by(audit_event.c.seq.desc())
        ).first()
    assert published.details["kind"] == "mapping" and published.details["key"] == "plate_results"
    assert published.changes["changed"]["label"]["new"] == "Plate reader results (v2)"

    # Publishing needs 'configure'; reading follows read permission on the target type.
    analyst = make_person("ann", "analyst")
    outsider = make_person("otto", "viewer")
    refused = client.put("/api/v1/mappings/plate_results", json=changed, headers=analyst.headers)
    assert refused.status_code == 403
    assert [
        m["key"] for m in client.get("/api/v1/mappings", headers=outsider.headers).json()["items"]
    ] == ["batch_list"]
    hidden = client.get("/api/v1/mappings/plate_results", headers=outsider.headers)
    assert hidden.status_code == 403
    assert client.get("/api/v1/mappings/nope", headers=admin.headers).status_code == 404


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"target": "nothing"}, "target"),
        ({"encoding": "klingon-8"}, "encoding"),
        ({"delimiter": ",", "decimal_separator": ","}, "decimal_separator"),
        ({"columns": [{"source": "X", "field": "nope"}]}, "columns[0].field"),
        ({"columns": [{"source": "X", "field": "raw_file"}]}, "columns[0].field"),
        ({"columns": [{"source": "X", "field": "out_of_limits"}]}, "columns[0].field"),
        (
            {"columns": [{"source": "X", "field": "name", "lookup": {"by": "number"}}]},
            "columns[0].lookup",
        ),
        (
            {"columns": [{"source": "X", "field": "batch", "lookup": {"by": "product"}}]},
            "columns[0].lookup.by",
        ),
        (
            {"columns": [{"source": "X", "field": "name", "unit": {"expected": "mg"}}]},
            "columns[0].unit",
        ),
        (
            {"columns": [{"source": "X", "field": "value", "unit": {"expected": "g/L"}}]},
            "columns[0].unit.expected",
        ),
        (
            {"columns": [{"source": "X", "field": "name"}, {"source": "Y", "field": "name"}]},
            "columns[0].field",
        ),
        ({"constants": {"name": "x"}}, "constants.name"),
        ({"match": {"source": "Test", "by": "name"}}, "match.by"),
        ({"match": {"source": "Id", "by": "number"}}, "match.create"),
        ({"mode": "sometimes"}, "mode"),
        ({"extra": 1}, "extra"),
    ],
)
def test_a_mapping_that_does_not_fit_is_refused(db, client, admin, lab, change, location):
    with unchanged(db):
        answer = client.put(
            "/api/v1/mappings/plate_results", json=results_mapping(**change), headers=admin.headers
        )
    assert answer.status_code == 422, answer.text
    assert location in [e["field"] for e in answer.json()["errors"]], answer.json()


GOOD = (
    HEADER
    + "B-1,pH,3.5,mg/L,2026-05-01\n"
    + "B-2,Lead,0.004,g/L,2026-05-02\n"
    + "B-2,Zinc,2500,ug/L,2026-05-02\n"
)


def test_an_applied_import_is_one_audit_event_and_every_record_traces_to_its_line(
    db, client, lab, make_person
):
    analyst = make_person("ann", "analyst")
    answer = client.post(
        "/api/v1/mappings/plate_results/imports",
        params={"filename": "plate-0501.csv"},
        content=GOOD.encode(),
        headers=analyst.headers,
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["applied"] and report["counts"] == {
        "rows": 3,
        "create": 3,
        "update": 0,
        "unchanged": 0,
        "error": 0,
    }
    assert report["sha256"] == sha256_hex(GOOD.encode()) and report["mapping_version"] == 1
    with db.read() as conn:
        created = {
            r.data["name"]: r
            for r in conn.execute(select(record).where(record.c.type_key == "measurement"))
        }
        events = (
            conn.execute(
                select(audit_event)
                .where(audit_event.c.action.in_(("record.create", "import.apply")))
                .where(audit_event.c.type_key == "measurement")
                .order_by(audit_event.c.seq)
            )
            .mappings()
            .all()
        )
        run = conn.execute(select(import_run)).mappings().one()
    assert created["pH"].data["value"] == 3.5 and created["pH"].data["batch"] == lab["B-1"]["id"]
    assert created["Lead"].data["value"] == 4, "0.004 g/L converted to mg/L"
    assert created["Zinc"].data["value"] == 2.5, "2500 ug/L converted to mg/L"
    assert {r.data["method"] for r in created.values()} == {"hplc"}
    assert created["pH"].created_by == "ann"

    [apply] = [e for e in events if e["action"] == "import.apply"]
    creates = [e for e in events if e["action"] == "record.create"]
    assert apply["seq"] > max(e["seq"] for e in creates)
    assert [(e["record_number"], e["details"]) for e in creates] == [
        (created[name].number, {"import": run["id"], "line": line})
        for name, line in (("pH", 2), ("Lead", 3), ("Zinc", 4))
    ]
    assert apply["actor"] == "ann" and apply["config_version"] == 1
    details = apply["details"]
    assert details["import"] == run["id"] and details["mapping"] == "plate_results"
    assert details["sha256"] == report["sha256"] and details["file"] == "plate-0501.csv"
    assert details["rows"]["create"] == 3
    assert details["produced_sha256"] == content_hash(run["produced"])
    assert run["audit_seq"] == apply["seq"]

    # The import's page: the rows produced, by line; the feed announces the import.
    detail = client.get(f"/api/v1/imports/{run['id']}", headers=analyst.headers).json()
    assert [(p["line"], p["action"], p["record"]["number"]) for p in detail["produced"]] == [
        (2, "create", created["pH"].number),
        (3, "create", created["Lead"].number),
        (4, "create", created["Zinc"].number),
    ]
    listed = client.get("/api/v1/imports", headers=analyst.headers).json()["items"]
    assert [i["id"] for i in listed] == [run["id"]] and "produced" not in listed[0]
    outsider = make_person("otto", "viewer")
    assert client.get("/api/v1/imports", headers=outsider.headers).json()["items"] == []
    assert client.get(f"/api/v1/imports/{run['id']}", headers=outsider.headers).status_code == 404


BAD = (
    HEADER
    + "B-1,pH,3.5,mg/L,2026-05-01\n"  # 2: fine
    + "B-9,pH,3.5,mg/L,2026-05-01\n"  # 3: unknown sample
    + "B-1,Lead,5000,mg/L,2026-05-01\n"  # 4: out of range
    + "B-1,Lead,1.5.2,mg/L,2026-05-01\n"  # 5: not a number
    + "B-1,Lead,2,mol/L,2026-05-01\n"  # 6: unit without conversion
    + "B-1,,2,mg/L,2026-05-01\n"  # 7: required name empty
    + "B-1,pH,3.5,mg/L,2026-05-01\n"  # 8: repeats line 2
    + "B-1,Cu,2,mg/L,2026-13-01\n"  # 9: no such date
    + "B-1,Cu,2,mg/L\n"  # 10: a cell short
)
BAD_ERRORS = [
    (3, "Sample", "batch", "there is no batch record with code 'B-9'"),
    (4, "Result", "value", "must be at most 1000"),
    (5, "Result", "value", "'1.5.2' is not a number"),
    (6, "Unit", "value", "unit 'mol/L' is not mg/L, and the mapping declares no conversion for it"),
    (7, "Test", "name", "is required"),
    (8, None, None, "repeats line 2"),
    (9, "Measured", "measured_on", "is not a date (use YYYY-MM-DD)"),
    (10, None, None, "has 4 cells; the header has 5"),
]


def test_a_dry_run_reports_row_by_row_and_writes_nothing(db, client, lab, make_person):
    analyst = make_person("ann", "analyst")
    with unchanged(db):
        answer = client.post(
            "/api/v1/mappings/plate_results/imports?dry_run=true",
            content=BAD.encode(),
            headers=analyst.headers,
        )
    assert answer.status_code == 200
    report = answer.json()
    assert report["dry_run"] and not report["applied"] and report["import"] is None
    assert report["counts"] == {"rows": 9, "create": 1, "update": 0, "unchanged": 0, "error": 8}
    assert [(e["line"], e["column"], e["field"], e["message"]) for e in report["errors"]] == (
        BAD_ERRORS
    )
    [good] = [r for r in report["rows"] if r["action"] == "create"]
    assert good["line"] == 2 and good["data"]["batch"] == lab["B-1"]["id"]


def test_an_atomic_import_with_a_bad_row_writes_nothing(db, client, lab, make_person):
    analyst = make_person("ann", "analyst")
    with unchanged(db):
        answer = client.post(
            "/api/v1/mappings/plate_results/imports", content=BAD.encode(), headers=analyst.headers
        )
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["detail"].startswith("Nothing was imported")
    assert problem["errors"][0] == {
        "field": "line 3, Sample",
        "message": "there is no batch record with code 'B-9'",
    }
    assert not problem["report"]["applied"] and len(problem["report"]["errors"]) == 8
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(import_run)).scalar_one() == 0


def test_an_atomic_import_failing_as_it_writes_leaves_no_trace(db, lab):
    content = (
        HEADER
        + "B-1,pH,3.5,mg/L,2026-05-01\n"
        + "B-1,Lead,5000,mg/L,2026-05-01\n"
        + "B-2,Cu,2,mg/L,2026-13-01\n"
    )
    with unchanged(db):
        report = _import(db, content)
    assert not report.applied and report.import_id is None
    assert _errors(report) == [
        (3, "Result", "value", "must be at most 1000"),
        (4, "Measured", "measured_on", "is not a date (use YYYY-MM-DD)"),
    ]
    assert [r.record for r in report.rows] == [None, None, None]
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(import_run)).scalar_one() == 0


def test_a_row_by_row_import_writes_the_good_rows_and_reports_the_rest(db, lab):
    with db.write() as conn:
        publish_mapping(conn, SYSTEM, results_mapping(mode="row"))
    before = counts(db)
    report = _import(db, BAD)
    assert report.applied and _errors(report) == BAD_ERRORS
    assert report.counts["create"] == 1
    after = counts(db)
    assert after[0] == before[0] + 1, "one record"
    assert after[1] == before[1] + 2, "its audit event and the import's"
    with db.read() as conn:
        run = conn.execute(select(import_run)).mappings().one()
    assert run["counts"]["error"] == 8 and len(run["errors"]) == 8
    assert run["errors"][0] == {
        "line": 3,
        "column": "Sample",
        "field": "batch",
        "message": "there is no batch record with code 'B-9'",
    }


def test_the_same_file_is_never_imported_twice(db, client, lab, make_person):
    analyst = make_person("ann", "analyst")
    first = _import(db, GOOD)
    assert first.applied
    with unchanged(db):
        for dry_run in ("false", "true"):
            again = client.post(
                "/api/v1/mappings/plate_results/imports",
                params={"filename": "renamed.csv", "dry_run": dry_run},
                content=GOOD.encode(),
                headers=analyst.headers,
            )
            assert again.status_code == 409
            assert again.json()["import"] == first.import_id
            assert f"as import {first.import_id}" in again.json()["detail"]


def test_rows_update_the_records_their_key_column_names(db, lab):
    report = _import(
        db,
        "Code,Product,Quantity\nB-1,Aspirin,10\nB-2,,\nB-3,Ibuprofen,5\n",
        "batch_list",
        reason="Quantities from the ERP export",
    )
    assert [(r.line, r.action) for r in report.rows] == [
        (2, "update"),
        (3, "unchanged"),
        (4, "create"),
    ]
    assert report.counts["update"] == 1 and report.counts["create"] == 1
    with db.read() as conn:
        first = conn.execute(select(record).where(record.c.id == lab["B-1"]["id"])).one()
        update = (
            conn.execute(
                select(audit_event).where(
                    audit_event.c.action == "record.update", audit_event.c.record_id == first.id
                )
            )
            .mappings()
            .one()
        )
    assert first.data == {"code": "B-1", "product": "Aspirin", "quantity": 10}
    assert update["details"] == {"import": report.import_id, "line": 2}
    assert update["reason"] == "Quantities from the ERP export"
    assert update["changes"]["product"] == {"old": None, "new": "Aspirin"}

    # Without creating: unknown keys are row errors; matching by record number works too.
    with db.write() as conn:
        publish_mapping(
            conn,
            SYSTEM,
            batch_mapping(
                match={"source": "Number", "by": "number", "create": False},
                columns=[{"source": "Product", "field": "product"}],
            ),
        )
    number = lab["B-2"]["number"]
    report = _import(db, f"Number,Product\n{number},Paracetamol\nBAT-0000-9999,X\n", "batch_list")
    assert _errors(report) == [
        (3, "Number", None, "there is no batch record with number 'BAT-0000-9999'")
    ]
    assert not report.applied, "atomic: the good row waits for the bad one"


def test_a_file_that_names_the_same_thing_twice_is_refused(db, lab):
    report = _import(
        db,
        "Code,Product\nB-1,Aspirin\nB-1,Ibuprofen\nB-7,X\nB-7,Y\n",
        "batch_list",
        dry_run=True,
    )
    assert _errors(report) == [
        (3, "Code", None, "line 2 already names this record"),
        (5, "Code", None, "line 4 already names this record"),
    ]
    with db.write() as conn:
        creating = {k: v for k, v in batch_mapping(key="new_batches").items() if k != "match"}
        publish_mapping(conn, SYSTEM, creating)
    report = _import(db, "Code,Product\nB-8,A\nB-8,B\nB-1,C\n", "new_batches", dry_run=True)
    assert _errors(report) == [
        (3, "Code", "code", "line 2 already uses the value 'B-8'; it must be unique"),
        (4, "Code", "code", "the value 'B-1' is already used by another record"),
    ]


def test_files_that_cannot_be_read_get_a_clear_error_and_change_nothing(
    db, client, lab, make_person
):
    analyst = make_person("ann", "analyst")

    def attempt(content: bytes, mapping: str = "plate_results") -> dict[str, Any]:
        with unchanged(db):
            answer = client.post(
                f"/api/v1/mappings/{mapping}/imports", content=content, headers=analyst.headers
            )
        assert answer.status_code in (413, 422), answer.text
        return answer.json()

    problem = attempt(b"Sample,Test,Value,Unit,Measured\nB-1,pH,3,mg/L,2026-05-01\n")
    assert problem["errors"] == [
        {"field": "header", "message": "the column 'Result' is missing (line 1)"}
    ]
    latin = (HEADER + "B-1,pH \xe9,3,mg/L,2026-05-01\n").encode("latin-1")
    problem = attempt(latin)
    assert problem["errors"][0]["field"] == "file"
    message = problem["errors"][0]["message"]
    assert message.startswith("is not valid utf-8: byte 0xe9 at line 2, byte 8")
    assert "latin-1" in message
    assert "has no data rows" in attempt(HEADER.encode())["errors"][0]["message"]
    assert attempt(b"")["errors"][0]["message"] == "the file has no header row"

    with db.write() as conn:
        publish_mapping(conn, SYSTEM, results_mapping(encoding="latin-1", max_bytes=200))
    assert _import(db, latin).rows[0].data["name"] == "pH é"
    too_big = attempt(latin + b"B-1,x,3,mg/L,2026-05-01\n" * 10)
    assert too_big["status"] == 413 and "at most 200" in too_big["detail"]

    with db.write() as conn:
        publish_mapping(conn, SYSTEM, results_mapping(strict_header=True, encoding="utf-8"))
    problem = attempt((HEADER.strip() + ",Operator\nB-1,pH,3,mg/L,2026-05-01,al\n").encode())
    assert problem["errors"] == [
        {
            "field": "header",
            "message": "the column 'Operator' is not one the mapping knows (line 1)",
        }
    ]


def test_json_files_map_members_like_columns(db, lab):
    with db.write() as conn:
        publish_mapping(
            conn,
            SYSTEM,
            results_mapping(
                key="json_results",
                format="json",
                columns=[
                    {"source": "sample.code", "field": "batch", "lookup": {"by": "code"}},
                    {"source": "test", "field": "name"},
                    {"source": "result", "field": "value", "unit": {"expected": "mg/L"}},
                    {"source": "tags", "field": "tags", "optional": True},
                ],
            ),
        )
    content = (
        '[{"sample": {"code": "B-1"}, "test": "pH", "result": 3.25, "tags": ["urgent"]},'
        ' {"sample": {"code": "B-2"}, "test": "Cu"},'
        ' "not an object"]'
    )
    report = _import(db, content, "json_results", filename="run.json")
    assert _errors(report) == [
        (2, "result", None, "has no member 'result'"),
        (3, None, None, "must be an object"),
    ]
    assert report.rows[0].data == {
        "batch": lab["B-1"]["id"],
        "name": "pH",
        "value": 3.25,
        "tags": ["urgent"],
        "method": "hplc",
    }
    with pytest.raises(ValidationFailed) as refused:
        _import(db, '[{"test": "pH",}]', "json_results", dry_run=True)
    assert refused.value.errors[0].message.startswith("is not valid JSON: ")
    assert "line 1, column 16" in refused.value.errors[0].message


def test_lookups_by_record_number_and_into_multiple_references(db, publish, lab):
    publish(
        {
            "key": "panel",
            "label": "Panel",
            "plural": "Panels",
            "numbering": "PAN-{####}",
            "permissions": {"read": ["*"], "create": ["analyst"], "edit": ["analyst"]},
            "fields": [
                {"key": "name", "label": "Name", "type": "text", "required": True},
                {"key": "lead", "label": "Lead batch", "type": "reference", "to": "batch"},
                {
                    "key": "batches",
                    "label": "Batches",
                    "type": "reference",
                    "to": "batch",
                    "multiple": True,
                },
            ],
        }
    )
    with db.write() as conn:
        publish_mapping(
            conn,
            SYSTEM,
            {
                "key": "panels",
                "label": "Panels",
                "target": "panel",
                "columns": [
                    {"source": "Name", "field": "name"},
                    {"source": "Lead", "field": "lead", "lookup": {"by": "number"}},
                    {"source": "Batches", "field": "batches", "lookup": {"by": "code"}},
                ],
            },
        )
    one, two = lab["B-1"], lab["B-2"]
    content = f"Name,Lead,Batches\nP1,{one['number']},B-1|B-2\nP2,BAT-0000-0000,B-2 | B-7\n"
    report = _import(db, content, "panels", dry_run=True)
    assert report.rows[0].data == {
        "name": "P1",
        "lead": one["id"],
        "batches": [one["id"], two["id"]],
    }
    assert _errors(report) == [
        (3, "Lead", "lead", "there is no batch record with number 'BAT-0000-0000'"),
        (3, "Batches", "batches", "there is no batch record with code 'B-7'"),
    ]


def test_importing_needs_permission_on_the_target_type(db, client, lab, make_person):
    outsider = make_person("otto", "viewer")
    with unchanged(db):
        answer = client.post(
            "/api/v1/mappings/plate_results/imports",
            content=GOOD.encode(),
            headers=outsider.headers,
        )
    assert answer.status_code == 403


def test_a_mapping_that_no_longer_fits_its_type_is_reported_before_reading(db, lab):
    definition = measurement_type()
    definition["fields"] = [f for f in definition["fields"] if f["key"] != "measured_on"]
    with db.write() as conn:
        publish_type(conn, SYSTEM, definition)
    with unchanged(db), pytest.raises(ValidationFailed) as refused:
        _import(db, GOOD)
    assert "no longer fits type 'measurement'" in str(refused.value)
    assert "measured_on" in str(refused.value)


def test_mappings_travel_in_bundles(db, lab):
    with db.read() as conn:
        assert [m["key"] for m in export_mappings(conn)] == ["batch_list", "plate_results"]
        assert [m["key"] for m in export_mappings(conn, types=["measurement"])] == ["plate_results"]
        assert export_mappings(conn, types=[]) == []


def _batch_file(codes: list[str], product: str) -> str:
    return "Code,Product\n" + "".join(f"{code},{product}\n" for code in codes)


def test_an_import_updating_many_records_writes_them_in_batches(db, lab):
    """1,200 updates cost a few statements per 500 rows, not a round trip per row; each
    record still gets its own version, audit event and line, in the file's order."""
    codes = [f"C-{i:04d}" for i in range(1200)]
    assert _import(db, _batch_file(codes, "Aspirin"), "batch_list").counts["create"] == 1200
    with traffic(db) as seen:
        report = _import(db, _batch_file(codes, "Ibuprofen"), "batch_list", filename="second.csv")
    assert report.applied and report.counts["update"] == 1200
    assert len(seen.statements) < 40, f"{len(seen.statements)} statements for 1,200 updates"
    with db.read() as conn:
        stored = conn.execute(
            select(record.c.data["product"].as_string(), record.c.version).where(
                record.c.data["code"].as_string().in_(codes)
            )
        ).all()
        lines = conn.execute(
            select(audit_event.c.details["line"].as_integer())
            .where(audit_event.c.action == "record.update")
            .order_by(audit_event.c.seq)
        ).scalars()
        assert list(lines) == list(range(2, 1202))
    assert set(stored) == {("Ibuprofen", 2)}


def test_imports_run_with_the_cycle_collector_paused(db, lab, monkeypatch):
    """A file's rows, records and waiting audit events are not walked again and again by
    the cycle collector while an import holds them (a quarter of a large import's time);
    it runs again once the import is over."""
    seen: list[tuple[str, bool]] = []

    def watched(name: str, step: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            seen.append((name, gc.isenabled()))
            return step(*args, **kwargs)

        return run

    monkeypatch.setattr(dryrun, "prepare", watched("check", dryrun.prepare))
    monkeypatch.setattr(applying, "prepare", watched("check", applying.prepare))
    monkeypatch.setattr(applying._Writer, "write", watched("write", applying._Writer.write))
    content = _batch_file([f"G-{i:04d}" for i in range(300)], "Aspirin")
    assert gc.isenabled()
    assert _import(db, content, "batch_list", dry_run=True).counts["create"] == 300
    assert _import(db, content, "batch_list").counts["create"] == 300
    assert seen == [("check", False), ("check", False), ("write", False)]
    assert gc.isenabled()


def test_updates_and_creates_keep_the_order_of_the_file_lines(db, lab):
    report = _import(db, "Code,Product\nB-1,A\nB-3,B\nB-2,C\nB-4,D\n", "batch_list")
    assert [row.action for row in report.rows] == ["update", "create", "update", "create"]
    with db.read() as conn:
        events = conn.execute(
            select(audit_event.c.action, audit_event.c.details["line"].as_integer())
            .where(audit_event.c.action.in_(("record.update", "record.create")))
            .where(audit_event.c.type_key == "batch", audit_event.c.actor == "ann")
            .order_by(audit_event.c.seq)
        ).all()
    assert events[-4:] == [
        ("record.update", 2),
        ("record.create", 3),
        ("record.update", 4),
        ("record.create", 5),
    ]


def test_a_record_changed_after_the_file_was_read_is_not_overwritten(db, lab, monkeypatch):
    """Someone edits B-2 between the file's look-ups and the write: that row is refused
    as stale (an atomic mapping then writes nothing), never applied over the edit."""
    read_file = applying.prepare

    def read_then_edit(*args: Any, **kwargs: Any) -> Any:
        report = read_file(*args, **kwargs)
        with db.write() as conn:
            update_record(
                conn, ANALYST, "batch", lab["B-2"]["id"], {"product": "Edited"}, expected_version=1
            )
        return report

    monkeypatch.setattr(applying, "prepare", read_then_edit)
    report = _import(db, "Code,Product\nB-1,Aspirin\nB-2,Ibuprofen\n", "batch_list")
    assert not report.applied
    [error] = report.errors
    assert error.line == 3 and "was changed by someone else" in error.message
    with db.read() as conn:
        products = dict(
            conn.execute(
                select(record.c.data["code"].as_string(), record.c.data["product"].as_string())
            ).all()
        )
    assert products == {"B-1": None, "B-2": "Edited"}
