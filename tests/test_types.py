"""Object types as metadata: versions, validation, JSON Schema, indexes, report views."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, select

from labledger.db.tables import audit_event, config_version, record
from labledger.errors import ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.metadata import versions
from labledger.metadata.physical import desired_indexes
from labledger.metadata.types import publish_type, type_model
from labledger.records.query import ListQuery, list_records
from labledger.records.service import create_record, get_record, update_record
from tests.definitions import acting, add_roles, batch_type, counts, measurement_type, unchanged

ANALYST = acting("ann", "analyst")


def _record_row(db, record_id: int) -> dict[str, Any]:
    with db.read() as conn:
        return dict(conn.execute(select(record).where(record.c.id == record_id)).mappings().one())


def _versions(db, key: str) -> list[int]:
    with db.read() as conn:
        return list(
            conn.execute(
                select(config_version.c.version)
                .where(config_version.c.key == key)
                .order_by(config_version.c.version)
            ).scalars()
        )


@pytest.mark.requirement("REQ-REC-03")
def test_publish_creates_versions_and_records_keep_theirs(db, publish):
    add_roles(db, "analyst")
    assert publish(batch_type()) == 1
    audit_before = counts(db)[1]
    assert publish(batch_type()) == 1, "republishing an unchanged definition changes nothing"
    assert _versions(db, "batch") == [1]
    assert counts(db)[1] == audit_before

    with db.write() as conn:
        created = create_record(conn, ANALYST, "batch", {"code": "B-1"})
    assert created["type_version"] == 1

    assert publish(batch_type(label="Production batch")) == 2
    assert _versions(db, "batch") == [1, 2]
    with db.read() as conn:
        assert type_model(conn, "batch").label == "Production batch"
        assert type_model(conn, "batch", 1).label == "Batch", "old versions are immutable"
        publish_event = (
            conn.execute(select(audit_event).order_by(audit_event.c.seq.desc()).limit(1))
            .mappings()
            .one()
        )
    assert publish_event["action"] == "config.publish"
    assert publish_event["config_version"] == 2
    assert publish_event["changes"] == {
        "changed": {"label": {"old": "Batch", "new": "Production batch"}}
    }
    assert _record_row(db, created["id"])["type_version"] == 1

    with db.write() as conn:
        updated = update_record(
            conn,
            ANALYST,
            "batch",
            created["id"],
            {"product": "Aspirin"},
            expected_version=1,
        )
    assert updated["type_version"] == 2, "an update validates against the current version"


def _without(definition: dict[str, Any], field_key: str) -> dict[str, Any]:
    definition["fields"] = [f for f in definition["fields"] if f["key"] != field_key]
    return definition


def _field(definition: dict[str, Any], key: str) -> dict[str, Any]:
    return next(f for f in definition["fields"] if f["key"] == key)


def _set(path: tuple[Any, ...], value: Any):
    def change(definition: dict[str, Any]) -> dict[str, Any]:
        target = definition
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
        return definition

    return change


# (how to break the measurement definition, path of the error, words of the message)
BROKEN = {
    "unknown field type": (_set(("fields", 1, "type"), "colour"), "fields[1].type", "one of"),
    "duplicate key": (_set(("fields", 2, "key"), "name"), "fields[0].key", "used by 2 fields"),
    "reference to a missing type": (
        _set(("fields", 2, "to"), "lot"),
        "fields[2].to",
        "no object type 'lot'",
    ),
    "expression does not parse": (
        _set(("fields", 7, "expression"), "value <"),
        "fields[7].expression",
        "",
    ),
    "expression names an unknown field": (
        _set(("fields", 7, "expression"), "valu > high"),
        "fields[7].expression",
        "valu",
    ),
    "required_if names an unknown field": (
        _set(("fields", 15, "required_if"), "flagged == True"),
        "fields[15].required_if",
        "flagged",
    ),
    "unknown role": (
        _set(("permissions", "create"), ["analyst", "chemist"]),
        "permissions.create[1]",
        "no role 'chemist'",
    ),
    "unknown workflow": (_set(("workflow",), "nowhere"), "workflow", "no workflow 'nowhere'"),
    "numbering without counter": (_set(("numbering",), "MEA-{YYYY}"), "numbering", "counter"),
    "title names an unknown field": (_set(("title",), "{number} {nam}"), "title", "{nam}"),
    "default of the wrong type": (
        _set(("fields", 3, "default"), "one"),
        "fields[3].default",
        "whole number",
    ),
    "missing label": (
        lambda d: {k: v for k, v in d.items() if k != "label"},
        "label",
        "is required",
    ),
    "NUL character": (_set(("fields", 1, "label"), "No\x00tes"), "fields[1].label", "NUL"),
    "reserved key": (_set(("fields", 1, "key"), "number"), "fields[1].key", "reserved"),
    "bad pattern": (
        _set(("fields", 0, "pattern"), "(["),
        "fields[0].pattern",
        "regular expression",
    ),
    "multi_choice cannot be unique": (
        _set(("fields", 12, "unique"), True),
        "fields[12].unique",
        "cannot be unique",
    ),
}


def test_invalid_definitions_are_refused_with_their_json_path(db, publish):
    add_roles(db, "analyst", "reviewer")
    publish(batch_type())
    with unchanged(db):
        for case, (breaker, path, words) in BROKEN.items():
            definition = breaker(copy.deepcopy(measurement_type()))
            with pytest.raises(ValidationFailed) as refused, db.write() as conn:
                publish_type(conn, SYSTEM, definition)
            errors = {e.field: e.message for e in refused.value.errors}
            assert words in errors.get(path, "(no error here)"), (case, errors)
    assert _versions(db, "measurement") == []


def _with_flag(result_type: str, expression: str) -> dict[str, Any]:
    definition = batch_type()
    definition["fields"].append(
        {
            "key": "flag",
            "label": "Flag",
            "type": "computed",
            "result_type": result_type,
            "expression": expression,
            "filterable": True,
        }
    )
    return definition


def test_a_field_never_changes_type_across_versions(db, publish):
    add_roles(db, "analyst")
    publish(_with_flag("boolean", "quantity > 1"))
    definition = _with_flag("boolean", "quantity > 1")
    _field(definition, "quantity")["type"] = "decimal"
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        publish_type(conn, SYSTEM, definition)
    assert [e.field for e in refused.value.errors] == ["fields[2].type"]
    assert "published as integer" in refused.value.errors[0].message
    # A computed field's values are of its result type: that never changes either.
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        publish_type(conn, SYSTEM, _with_flag("number", "quantity * 2"))
    assert [e.field for e in refused.value.errors] == ["fields[4].result_type"]
    assert "published as computed (boolean)" in refused.value.errors[0].message
    assert publish(_with_flag("boolean", "quantity > 2")) == 2, "its expression may change"
    # Even once removed, the key stays bound to its first type.
    publish(_without(batch_type(), "quantity"))
    with pytest.raises(ValidationFailed), db.write() as conn:
        publish_type(conn, SYSTEM, definition)


def test_a_field_cannot_become_unique_over_duplicate_values(db, publish):
    add_roles(db, "analyst")
    publish(batch_type())
    with db.write() as conn:
        for code in ("A-1", "A-2"):
            create_record(
                conn,
                ANALYST,
                "batch",
                {"code": code, "product": "Same"},
            )
    definition = batch_type()
    _field(definition, "product")["unique"] = True
    with unchanged(db), pytest.raises(ValidationFailed) as refused, db.write() as conn:
        publish_type(conn, SYSTEM, definition)
    assert "duplicate" in refused.value.errors[0].message
    assert _versions(db, "batch") == [1]


def test_get_type_returns_definition_and_json_schema(db, client, admin, publish):
    add_roles(db, "analyst", "reviewer")
    publish(batch_type())
    publish(measurement_type())
    body = client.get("/api/v1/types/measurement", headers=admin.headers).json()
    assert body["key"] == "measurement" and body["version"] == 1
    assert body["definition"]["numbering"] == "MEA-{YYYY}-{#####}"
    schema = body["json_schema"]
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["required"] == ["name"]
    assert schema["properties"]["name"] == {"type": "string", "maxLength": 500}
    assert {"type": "number", "minimum": -1000, "maximum": 1000} in schema["properties"]["value"][
        "anyOf"
    ]
    assert schema["properties"]["out_of_limits"]["readOnly"] is True
    assert set(schema["properties"]) == {f["key"] for f in measurement_type()["fields"]}


@pytest.mark.requirement("REQ-REC-03")
def test_adding_a_field_never_touches_existing_records(db, publish):
    add_roles(db, "analyst")
    publish(batch_type())
    with db.write() as conn:
        created = create_record(conn, ANALYST, "batch", {"code": "B-1"})
    before = _record_row(db, created["id"])
    definition = batch_type()
    definition["fields"].append(
        {"key": "grade", "label": "Grade", "type": "text", "default": "A", "filterable": True}
    )
    assert publish(definition) == 2
    assert _record_row(db, created["id"]) == before
    with db.write() as conn:
        second = create_record(conn, ANALYST, "batch", {"code": "B-2"})
    assert second["data"]["grade"] == "A" and "grade" not in before["data"]


@pytest.mark.requirement("REQ-REC-03")
def test_removing_a_field_hides_it_but_keeps_the_data(db, publish):
    add_roles(db, "analyst")
    publish(batch_type())
    with db.write() as conn:
        created = create_record(
            conn,
            ANALYST,
            "batch",
            {"code": "B-1", "product": "Aspirin"},
        )
    publish(_without(batch_type(title="{code}"), "product"))
    with db.read() as conn:
        assert "product" not in type_model(conn, "batch").fields
        columns = [
            c[0] for c in conn.exec_driver_sql("SELECT * FROM report_batch").cursor.description
        ]
    assert "product" not in columns
    assert _record_row(db, created["id"])["data"]["product"] == "Aspirin"
    with db.write() as conn:
        with pytest.raises(ValidationFailed) as refused:
            update_record(
                conn,
                ANALYST,
                "batch",
                created["id"],
                {"product": "X"},
                expected_version=1,
            )
        assert refused.value.errors[0].field == "data.product"
    with db.write() as conn:
        update_record(
            conn,
            ANALYST,
            "batch",
            created["id"],
            {"quantity": 5},
            expected_version=1,
        )
    assert _record_row(db, created["id"])["data"] == {
        "code": "B-1",
        "product": "Aspirin",
        "quantity": 5,
    }


def test_report_view_has_one_typed_column_per_field(db, publish, make_person):
    make_person("ann", "analyst", "reviewer")
    publish(batch_type())
    publish(measurement_type())
    with db.write() as conn:
        batch = create_record(
            conn,
            ANALYST,
            "batch",
            {"code": "B-1", "quantity": 7, "made_on": "2026-03-01"},
        )
        create_record(
            conn,
            ANALYST,
            "measurement",
            {
                "name": "pH",
                "batch": batch["id"],
                "value": 7.25,
                "comment": "high",
                "checked": True,
                "measured_on": "2026-03-02",
                "measured_at": "2026-03-02T10:00:00+01:00",
                "method": "hplc",
                "tags": ["urgent"],
                "analyst": "ann",
            },
        )
    with db.read() as conn:
        row = conn.exec_driver_sql("SELECT * FROM report_measurement").mappings().one()
        batch_row = conn.exec_driver_sql("SELECT * FROM report_batch").mappings().one()
        if db.dialect == "sqlite":
            kinds = conn.exec_driver_sql(
                "SELECT typeof(value), typeof(checked), typeof(replicates), typeof(batch), "
                "typeof(out_of_limits) FROM report_measurement"
            ).one()
    assert row["record_number"].startswith("MEA-") and row["name"] == "pH"
    assert row["batch"] == batch["id"] and row["replicates"] == 1
    assert row["method"] == "hplc" and row["analyst"] == "ann"
    assert batch_row["code"] == "B-1" and batch_row["quantity"] == 7
    if db.dialect == "postgresql":
        assert row["value"] == Decimal("7.25")
        assert row["checked"] is True and row["out_of_limits"] is True
        assert row["measured_on"] == date(2026, 3, 2)
        assert row["measured_at"].isoformat() == "2026-03-02T09:00:00+00:00"
        assert row["tags"] == ["urgent"]
        assert batch_row["made_on"] == date(2026, 3, 1)
    else:
        assert tuple(kinds) == ("real", "integer", "integer", "integer", "integer")
        assert row["value"] == 7.25 and row["checked"] == 1 and row["out_of_limits"] == 1
        assert row["measured_on"] == "2026-03-02"
        assert row["measured_at"] == "2026-03-02T09:00:00Z"


def _catalog_indexes(conn) -> set[str]:
    if conn.dialect.name == "postgresql":
        sql = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'index'"
    return set(conn.exec_driver_sql(sql).scalars())


def test_filterable_and_unique_fields_get_expression_indexes(db, publish):
    add_roles(db, "analyst")
    publish(batch_type())
    with db.read() as conn:
        model = type_model(conn, "batch")
        wanted = desired_indexes(conn.dialect.name, model)
        present = _catalog_indexes(conn)
    assert len([n for n in wanted if n.startswith("ixf_")]) == 4
    assert len([n for n in wanted if n.startswith("uxf_")]) == 1
    assert set(wanted) <= present
    # No longer filterable: its index goes; the other types' indexes stay.
    definition = batch_type()
    _field(definition, "product")["filterable"] = False
    publish(definition)
    with db.read() as conn:
        now_wanted = desired_indexes(conn.dialect.name, type_model(conn, "batch"))
        now_present = _catalog_indexes(conn)
    (dropped,) = set(wanted) - set(now_wanted)
    assert "product" in dropped and dropped not in now_present
    assert set(now_wanted) <= now_present


def test_a_rehearsal_creates_only_the_indexes_that_can_refuse_the_change(db):
    """A dry run (rolled back) needs only new unique indexes: they can meet duplicates."""
    add_roles(db, "analyst")
    with db.write() as conn:
        before = _catalog_indexes(conn)
        publish_type(conn, SYSTEM, batch_type(), rehearsal=True)
        created = _catalog_indexes(conn) - before
        views = conn.exec_driver_sql(_VIEWS[conn.dialect.name]).scalars().all()
        conn.rollback()
    assert [name.split("_")[0] for name in created] == ["uxf"]
    assert "report_batch" not in views


_VIEWS = {
    "postgresql": "SELECT viewname FROM pg_views WHERE schemaname = current_schema()",
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'view'",
}


def test_a_filtered_list_sorted_by_creation_uses_the_expression_index(db, publish):
    add_roles(db, "analyst")
    publish(batch_type())
    with db.write() as conn:
        for n in range(120):
            create_record(
                conn,
                ANALYST,
                "batch",
                {"code": f"B-{n}", "product": f"P{n % 50}", "quantity": n},
            )
    statements: list[tuple[str, Any]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if "FROM record" in statement:
            statements.append((statement, parameters))

    with db.write() as conn:
        if db.dialect == "postgresql":
            conn.exec_driver_sql("ANALYZE record")
            # Few rows: forbid the plans that only win on tiny tables.
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
        model = type_model(conn, "batch")
        event.listen(db.engine, "before_cursor_execute", capture)
        try:
            page = list_records(conn, model, ListQuery(filters={"product": "P7"}, limit=3))
        finally:
            event.remove(db.engine, "before_cursor_execute", capture)
        assert [r["data"]["quantity"] for r in page["items"]] == [107, 57, 7]
        ((statement, parameters),) = statements
        prefix = "EXPLAIN " if db.dialect == "postgresql" else "EXPLAIN QUERY PLAN "
        plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql(prefix + statement, parameters))
    (index_name,) = [
        n for n in desired_indexes(db.dialect, model) if n.startswith("ixf_") and "product" in n
    ]
    assert index_name in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


def _with_stray_attributes() -> dict[str, Any]:
    """The batch type as an earlier, less strict release may have stored it: each
    field holding attributes of another kind."""
    definition = batch_type()
    _field(definition, "code")["unit"] = "kg"
    _field(definition, "product")["options"] = [{"value": "x", "label": "X"}]
    _field(definition, "quantity").update(pattern="^[0-9]+$", to="batch", max_length=5)
    _field(definition, "made_on").update(multiple=True, precision=2)
    return definition


def test_a_stored_version_with_attributes_its_kinds_do_not_mean_stays_readable(db, publish):
    add_roles(db, "analyst")
    publish(batch_type())
    with db.write() as conn:
        created = create_record(conn, ANALYST, "batch", {"code": "B-1"})
        versions.store(conn, "object_type", "batch", _with_stray_attributes(), "earlier-release")

    with db.read() as conn:
        model = type_model(conn, "batch")
        assert model.version == 2
        assert "unit" not in model.fields["code"] and "options" not in model.fields["product"]
        assert model.fields["quantity"]["max"] == 100000, "what the kind means is kept"
        assert get_record(conn, ANALYST, "batch", created["id"])["data"]["code"] == "B-1"
    with db.write() as conn:
        second = create_record(
            conn,
            ANALYST,
            "batch",
            {"code": "B-2", "quantity": 7, "made_on": "2026-01-02"},
        )
    assert second["type_version"] == 2
    with db.read() as conn:
        page = list_records(conn, type_model(conn, "batch"), ListQuery(filters={"quantity": "7"}))
    assert [item["id"] for item in page["items"]] == [second["id"]]


def test_a_new_definition_with_attributes_its_kinds_do_not_mean_is_refused(db, publish):
    add_roles(db, "analyst")
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        publish_type(conn, SYSTEM, _with_stray_attributes())
    errors = {e.field: e.message for e in refused.value.errors}
    assert errors["fields[0].unit"] == "does not apply to type 'text'", errors
    assert errors["fields[2].to"] == "does not apply to type 'integer'", errors
    assert _versions(db, "batch") == []


def test_a_whole_number_written_as_a_float_is_refused_where_it_stands(db):
    """The one document the schema accepts and the struct refuses (see
    test_metadata_spec_agreement.py) is refused on publishing, with its path."""
    definition = batch_type()
    _field(definition, "code")["max_length"] = 10.0
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        publish_type(conn, SYSTEM, definition)
    assert [e.field for e in refused.value.errors] == ["fields[0].max_length"]
    assert _versions(db, "batch") == []
