"""Record forms without a browser: widgets, typed values, validation, conflicts, files."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from labledger.db.tables import audit_event
from labledger.metadata.model import compile_model
from labledger.records.service import get_record, update_record
from labledger.web.forms import parse_form
from labledger.workflows.engine import run_transition
from tests.conftest import TEST_PASSWORD
from tests.definitions import unchanged
from tests.web.helpers import csrf_token, sign_in
from tests.web.record_fixtures import create, make_lab, result_type


@pytest.fixture
def lab(db, make_person):
    return make_lab(db, make_person)


def _field(html: str, key: str) -> str:
    """The HTML of one field of a form."""
    match = re.search(rf'<fieldset[^>]*id="fld-{key}".*?</fieldset>', html, re.S)
    assert match, f"no field {key}"
    return match.group(0)


def _error(html: str, key: str) -> str:
    match = re.search(rf'id="err-{key}"[^>]*>([^<]*)<', html)
    assert match, f"no error slot for {key}"
    return match.group(1)


def _post(client, path, form, page=None):
    token = csrf_token(client, page or path)
    return client.post(path, data={**form, "_csrf_token": token}, follow_redirects=False)


def test_new_form_draws_a_widget_per_field_type(client, db, lab):
    lot = create(db, lab.analyst, "lot", {"code": "L-1"})
    sign_in(client, "ann", TEST_PASSWORD)
    html = client.get("/records/result/new", params={"lot": lot["number"]}).text
    value = _field(html, "value")
    assert 'type="number"' in value and 'step="0.01"' in value and "mg/L" in value
    assert 'min="-1000"' in value and 'max="1000"' in value
    assert 'value="1"' in _field(html, "low"), "defaults filled in"
    assert "<select" in _field(html, "method") and ">HPLC<" in _field(html, "method")
    assert _field(html, "tags").count('type="checkbox"') == 2
    measured = _field(html, "measured_at")
    assert 'type="datetime-local"' in measured and 'name="measured_at__tz"' in measured
    assert ">UTC<" in measured and ">UTC+02:00<" in measured
    analyst = _field(html, "analyst")
    assert "Ann Tester (ann)" in analyst and "Quinn Tester (quinn)" in analyst
    picker = _field(html, "lot")
    assert 'list="dl-lot"' in picker and 'hx-get="/records/lot/choices?field=lot"' in picker
    assert f'value="{lot["number"]}"' in picker, "prefilled from the address"
    assert "hidden disabled" in _field(html, "explanation"), "visible only when out of spec"
    assert '<output id="out-out_of_spec"' in _field(html, "out_of_spec")
    assert re.search(r'id="req-test"[^>]*>\*<', html), "required marker"
    assert 'hx-post="/records/result/validate"' in html and "novalidate" in html
    lot_form = client.get("/records/lot/new").text
    assert 'type="file"' in _field(lot_form, "certificate")
    assert 'type="date"' in _field(lot_form, "made_on")
    assert "<textarea" in _field(lot_form, "notes")
    assert "Capital letters, digits and dashes." in _field(lot_form, "code")
    assert "Reason for change" not in lot_form, "only changes need a reason"


def test_create_turns_posted_text_into_typed_values(client, db, lab):
    lot = create(db, lab.analyst, "lot", {"code": "L-1"})
    sign_in(client, "ann", TEST_PASSWORD)
    form = {
        "lot": lot["number"],
        "test": "  Assay ",
        "value": "2.50",
        "low": "1",
        "high": "5",
        "method": "gc",
        "tags": ["urgent", "repeat"],
        "checked": "true",
        "measured_at": "2026-05-01T14:30",
        "measured_at__tz": "+02:00",
        "analyst": "quinn",
        "note": "",
    }
    response = _post(client, "/records/result/new", form)
    assert response.status_code == 303
    record_id = int(response.headers["location"].rsplit("/", 1)[1])
    with db.read() as conn:
        data = get_record(conn, lab.analyst.principal, "result", record_id)["data"]
    assert data == {
        "lot": lot["id"],
        "test": "Assay",
        "value": 2.5,
        "low": 1,
        "high": 5,
        "method": "gc",
        "tags": ["urgent", "repeat"],
        "checked": True,
        "measured_at": "2026-05-01T12:30:00Z",
        "analyst": "quinn",
        "out_of_spec": False,
    }


def test_text_that_is_no_number_is_a_field_error_and_nothing_is_saved(client, db, lab):
    sign_in(client, "ann", TEST_PASSWORD)
    with unchanged(db):
        response = _post(
            client, "/records/lot/new", {"code": "bad code", "quantity": "1.5", "product": "P"}
        )
    assert response.status_code == 422
    assert _error(response.text, "quantity") == "must be a whole number"
    assert "does not match the required format" in _error(response.text, "code")
    assert 'value="bad code"' in _field(response.text, "code"), "typed values are kept"
    assert 'value="P"' in _field(response.text, "product")
    with unchanged(db):
        response = _post(client, "/records/result/new", {"test": "t", "value": "12,5"})
    assert response.status_code == 422 and _error(response.text, "value") == "must be a number"


def test_service_rules_show_next_to_their_fields(client, db, lab):
    create(db, lab.analyst, "lot", {"code": "L-1"})
    sign_in(client, "ann", TEST_PASSWORD)
    with unchanged(db):
        response = _post(client, "/records/lot/new", {"code": "L-1", "quantity": "-3"})
    assert response.status_code == 422
    assert _error(response.text, "quantity") == "must be at least 0"
    with unchanged(db):
        response = _post(client, "/records/lot/new", {"code": "L-1", "quantity": "3"})
    assert "already used by another record" in _error(response.text, "code")
    with unchanged(db):
        response = _post(client, "/records/result/new", {"value": "9"})
    assert _error(response.text, "test") == "is required"
    with unchanged(db):
        response = _post(client, "/records/result/new", {"value": "9", "test": "pH"})
    assert _error(response.text, "explanation") == "is required", "required when out of spec"
    assert "hidden" not in _field(response.text, "explanation").split(">")[0]


def test_edit_asks_for_a_reason_and_records_it(client, db, lab):
    lot = create(db, lab.analyst, "lot", {"code": "L-1", "product": "Old"})
    sign_in(client, "ann", TEST_PASSWORD)
    path = f"/records/lot/{lot['id']}/edit"
    form = client.get(path).text
    assert "Reason for change" in form and 'name="version" value="1"' in form
    with unchanged(db):
        refused = _post(client, path, {"version": "1", "code": "L-1", "product": "New"})
    assert refused.status_code == 422
    assert _error(refused.text, "__reason") == "give the reason for this change"
    assert 'value="New"' in _field(refused.text, "product")
    saved = _post(
        client, path, {"version": "1", "code": "L-1", "product": "New", "reason": "relabelled"}
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"/records/lot/{lot['id']}"
    with db.read() as conn:
        event = (
            conn.execute(select(audit_event).where(audit_event.c.action == "record.update"))
            .mappings()
            .one()
        )
    assert event["reason"] == "relabelled"
    assert event["changes"] == {"product": {"old": "Old", "new": "New"}}, "only real changes"


def test_a_stale_edit_shows_the_conflict_and_keeps_the_typed_values(client, db, lab):
    lot = create(db, lab.analyst, "lot", {"code": "L-1", "product": "Old"})
    sign_in(client, "ann", TEST_PASSWORD)
    path = f"/records/lot/{lot['id']}/edit"
    token = csrf_token(client, path)
    with db.write() as conn:
        update_record(
            conn,
            lab.other.principal,
            "lot",
            lot["id"],
            {"product": "Theirs"},
            expected_version=1,
            reason="their change",
        )
    form = {"version": "1", "code": "L-1", "product": "Mine", "reason": "my change"}
    with unchanged(db):
        response = client.post(path, data={**form, "_csrf_token": token})
    assert response.status_code == 409
    assert "was changed by someone else" in response.text
    product = _field(response.text, "product")
    assert 'value="Mine"' in product and "Saved meanwhile by someone else: Theirs" in product
    assert 'name="version" value="2"' in response.text
    assert 'value="my change"' not in response.text and "my change" in response.text
    again = client.post(
        path, data={**form, "version": "2", "_csrf_token": token}, follow_redirects=False
    )
    assert again.status_code == 303


def test_read_only_and_locked_fields_cannot_change(client, db, lab):
    lot = create(db, lab.analyst, "lot", {"code": "L-1", "supplier_ref": "S-9"})
    result = create(db, lab.analyst, "result", {"lot": lot["id"], "test": "pH", "value": 3})
    run_transition(
        db,
        lab.analyst.principal,
        "result",
        result["id"],
        "enter",
    )
    sign_in(client, "ann", TEST_PASSWORD)
    lot_form = client.get(f"/records/lot/{lot['id']}/edit").text
    supplier = _field(lot_form, "supplier_ref")
    assert "S-9" in supplier and "read-only once the record is created" in supplier
    assert "<input" not in supplier
    path = f"/records/result/{result['id']}/edit"
    html = client.get(path).text
    assert "locked in state Entered" in _field(html, "test")
    assert "<input" in _field(html, "value") and "<input" in _field(html, "note")
    response = _post(client, path, {"version": "2", "test": "changed", "value": "4", "note": "n"})
    assert response.status_code == 303
    with db.read() as conn:
        data = get_record(conn, lab.analyst.principal, "result", result["id"])["data"]
    assert data["test"] == "pH" and data["value"] == 4 and data["note"] == "n"


def test_saving_an_unchanged_form_writes_nothing(client, db, lab):
    lot = create(db, lab.analyst, "lot", {"code": "L-1"})
    result = create(
        db,
        lab.analyst,
        "result",
        {"lot": lot["id"], "test": "pH", "value": 3, "tags": ["urgent", "repeat"]},
    )
    sign_in(client, "ann", TEST_PASSWORD)
    path = f"/records/result/{result['id']}/edit"
    form = {
        "version": "1",
        "lot": lot["number"],
        "test": "pH",
        "value": "3.0",
        "low": "1",
        "high": "5",
        "tags": ["repeat", "urgent"],
        "measured_at__tz": "Z",
    }
    with unchanged(db):
        response = _post(client, path, form)
    assert response.status_code == 303


def test_validation_while_typing_answers_with_the_parts_that_change(client, db, lab):
    sign_in(client, "ann", TEST_PASSWORD)
    token = csrf_token(client, "/records/result/new")

    def validate(form):
        headers = {"HX-Request": "true", "x-csrftoken": token}
        return client.post("/records/result/validate", data=form, headers=headers)

    with unchanged(db):
        answer = validate({"value": "7", "low": "1", "high": "5", "__touched": "value"})
    assert answer.status_code == 200 and "<html" not in answer.text
    assert re.search(r'<output id="out-out_of_spec"[^>]*hx-swap-oob="true">.*Yes', answer.text)
    appeared = re.search(
        r'<fieldset[^>]*id="fld-explanation"[^>]*hx-swap-oob="true".*?</fieldset>',
        answer.text,
        re.S,
    )
    assert appeared and "hidden" not in appeared.group(0).split(">")[0]
    assert re.search(r'id="req-explanation"[^>]*>\*<', appeared.group(0)), "and required"
    assert _error(answer.text, "test") == "", "untouched fields show no message yet"
    assert _error(answer.text, "value") == ""
    answer = validate({"value": "abc", "test": "", "__touched": "value,test"})
    assert _error(answer.text, "value") == "must be a number"
    assert _error(answer.text, "test") == "is required"
    assert "fld-explanation" not in answer.text, "unchanged visibility is left alone"
    answer = validate({"value": "3", "__shown": "explanation", "__touched": "value"})
    field = re.search(r'<fieldset[^>]*id="fld-explanation"[^>]*>', answer.text).group(0)
    assert "hidden disabled" in field, "hidden again once back in specification"
    answer = validate({"value": "1234", "__touched": "value"})
    assert _error(answer.text, "value") == "must be at most 1000", "the service's own rule"


def test_upload_a_file_in_the_form(client, db, lab):
    sign_in(client, "ann", TEST_PASSWORD)
    token = csrf_token(client, "/records/lot/new")
    headers = {"HX-Request": "true", "x-csrftoken": token}
    answer = client.post(
        "/records/lot/upload",
        params={"field": "certificate"},
        files={"file-certificate": ("cert.pdf", b"%PDF small", "application/pdf")},
        headers=headers,
    )
    assert answer.status_code == 200 and "cert.pdf" in answer.text
    file_id = re.search(r'name="certificate" value="(\d+)"', answer.text).group(1)
    saved = _post(client, "/records/lot/new", {"code": "L-1", "certificate": file_id})
    assert saved.status_code == 303
    page = client.get(saved.headers["location"]).text
    assert "cert.pdf" in page and f"/attachments/{file_id}" in page
    too_big = client.post(
        "/records/lot/upload",
        params={"field": "certificate"},
        files={"file-certificate": ("big.bin", b"x" * 1001, "application/octet-stream")},
        headers=headers,
    )
    assert too_big.status_code == 413 and too_big.headers["x-fragment"] == "true"
    assert "the limit is 1000 bytes" in too_big.text


def test_reference_picker_searches_the_target_type(client, db, lab):
    for code in ("A-1", "A-2", "B-1"):
        create(db, lab.analyst, "lot", {"code": code, "product": "P"})
    sign_in(client, "ann", TEST_PASSWORD)
    options = client.get("/records/lot/choices", params={"field": "lot", "lot": "A-"}).text
    assert options.count("<option") == 2 and 'value="LOT-0001"' in options
    assert "A-1 P" in options


def test_labels_and_help_from_metadata_are_escaped(client, db, make_person):
    hostile = "<script>alert(1)</script><b>bold</b>"
    definition = result_type()
    definition["fields"][1] = {**definition["fields"][1], "label": hostile, "help": hostile}
    people = make_lab(db, make_person)
    from labledger.identity.principal import SYSTEM
    from labledger.metadata.types import publish_type

    with db.write() as conn:
        publish_type(conn, SYSTEM, definition)
    lot = create(db, people.analyst, "lot", {"code": "L-1", "product": hostile})
    create(db, people.analyst, "result", {"lot": lot["id"], "test": hostile, "value": 2})
    sign_in(client, "ann", TEST_PASSWORD)
    for path in (
        "/records/result",
        "/records/result/2",
        "/records/result/new",
        "/records/result/2/edit",
        f"/records/result/grid?parent={lot['id']}",
        f"/records/lot/{lot['id']}",
        "/records/lot",
        "/",
    ):
        html = client.get(path).text
        assert "<script>alert" not in html and "<b>bold" not in html, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get("/records/result/2").text


@pytest.mark.parametrize(
    ("kind", "text", "typed"),
    [
        ("integer", "42", 42),
        ("integer", "-7", -7),
        ("decimal", "2.50", 2.5),
        ("decimal", "3", 3),
        ("decimal", "1e3", 1000.0),
        ("text", "  ", None),
        ("date", "", None),
    ],
)
def test_parse_form_types_values(kind, text, typed):
    model = compile_model("t", 1, _one_field(kind))
    assert parse_form(model, {"f": text}, ["f"]) == ({"f": typed}, [])


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("integer", "1.5", "must be a whole number"),
        ("integer", "ten", "must be a whole number"),
        ("decimal", "1,5", "must be a number"),
        ("decimal", "NaN", "must be a number"),
        ("decimal", "Infinity", "must be a number"),
    ],
)
def test_parse_form_reports_text_that_is_no_number(kind, text, message):
    model = compile_model("t", 1, _one_field(kind))
    data, errors = parse_form(model, {"f": text}, ["f"])
    assert data == {} and [(e.field, e.message) for e in errors] == [("data.f", message)]


def test_parse_form_reads_boxes_and_lists():
    model = compile_model(
        "t",
        1,
        {
            "key": "t",
            "label": "T",
            "plural": "Ts",
            "numbering": "T-{###}",
            "fields": [
                {"key": "b", "label": "B", "type": "boolean"},
                {
                    "key": "m",
                    "label": "M",
                    "type": "multi_choice",
                    "options": [{"value": "x", "label": "X"}, {"value": "y", "label": "Y"}],
                },
            ],
        },
    )
    assert parse_form(model, {}, ["b", "m"]) == ({"b": False, "m": None}, [])
    assert parse_form(model, {"b": "true", "m": ["x", "y"]}, ["b", "m"])[0] == {
        "b": True,
        "m": ["x", "y"],
    }


def _one_field(kind):
    return {
        "key": "t",
        "label": "T",
        "plural": "Ts",
        "numbering": "T-{###}",
        "fields": [{"key": "f", "label": "F", "type": kind}],
    }
