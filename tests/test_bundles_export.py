"""Exporting bundles: canonical bytes, what selected types pull in, round trips."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from labledger.bundles.export import export_bundle
from labledger.bundles.format import dump_bundle
from labledger.bundles.importer import apply_bundle
from labledger.db.engine import Database, open_database
from labledger.errors import Forbidden, ValidationFailed
from labledger.identity.principal import SYSTEM
from tests.conftest import PG_URL, _migrate, _postgres_database
from tests.test_bundles import encode, starter_bundle
from tests.test_integration_mappings import results_mapping
from tests.workflow_definitions import JOB_FLOW, TASK_FLOW, job_type, task_type


def exported(db: Database, **options: Any) -> bytes:
    with db.read() as conn:
        return dump_bundle(export_bundle(conn, SYSTEM, **options))


@contextmanager
def fresh_database(backend: str, tmp_path: Path) -> Iterator[Database]:
    """An empty installation (migrated, with its admin) on ``backend``."""
    if backend == "postgresql":
        yield from _postgres_database()
        return
    database = open_database(f"sqlite:///{tmp_path / uuid.uuid4().hex}.db")
    _migrate(database)
    try:
        yield database
    finally:
        database.dispose()


def rich_bundle() -> dict[str, Any]:
    """The starter bundle plus what stresses a round trip: fractions, non-ASCII text,
    nesting, and an import mapping with unit conversion factors."""
    bundle = starter_bundle()
    measurement = bundle["types"][0]
    measurement["label"] = "Messung (Größe in µg)"
    measurement["fields"][5]["default"] = 0.25
    measurement["fields"][6]["default"] = 1e20
    bundle["workflows"] += [JOB_FLOW, TASK_FLOW]
    bundle["types"] += [job_type(), task_type()]
    bundle["roles"].append({"key": "qa", "label": "Quality assurance"})
    bundle["mappings"] = [results_mapping(label="Plattenleser (µg/L)")]
    return bundle


def test_export_is_canonical(db):
    apply_bundle(db, SYSTEM, encode(starter_bundle()))
    data = exported(db, name="lab", version="2026.1", description="Our lab")
    assert data.endswith(b"\n") and not data.endswith(b"\n\n")
    body = json.loads(data)
    assert data == (json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    assert (body["format"], body["name"], body["version"]) == (
        "labledger.bundle/1",
        "lab",
        "2026.1",
    )
    assert [r["key"] for r in body["roles"]] == ["analyst", "approver", "reviewer"]  # no admin
    assert [t["key"] for t in body["types"]] == ["batch", "measurement"]
    assert body["types"][1] == starter_bundle()["types"][0]  # fields keep their order
    assert body["roles"][0] == {
        "key": "analyst",
        "label": "Analyst",
        "description": "Enters results",
        "permissions": [],
    }
    assert "records" not in body


@pytest.mark.parametrize(
    ("selected", "types", "workflows", "roles"),
    [
        (["batch"], ["batch"], ["review"], ["analyst", "approver", "reviewer"]),
        (
            ["measurement"],
            ["batch", "measurement"],
            ["review"],
            ["analyst", "approver", "reviewer"],
        ),
        (["job"], ["job", "task"], ["job_flow", "task_flow"], ["analyst", "qa", "reviewer"]),
    ],
)
def test_selected_types_pull_in_what_they_need(db, selected, types, workflows, roles):
    apply_bundle(db, SYSTEM, encode(rich_bundle()))
    body = json.loads(exported(db, types=selected))
    assert [t["key"] for t in body["types"]] == types
    assert [w["key"] for w in body["workflows"]] == workflows
    assert [r["key"] for r in body["roles"]] == roles


def test_export_refuses_unknown_types_bad_names_and_non_configurers(db, make_person):
    apply_bundle(db, SYSTEM, encode(starter_bundle()))
    with pytest.raises(ValidationFailed) as refused:
        exported(db, types=["batch", "lot"])
    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("types", "there is no object type 'lot'")
    ]
    with pytest.raises(ValidationFailed) as refused:
        exported(db, name="Our Lab")
    assert refused.value.errors[0].field == "name"
    person = make_person("ann", "analyst")
    with db.read() as conn, pytest.raises(Forbidden):
        export_bundle(conn, person.principal)


def test_round_trip_into_an_empty_database_is_byte_identical(db, tmp_path):
    apply_bundle(db, SYSTEM, encode(rich_bundle()))
    first = exported(db)
    assert [m["key"] for m in json.loads(first)["mappings"]] == ["plate_results"]
    with fresh_database(db.dialect, tmp_path) as other:
        report = apply_bundle(other, SYSTEM, first)
        assert {i.action for i in report.items} == {"added"}
        assert exported(other) == first
        assert not apply_bundle(other, SYSTEM, first).changed


@pytest.mark.skipif(not PG_URL, reason="needs LABLEDGER_TEST_DATABASE_URL")
def test_round_trip_sqlite_to_postgresql_and_back(tmp_path):
    with (
        fresh_database("sqlite", tmp_path) as source,
        fresh_database("postgresql", tmp_path) as middle,
        fresh_database("sqlite", tmp_path) as target,
    ):
        apply_bundle(source, SYSTEM, encode(rich_bundle()))
        first = exported(source)
        assert json.loads(first)["mappings"] == rich_bundle()["mappings"]
        apply_bundle(middle, SYSTEM, first)
        second = exported(middle)
        apply_bundle(target, SYSTEM, second)
        assert first == second == exported(target)
