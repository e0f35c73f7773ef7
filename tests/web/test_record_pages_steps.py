"""Workflow steps, the signature dialog and grid entry, without a browser."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from labledger.db.tables import audit_event, signature, web_session
from labledger.identity.principal import SYSTEM
from labledger.metadata.types import publish_type
from labledger.records.service import get_record, update_record
from labledger.workflows.engine import run_transition
from tests.conftest import TEST_PASSWORD
from tests.definitions import refusal_recorded, unchanged
from tests.web.helpers import csrf_token, sign_in
from tests.web.record_fixtures import create, make_lab, result_type

HTMX = {"HX-Request": "true"}


@pytest.fixture
def lab(db, make_person):
    return make_lab(db, make_person)


def _state(db, person, type_key, record_id):
    with db.read() as conn:
        return get_record(conn, person.principal, type_key, record_id)["state"]


def _submitted(db, lab, code="L-1"):
    lot = create(db, lab.analyst, "lot", {"code": code})
    run_transition(
        db,
        lab.analyst.principal,
        "lot",
        lot["id"],
        "submit",
    )
    return lot


def _step(client, path, form, token, htmx=True):
    headers = {**HTMX, "x-csrftoken": token} if htmx else {}
    data = form if htmx else {**form, "_csrf_token": token}
    return client.post(path, data=data, headers=headers, follow_redirects=False)


def _actions(db):
    with db.read() as conn:
        return (
            conn.execute(select(audit_event.c.action).order_by(audit_event.c.seq)).scalars().all()
        )


def test_a_step_runs_from_its_dialog(client, db, lab):
    lot = create(db, lab.analyst, "lot", {"code": "L-1"})
    sign_in(client, "ann", TEST_PASSWORD)
    path = f"/records/lot/{lot['id']}/transitions/submit"
    dialog = client.get(path, headers=HTMX)
    assert dialog.status_code == 200 and "<html" not in dialog.text
    assert "<dialog" in dialog.text and "Open → <strong>In review</strong>" in dialog.text
    assert 'name="password"' not in dialog.text, "no signature for this step"
    token = csrf_token(client, f"/records/lot/{lot['id']}")
    done = _step(client, path, {"version": "1"}, token)
    assert done.status_code == 200 and done.headers["hx-redirect"] == f"/records/lot/{lot['id']}"
    assert _state(db, lab.analyst, "lot", lot["id"]) == "in_review"
    page = client.get(path)
    assert "<html" in page.text and "It does not start from the current state." in page.text


def test_without_htmx_the_dialog_is_a_page_and_the_step_redirects(client, db, lab):
    lot = create(db, lab.analyst, "lot", {"code": "L-1"})
    sign_in(client, "ann", TEST_PASSWORD)
    path = f"/records/lot/{lot['id']}/transitions/submit"
    assert "<html" in client.get(path).text
    done = _step(client, path, {"version": "1"}, csrf_token(client, path), htmx=False)
    assert done.status_code == 303 and done.headers["location"] == f"/records/lot/{lot['id']}"


def test_a_reason_is_asked_where_the_workflow_wants_one(client, db, lab):
    lot = _submitted(db, lab)
    sign_in(client, "quinn", TEST_PASSWORD)
    path = f"/records/lot/{lot['id']}/transitions/reject"
    assert 'name="reason"' in client.get(path, headers=HTMX).text
    token = csrf_token(client, f"/records/lot/{lot['id']}")
    with refusal_recorded(db):
        refused = _step(client, path, {"version": "2", "reason": " "}, token)
    assert refused.status_code == 422 and refused.headers["x-fragment"] == "true"
    assert "Give a reason for this step." in refused.text and "<dialog" in refused.text
    done = _step(client, path, {"version": "2", "reason": "label smudged"}, token)
    assert done.status_code == 200 and "hx-redirect" in done.headers
    with db.read() as conn:
        event = (
            conn.execute(
                select(audit_event)
                .where(audit_event.c.action == "record.transition")
                .order_by(audit_event.c.seq.desc())
            )
            .mappings()
            .first()
        )
    assert event["reason"] == "label smudged" and event["actor"] == "quinn"


def test_signature_needs_username_and_password_first_then_password_only(client, db, lab):
    first, second = _submitted(db, lab, "L-1"), _submitted(db, lab, "L-2")
    sign_in(client, "quinn", TEST_PASSWORD)
    path = f"/records/lot/{first['id']}/transitions/approve"
    dialog = client.get(path, headers=HTMX).text
    assert "Approved for release" in dialog and "Quinn Tester" in dialog
    assert 'name="username"' in dialog and 'name="password"' in dialog
    token = csrf_token(client, f"/records/lot/{first['id']}")
    with refusal_recorded(db, "record.sign_refused"):
        no_name = _step(client, path, {"version": "2", "password": TEST_PASSWORD}, token)
    assert no_name.status_code == 422 and "enter your username" in no_name.text
    with refusal_recorded(db, "signature.failed", "record.sign_refused"):
        wrong = _step(
            client, path, {"version": "2", "username": "quinn", "password": "nope"}, token
        )
    assert wrong.status_code == 403 and wrong.headers["x-fragment"] == "true"
    assert "Signature refused: Invalid username or password." in wrong.text
    assert 'value="quinn"' in wrong.text and "nope" not in wrong.text, (
        "the password is not sent back"
    )
    assert _state(db, lab.qa, "lot", first["id"]) == "in_review"
    done = _step(
        client, path, {"version": "2", "username": "quinn", "password": TEST_PASSWORD}, token
    )
    assert done.status_code == 200 and "hx-redirect" in done.headers
    assert _state(db, lab.qa, "lot", first["id"]) == "approved"
    with db.read() as conn:
        signed = conn.execute(select(signature)).mappings().one()
        assert conn.execute(select(web_session.c.signed_in_session)).scalar_one() is True
    assert signed["signer"] == "quinn" and signed["meaning"] == "Approved for release"
    later = client.get(f"/records/lot/{second['id']}/transitions/approve", headers=HTMX).text
    assert 'name="username"' not in later and 'name="password"' in later
    done = _step(
        client,
        f"/records/lot/{second['id']}/transitions/approve",
        {"version": "2", "password": TEST_PASSWORD},
        token,
    )
    assert done.status_code == 200 and _state(db, lab.qa, "lot", second["id"]) == "approved"


def test_signing_as_someone_else_is_refused(client, db, lab):
    lot = _submitted(db, lab)
    sign_in(client, "quinn", TEST_PASSWORD)
    token = csrf_token(client, f"/records/lot/{lot['id']}")
    with refusal_recorded(db, "record.sign_refused"):
        refused = _step(
            client,
            f"/records/lot/{lot['id']}/transitions/approve",
            {"version": "2", "username": "ann", "password": TEST_PASSWORD},
            token,
        )
    assert refused.status_code == 403 and "only sign with your own account" in refused.text


def test_a_step_the_person_may_not_take_says_why(client, db, lab):
    lot = _submitted(db, lab)
    sign_in(client, "ann", TEST_PASSWORD)
    path = f"/records/lot/{lot['id']}/transitions/approve"
    dialog = client.get(path, headers=HTMX).text
    assert "Only these roles may approve: Qa." in dialog and "<form" not in dialog
    token = csrf_token(client, f"/records/lot/{lot['id']}")
    with refusal_recorded(db):
        refused = _step(client, path, {"version": "2", "password": TEST_PASSWORD}, token)
    assert refused.status_code == 403 and "Only these roles may approve: Qa." in refused.text
    assert client.get(f"/records/lot/{lot['id']}/transitions/nothing").status_code == 404


def test_a_step_on_a_record_that_moved_on_is_a_conflict(client, db, lab):
    lot = create(db, lab.analyst, "lot", {"code": "L-1"})
    sign_in(client, "ann", TEST_PASSWORD)
    token = csrf_token(client, f"/records/lot/{lot['id']}")
    path = f"/records/lot/{lot['id']}/transitions/submit"
    assert _step(client, path, {"version": "1"}, token).status_code == 200
    with refusal_recorded(db):
        again = _step(client, path, {"version": "1"}, token)
    assert again.status_code == 409 and "changed since you loaded it" in again.text


# --- grid entry ---


def _grid_lab(db, lab):
    lots = [create(db, lab.analyst, "lot", {"code": f"L-{i}"}) for i in (1, 2)]
    rows = [
        create(db, lab.analyst, "result", {"lot": lot["id"], "test": name})
        for lot in lots
        for name in ("Assay", "pH")
    ]
    return lots, rows


def _cell(html, record_id, key):
    match = re.search(rf'id="c-{record_id}-{key}"', html)
    return match is not None


def test_grid_shows_the_children_of_the_parents(client, db, lab):
    lots, rows = _grid_lab(db, lab)
    sign_in(client, "ann", TEST_PASSWORD)
    html = client.get(
        "/records/result/grid", params=[("parent", lots[0]["id"]), ("parent", lots[1]["id"])]
    ).text
    assert html.count('class="group-row"') == 2 and "L-1" in html and "L-2" in html
    for row in rows:
        assert f'id="row-{row["id"]}"' in html
        assert _cell(html, row["id"], "value") and _cell(html, row["id"], "test")
    assert not _cell(html, rows[0]["id"], "lot"), "the parent link is the row group"
    assert not _cell(html, rows[0]["id"], "tags"), "a list of choices is no cell"
    assert f'id="k-{rows[0]["id"]}-out_of_spec"' in html
    assert 'Value <span class="unit">(mg/L)</span>' in html
    assert f'hx-post="/records/result/grid/{rows[0]["id"]}?via=lot"' in html
    only_first = client.get("/records/result/grid", params={"parent": lots[0]["id"]}).text
    assert only_first.count('class="group-row"') == 1


def test_grid_cells_follow_the_row_state(client, db, lab):
    lots, rows = _grid_lab(db, lab)
    with db.write() as conn:
        update_record(
            conn,
            lab.analyst.principal,
            "result",
            rows[0]["id"],
            {"value": 2},
            expected_version=1,
        )
    run_transition(
        db,
        lab.analyst.principal,
        "result",
        rows[0]["id"],
        "enter",
    )
    sign_in(client, "ann", TEST_PASSWORD)
    html = client.get("/records/result/grid", params={"parent": lots[0]["id"]}).text
    assert _cell(html, rows[0]["id"], "value") and _cell(html, rows[0]["id"], "note")
    assert not _cell(html, rows[0]["id"], "test"), "locked in state Entered"
    assert _cell(html, rows[1]["id"], "test")
    sign_in(client, "quinn", TEST_PASSWORD)
    read_only = client.get("/records/result/grid", params={"parent": lots[0]["id"]}).text
    assert not _cell(read_only, rows[1]["id"], "test") and "hx-post" not in read_only


def _save(client, row_id, form, token):
    """Post a row as the browser does: every cell of the row, here the limits' defaults too."""
    return client.post(
        f"/records/result/grid/{row_id}",
        params={"via": "lot"},
        data={"low": "1", "high": "5", **form},
        headers={**HTMX, "x-csrftoken": token},
    )


def test_a_grid_row_saves_on_its_own(client, db, lab):
    _lots, rows = _grid_lab(db, lab)
    sign_in(client, "ann", TEST_PASSWORD)
    token = csrf_token(client, "/")
    row = rows[0]["id"]
    saved = _save(client, row, {"version": "1", "test": "Assay", "value": "2.5"}, token)
    assert saved.status_code == 200
    assert re.search(rf'id="ver-{row}" value="2" hx-swap-oob="true"', saved.text)
    assert re.search(rf'id="k-{row}-out_of_spec"[^>]*hx-swap-oob="true">No<', saved.text)
    assert "✓ Saved" in saved.text
    with db.read() as conn:
        data = get_record(conn, lab.analyst.principal, "result", row)["data"]
    assert data["value"] == 2.5 and data["low"] == 1 and data["high"] == 5
    assert get_record_state(db, lab, rows[1]["id"])["version"] == 1, "other rows untouched"


def get_record_state(db, lab, record_id):
    with db.read() as conn:
        return get_record(conn, lab.analyst.principal, "result", record_id)


def test_an_out_of_spec_row_shows_its_flag_and_what_it_needs(client, db, lab):
    _lots, rows = _grid_lab(db, lab)
    sign_in(client, "ann", TEST_PASSWORD)
    token = csrf_token(client, "/")
    row = rows[0]["id"]
    with unchanged(db):
        refused = _save(client, row, {"version": "1", "test": "Assay", "value": "9"}, token)
    assert refused.status_code == 422 and refused.headers["x-fragment"] == "true"
    assert re.search(rf'id="k-{row}-out_of_spec"[^>]*>\s*<span class="flag">Yes', refused.text)
    assert re.search(rf'id="e-{row}-explanation"[^>]*>is required<', refused.text)
    assert f'id="ver-{row}"' not in refused.text, "the version stays"
    saved = _save(
        client,
        row,
        {"version": "1", "test": "Assay", "value": "9", "explanation": "diluted"},
        token,
    )
    assert saved.status_code == 200 and '<span class="flag">Yes</span>' in saved.text
    assert get_record_state(db, lab, row)["data"]["explanation"] == "diluted"


def test_a_refused_grid_row_says_why_and_keeps_nothing(client, db, lab):
    _lots, rows = _grid_lab(db, lab)
    sign_in(client, "ann", TEST_PASSWORD)
    token = csrf_token(client, "/")
    row = rows[0]["id"]
    with unchanged(db):
        not_a_number = _save(client, row, {"version": "1", "test": "Assay", "value": "abc"}, token)
    assert not_a_number.status_code == 422
    assert re.search(rf'id="e-{row}-value"[^>]*>must be a number<', not_a_number.text)
    assert "Not saved" in not_a_number.text or "could not be read" in not_a_number.text
    with unchanged(db):
        too_big = _save(client, row, {"version": "1", "test": "Assay", "value": "5000"}, token)
    assert re.search(rf'id="e-{row}-value"[^>]*>must be at most 1000<', too_big.text)
    _save(client, row, {"version": "1", "test": "Assay", "value": "2"}, token)
    with unchanged(db):
        stale = _save(client, row, {"version": "1", "test": "Assay", "value": "3"}, token)
    assert stale.status_code == 409 and "changed by someone else" in stale.text
    assert "Your typed values are still in the row." in stale.text


def test_grid_rows_of_a_type_that_needs_a_reason(client, db, lab):
    with db.write() as conn:
        publish_type(conn, SYSTEM, result_type(require_reason=True))
    lots, rows = _grid_lab(db, lab)
    sign_in(client, "ann", TEST_PASSWORD)
    html = client.get("/records/result/grid", params={"parent": lots[0]["id"]}).text
    assert 'id="grid-reason"' in html and 'hx-include="closest tr, #grid-reason"' in html
    token = csrf_token(client, "/")
    row = rows[0]["id"]
    with unchanged(db):
        refused = _save(client, row, {"version": "1", "test": "Assay", "value": "2"}, token)
    assert refused.status_code == 422
    assert "Reason for change: give the reason for this change" in refused.text
    saved = _save(
        client,
        row,
        {"version": "1", "test": "Assay", "value": "2", "reason": "from printout"},
        token,
    )
    assert saved.status_code == 200
    assert _actions(db)[-1] == "record.update"


def test_grid_asks_which_reference_when_there_are_several(client, db, lab):
    definition = result_type()
    definition["fields"].append(
        {"key": "retest_of", "label": "Retest of", "type": "reference", "to": "lot"}
    )
    with db.write() as conn:
        publish_type(conn, SYSTEM, definition)
    lot = create(db, lab.analyst, "lot", {"code": "L-1"})
    sign_in(client, "ann", TEST_PASSWORD)
    html = client.get("/records/result/grid", params={"parent": lot["id"]}).text
    assert "through several fields" in html
    assert f"/records/result/grid?via=retest_of&amp;parent={lot['id']}" in html
    assert "Choose the parent records first" in client.get("/records/result/grid?via=lot").text
    assert client.get("/records/result/grid?via=nothing").status_code == 422
    assert client.get("/records/lot/grid").status_code == 422, "lots have no parent"
