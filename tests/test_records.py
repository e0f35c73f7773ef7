"""Records: every field type validated, defaults, uniqueness, versions and refusals."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from labledger.db.tables import attachment, audit_event, record, record_reference
from labledger.db.types import utc_now
from labledger.errors import Conflict, Forbidden, NotFound, ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.identity.users import set_active
from labledger.records.attachments import store_attachment
from labledger.records.service import create_record, get_record, update_record
from tests.definitions import acting, add_roles, batch_type, counts, measurement_type, unchanged

ANALYST = acting("ann", "analyst")


@pytest.fixture
def types(db, publish) -> None:
    add_roles(db, "analyst", "reviewer")
    publish(batch_type())
    publish(measurement_type())


def create(db, type_key: str, data: dict[str, Any], *, actor=ANALYST, reason=None):
    with db.write() as conn:
        return create_record(conn, actor, type_key, data, reason=reason)


def update(db, type_key: str, record_id: int, data: dict[str, Any], version: int, **options):
    with db.write() as conn:
        return update_record(
            conn,
            options.pop("actor", ANALYST),
            type_key,
            record_id,
            data,
            expected_version=version,
            **options,
        )


def refused(db, action, *args, **kwargs) -> dict[str, str]:
    """Run a write that must fail validation; return {field: message}; nothing may change."""
    with unchanged(db), pytest.raises(ValidationFailed) as failure:
        action(db, *args, **kwargs)
    return {e.field: e.message for e in failure.value.errors}


def upload(db, size: int, actor=ANALYST) -> int:
    with db.write() as conn:
        return store_attachment(
            conn,
            actor,
            filename="raw.csv",
            content_type="text/csv",
            content=b"x" * size,
            max_bytes=10_000,
        )["id"]


@pytest.mark.requirement("REQ-REC-01")
def test_every_field_type_is_validated(db, types, make_person):
    make_person("ann", "analyst")
    make_person("gone", "analyst")
    with db.write() as conn:
        set_active(conn, SYSTEM, "gone", False)
    batch = create(db, "batch", {"code": "B-1"})
    other = create(db, "measurement", {"name": "other"})
    big_file, small_file = upload(db, 200), upload(db, 80)
    taken_file = upload(db, 10)
    bobs_file = upload(db, 10, actor=acting("bob", "analyst"))
    create(db, "measurement", {"name": "holder", "raw_file": taken_file})
    # (type, data, failing field, words of the message)
    cases: list[tuple[str, dict[str, Any], str, str]] = [
        ("batch", {"code": "B-" + "1" * 19}, "code", "at most 20 characters"),
        ("batch", {"code": "b 1"}, "code", "required format"),
        ("batch", {"code": "B-2", "quantity": -1}, "quantity", "at least 0"),
        ("batch", {"code": "B-2", "quantity": 100001}, "quantity", "at most 100000"),
        ("batch", {"code": "B-2", "quantity": 1.5}, "quantity", "whole number"),
        ("batch", {"code": "B-2", "quantity": "5"}, "quantity", "whole number"),
        ("batch", {"code": "B-2", "made_on": "2026-02-30"}, "made_on", "not a date"),
        ("batch", {"code": "B-2", "made_on": "tomorrow"}, "made_on", "not a date"),
        ("batch", {"quantity": 1}, "code", "is required"),
        ("batch", {"code": "B-2", "colour": "red"}, "colour", "not a field of Batch"),
        ("measurement", {"name": "x", "value": 7.255, "comment": "c"}, "value", "2 decimal"),
        ("measurement", {"name": "x", "value": 1000.5}, "value", "at most 1000"),
        ("measurement", {"name": "x", "value": -1000.01}, "value", "at least -1000"),
        ("measurement", {"name": "x", "value": "7"}, "value", "a number"),
        ("measurement", {"name": "x", "checked": "yes"}, "checked", "true or false"),
        (
            "measurement",
            {"name": "x", "measured_at": "2026-05-01T10:00:00"},
            "measured_at",
            "time zone",
        ),
        ("measurement", {"name": "x", "measured_at": "soon"}, "measured_at", "not a date and time"),
        ("measurement", {"name": "x", "method": "nmr"}, "method", "one of"),
        ("measurement", {"name": "x", "tags": ["urgent", "urgent"]}, "tags", "repeat"),
        ("measurement", {"name": "x", "tags": ["later"]}, "tags[0]", "one of"),
        ("measurement", {"name": "x", "batch": 999999}, "batch", "no batch record"),
        ("measurement", {"name": "x", "batch": other["id"]}, "batch", "no batch record"),
        ("measurement", {"name": "x", "batch": other["number"]}, "batch", "no batch record"),
        ("measurement", {"name": "x", "analyst": "nobody"}, "analyst", "no active user"),
        ("measurement", {"name": "x", "analyst": "gone"}, "analyst", "no active user"),
        ("measurement", {"name": "x", "raw_file": 999999}, "raw_file", "no attachment"),
        ("measurement", {"name": "x", "raw_file": big_file}, "raw_file", "at most 100"),
        ("measurement", {"name": "x", "raw_file": taken_file}, "raw_file", "another record"),
        ("measurement", {"name": "x", "raw_file": bobs_file}, "raw_file", "someone else"),
        ("measurement", {"name": "x", "out_of_limits": False}, "out_of_limits", "computed"),
        ("measurement", {"name": "x", "value": 7.25}, "comment", "is required"),
        ("measurement", {"name": "", "value": 2}, "name", "is required"),
        ("measurement", {"name": "   ", "value": 2}, "name", "is required"),
        ("measurement", {"name": "x", "replicates": 0}, "replicates", "at least 1"),
        ("measurement", {"name": "x", "replicates": 2**63}, "replicates", "out of range"),
        ("batch", {"code": "B-2", "product": "a\x00b"}, "product", "NUL"),
        ("measurement", {"name": "x", "notes": "\x00"}, "notes", "NUL"),
    ]
    for type_key, data, key, words in cases:
        errors = refused(db, create, type_key, data)
        assert words in errors.get(f"data.{key}", "(no error)"), (data, errors)
    # The installation's limit applies even under a field's own limit.
    small_limit = replace(db, settings=replace(db.settings, attachment_max_bytes=50))
    errors = refused(small_limit, create, "measurement", {"name": "x", "raw_file": small_file})
    assert "at most 50" in errors["data.raw_file"]
    # Every problem is reported at once.
    errors = refused(db, create, "batch", {"code": "b 1", "quantity": -1, "made_on": "x"})
    assert set(errors) == {"data.code", "data.quantity"}
    errors = refused(db, create, "batch", {"code": "B-3", "quantity": 5, "made_on": "x"})
    assert set(errors) == {"data.made_on"}
    assert batch["number"].startswith("BAT-")


def test_valid_values_are_normalised_defaulted_and_computed(db, types, make_person):
    make_person("ann", "analyst")
    batch = create(db, "batch", {"code": "B-1", "product": "  Aspirin  ", "made_on": "2026-02-28"})
    assert batch["data"] == {"code": "B-1", "product": "Aspirin", "made_on": "2026-02-28"}
    assert batch["title"] == "B-1 Aspirin" and batch["version"] == 1
    file_id = upload(db, 80)
    by_number = create(
        db,
        "measurement",
        {
            "name": "pH",
            "batch": batch["number"],
            "value": 3,
            "measured_at": "2026-05-01T14:30:00+02:00",
            "tags": ["repeat", "urgent"],
            "analyst": "ann",
            "raw_file": file_id,
        },
    )
    data = by_number["data"]
    assert data["batch"] == batch["id"], "a reference given by number is stored as the id"
    assert data["measured_at"] == "2026-05-01T12:30:00Z"
    assert (data["replicates"], data["low"], data["high"], data["checked"]) == (1, 1, 5, False)
    assert data["out_of_limits"] is False
    assert by_number["title"] == f"{by_number['number']} pH"
    by_id = create(
        db, "measurement", {"name": "pH", "batch": batch["id"], "value": 9, "comment": "c"}
    )
    assert by_id["data"]["batch"] == batch["id"] and by_id["data"]["out_of_limits"] is True
    assert create(db, "measurement", {"name": "none"})["data"]["out_of_limits"] is False
    with db.read() as conn:
        assert get_record(conn, ANALYST, "measurement", by_id["id"]) == by_id
        pointing = conn.execute(
            select(record_reference.c.source_id).where(record_reference.c.target_id == batch["id"])
        ).scalars()
        assert sorted(pointing) == [by_number["id"], by_id["id"]]
        owner = conn.execute(select(attachment.c.record_id).where(attachment.c.id == file_id))
        assert owner.scalar_one() == by_number["id"], "the file now belongs to its record"
    other = create(db, "batch", {"code": "B-2"})
    update(db, "measurement", by_id["id"], {"batch": other["number"]}, 1, reason="wrong batch")
    with db.read() as conn:
        moved = conn.execute(
            select(record_reference.c.target_id).where(record_reference.c.source_id == by_id["id"])
        ).scalars()
        assert list(moved) == [other["id"]]


def _computed(key: str, result_type: str, expression: str) -> dict[str, Any]:
    return {
        "key": key,
        "label": key.title(),
        "type": "computed",
        "result_type": result_type,
        "expression": expression,
        "filterable": True,
    }


def test_a_computed_result_that_does_not_fit_its_type_is_stored_as_no_value(db, publish):
    add_roles(db, "analyst")
    definition = batch_type()
    definition["fields"] += [
        _computed("big", "boolean", "quantity > 10"),
        _computed("wrong", "boolean", "quantity"),
        _computed("double", "number", "quantity * 2"),
        _computed("day", "date", "product"),
    ]
    publish(definition)
    created = create(db, "batch", {"code": "B-1", "quantity": 12, "product": "2026-01-02"})
    assert created["data"]["big"] is True and created["data"]["double"] == 24
    assert created["data"]["day"] == "2026-01-02"
    assert "wrong" not in created["data"], "a number is not a boolean: no value"
    other = create(db, "batch", {"code": "B-2", "quantity": 3, "product": "Aspirin"})
    assert other["data"]["big"] is False and "day" not in other["data"]
    with db.read() as conn:
        rows = conn.exec_driver_sql("SELECT big, wrong, double, day FROM report_batch").all()
    assert len(rows) == 2


def test_unique_values_are_refused_by_the_service_and_by_the_database(db, types, publish):
    first = create(db, "batch", {"code": "B-1"})
    second = create(db, "batch", {"code": "B-2"})
    assert "already used" in refused(db, create, "batch", {"code": "B-1"})["data.code"]
    assert (
        "already used"
        in refused(db, update, "batch", second["id"], {"code": "B-1"}, 1)["data.code"]
    )
    # Keeping one's own value is fine.
    assert update(db, "batch", first["id"], {"code": "B-1", "product": "P"}, 1)["version"] == 2
    # The database enforces it too, whatever writes the row.
    now = utc_now()
    row = {k: v for k, v in first.items() if k not in ("id", "type")}
    row.update(type_key="batch", number="BAT-X", created_at=now, updated_at=now)
    with pytest.raises(IntegrityError), db.write() as conn:
        conn.execute(insert(record).values(row))
    # Another type may hold the same value.
    definition = batch_type(key="lot", label="Lot", plural="Lots", numbering="LOT-{####}")
    publish(definition)
    assert create(db, "lot", {"code": "B-1"})["data"]["code"] == "B-1"


def test_read_only_fields_are_set_once(db, publish):
    add_roles(db, "analyst")
    definition = batch_type()
    definition["fields"][0]["read_only"] = True
    publish(definition)
    created = create(db, "batch", {"code": "B-1"})
    errors = refused(db, update, "batch", created["id"], {"code": "B-9"}, 1)
    assert "read-only" in errors["data.code"]
    assert update(db, "batch", created["id"], {"code": "B-1", "quantity": 3}, 1)["version"] == 2


@pytest.mark.requirement("REQ-AUD-06")
def test_reason_is_required_when_the_type_says_so(db, types):
    created = create(db, "measurement", {"name": "pH"})
    assert created["version"] == 1, "creating needs no reason"
    for reason in (None, "   "):
        errors = refused(db, update, "measurement", created["id"], {"value": 2}, 1, reason=reason)
        assert errors == {"reason": "give the reason for this change"}
    errors = refused(db, update, "measurement", created["id"], {"value": 2}, 1, reason="x" * 2001)
    assert "at most 2000" in errors["reason"]
    errors = refused(db, update, "measurement", created["id"], {"value": 2}, 1, reason="a\x00")
    assert "NUL" in errors["reason"]
    updated = update(db, "measurement", created["id"], {"value": 2}, 1, reason="typo")
    assert updated["version"] == 2
    # Types without require_reason accept a change without one.
    batch = create(db, "batch", {"code": "B-1"})
    assert update(db, "batch", batch["id"], {"quantity": 1}, 1)["version"] == 2


@pytest.mark.requirement("REQ-REC-02")
def test_a_stale_update_is_a_conflict_and_overwrites_nothing(db, types):
    created = create(db, "batch", {"code": "B-1", "quantity": 1})
    update(db, "batch", created["id"], {"quantity": 2}, 1)
    with unchanged(db), pytest.raises(Conflict) as conflict:
        update(db, "batch", created["id"], {"quantity": 3}, 1)
    assert conflict.value.extra["current_version"] == 2
    assert conflict.value.extra["current"]["data"]["quantity"] == 2
    with db.read() as conn:
        current = get_record(conn, ANALYST, "batch", created["id"])
    assert current["version"] == 2 and current["data"]["quantity"] == 2


def test_a_no_op_update_makes_no_version_and_no_audit_event(db, types):
    created = create(db, "batch", {"code": "B-1", "quantity": 1})
    with unchanged(db):
        same = update(db, "batch", created["id"], {"quantity": 1, "code": "B-1"}, 1)
        empty = update(db, "batch", created["id"], {}, 1)
    assert same == created and empty == created


@pytest.mark.requirement("REQ-REC-01")
def test_null_clears_an_optional_field_but_not_a_required_one(db, types):
    created = create(db, "batch", {"code": "B-1", "quantity": 4})
    cleared = update(db, "batch", created["id"], {"quantity": None}, 1)
    assert "quantity" not in cleared["data"]
    with db.read() as conn:
        (changes,) = conn.execute(
            select(audit_event.c.changes).where(audit_event.c.action == "record.update")
        ).scalars()
    assert changes == {"quantity": {"old": 4, "new": None}}
    assert "data.code" in refused(db, update, "batch", created["id"], {"code": None}, 2)


@pytest.mark.requirement("REQ-REC-01")
def test_a_record_written_under_an_earlier_version_has_every_field_checked_again(
    db, types, publish
):
    """An update checks the values it gives; when the type has changed since the record
    was written, the values it keeps must fit the new version too."""
    created = create(db, "batch", {"code": "B-1", "quantity": 500})
    tightened = batch_type()
    quantity = next(f for f in tightened["fields"] if f["key"] == "quantity")
    quantity["max"] = 100
    publish(tightened)
    assert "data.quantity" in refused(db, update, "batch", created["id"], {"product": "P"}, 1)
    fixed = update(db, "batch", created["id"], {"quantity": 50}, 1)
    assert fixed["type_version"] == 2
    assert "data.quantity" in refused(db, update, "batch", created["id"], {"quantity": 101}, 2)
    assert update(db, "batch", created["id"], {"product": "P"}, 2)["data"]["product"] == "P"


@pytest.mark.requirement("REQ-ACC-01")
def test_permissions_and_unknown_targets_are_refused(db, types):
    created = create(db, "batch", {"code": "B-1"})
    reviewer = acting("rita", "reviewer")
    with unchanged(db):
        with pytest.raises(Forbidden):
            create(db, "batch", {"code": "B-2"}, actor=reviewer)
        with pytest.raises(Forbidden):
            update(db, "batch", created["id"], {"quantity": 1}, 1, actor=reviewer)
        with pytest.raises(NotFound):
            create(db, "nothing", {"code": "B-2"})
        with pytest.raises(NotFound):
            update(db, "batch", 999999, {"quantity": 1}, 1)
        with pytest.raises(NotFound), db.read() as conn:
            get_record(conn, ANALYST, "measurement", created["id"])
    with pytest.raises(Forbidden), db.read() as conn:
        get_record(conn, acting("nobody"), "measurement", created["id"])
    assert counts(db)[0] == 1


def test_attachment_field_accepts_only_listed_kinds(db, types, publish):
    publish(
        measurement_type(
            key="report",
            label="Report",
            plural="Reports",
            numbering="REP-{####}",
            require_reason=False,
            fields=[
                {"key": "name", "label": "Name", "type": "text"},
                {"key": "pdf", "label": "PDF", "type": "attachment", "accept": [".pdf"]},
                {"key": "picture", "label": "Picture", "type": "attachment", "accept": ["image/*"]},
            ],
        )
    )
    csv_file = upload(db, 10)  # raw.csv, text/csv
    errors = refused(db, create, "report", {"name": "r", "pdf": csv_file, "picture": csv_file})
    assert errors == {
        "data.pdf": "this field takes only .pdf files",
        "data.picture": "this field takes only image/* files",
    }
    with db.write() as conn:
        pdf = store_attachment(
            conn,
            ANALYST,
            filename="Report.PDF",
            content_type="application/pdf",
            content=b"%PDF",
            max_bytes=100,
        )["id"]
        png = store_attachment(
            conn, ANALYST, filename="x.png", content_type="image/png", content=b"png", max_bytes=100
        )["id"]
    saved = create(db, "report", {"name": "r", "pdf": pdf, "picture": png})
    assert saved["data"]["pdf"] == pdf
