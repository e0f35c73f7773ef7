"""One step on many records from the browser: the page lists each record with its summary,
flags and whether it would move, one signing moves them, each outcome is shown."""

from __future__ import annotations

from itertools import count
from typing import Any

import pytest
from sqlalchemy import select

from labledger.db.tables import audit_event, signature
from labledger.identity.principal import SYSTEM
from labledger.metadata.types import definition_context, publish_type
from labledger.records.service import get_record
from labledger.workflows.definitions import publish_workflow
from labledger.workflows.engine import run_transition
from tests.conftest import TEST_PASSWORD
from tests.definitions import unchanged
from tests.test_confirmations import HIGH_PRIORITY, confirming_flow
from tests.web.helpers import csrf_token, sign_in
from tests.web.record_fixtures import create, make_lab, result_type

APPROVE = "/records/lot/transitions/approve"
CODES = count(1)


@pytest.fixture
def lab(db, make_person):
    return make_lab(db, make_person)


def _lots(db, lab, *priorities: str, submitted: bool = True) -> list[dict[str, Any]]:
    lots = []
    for priority in priorities:
        code = f"B-{next(CODES)}-{priority.upper()}"
        lot = create(db, lab.analyst, "lot", {"code": code, "priority": priority})
        if submitted:
            run_transition(db, lab.analyst.principal, "lot", lot["id"], "submit")
        lots.append(lot)
    return lots


def _query(lots) -> str:
    return "&".join(f"id={lot['id']}" for lot in lots)


def _post(client, path: str, ids: list[int], **form: Any):
    data = {"id": [str(i) for i in ids], "_csrf_token": csrf_token(client, f"{path}?id={ids[0]}")}
    return client.post(path, data={**data, **form})


def _state(db, lab, record_id: int) -> str:
    with db.read() as conn:
        return get_record(conn, lab.qa.principal, "lot", record_id)["state"]


def test_the_page_shows_what_will_be_signed_and_one_signing_moves_each_record(client, db, lab):
    movable = _lots(db, lab, "low", "low")
    still_open = _lots(db, lab, "low", submitted=False)
    sign_in(client, "quinn", TEST_PASSWORD)
    page = client.get(f"{APPROVE}?{_query(movable + still_open)}")
    assert page.status_code == 200
    text = page.text
    assert (
        "Approve: 3 Lots" in text
        and "<strong>2</strong> can move to <strong>Approved</strong>" in text
    )
    assert all(lot["number"] in text for lot in movable + still_open)
    assert f'<span class="summary-label">Code</span> {movable[0]["data"]["code"]}' in text
    assert "Approve does not start from its state." in text
    assert 'id="sig-meaning">Approved for release<' in text
    assert 'name="username"' in text, "the first signature in a session asks for the username"
    ids = [lot["id"] for lot in movable + still_open]
    done = _post(client, APPROVE, ids, username="quinn", password=TEST_PASSWORD)
    assert done.status_code == 200, done.text
    assert "Approve: 2 moved, 1 not" in done.text
    assert [_state(db, lab, i) for i in ids] == ["approved", "approved", "open"]
    with db.read() as conn:
        refused = conn.execute(
            select(audit_event.c.record_id).where(
                audit_event.c.action == "record.transition_refused"
            )
        ).scalars()
        assert list(refused) == [ids[2]], "the record that stayed has its refusal on its trail"
    with db.read() as conn:
        signed = conn.execute(select(signature.c.record_id, signature.c.content_hash)).all()
    assert sorted(r.record_id for r in signed) == sorted(ids[:2])
    assert len({r.content_hash for r in signed}) == 2, "each record signs its own content"
    # The session has signed: the next signing asks for the password only.
    assert 'name="username"' not in client.get(f"{APPROVE}?{_query(movable)}").text


def test_a_wrong_password_moves_nothing_and_keeps_the_page(client, db, lab):
    lots = _lots(db, lab, "low", "low")
    sign_in(client, "quinn", TEST_PASSWORD)
    ids = [lot["id"] for lot in lots]
    refused = _post(client, APPROVE, ids, username="quinn", password="not it", reason="kept")
    assert refused.status_code == 403
    assert "Signature refused" in refused.text and "not it" not in refused.text
    assert all(lot["number"] in refused.text for lot in lots), "the records are still listed"
    assert [_state(db, lab, i) for i in ids] == ["in_review", "in_review"]


def test_a_flagged_record_asks_for_a_confirmation_before_anything_moves(client, db, lab):
    with db.write() as conn:
        publish_workflow(conn, SYSTEM, confirming_flow())
    lots = _lots(db, lab, "high", "low")
    ids = [lot["id"] for lot in lots]
    sign_in(client, "quinn", TEST_PASSWORD)
    page = client.get(f"{APPROVE}?{_query(lots)}").text
    assert (
        f'<p class="flag">{HIGH_PRIORITY}</p>' in page and "1 of these records asks for it." in page
    )
    signing = {"username": "quinn", "password": TEST_PASSWORD, "asked": "yes"}
    with unchanged(db):
        unconfirmed = _post(client, APPROVE, ids, justification="Agreed.", **signing)
    assert unconfirmed.status_code == 422
    assert "tick the confirmation and give a justification" in unconfirmed.text
    done = _post(
        client, APPROVE, ids, confirmed="yes", justification="Customer priority, agreed.", **signing
    )
    assert "Approve: 2 moved" in done.text
    assert [_state(db, lab, i) for i in ids] == ["approved", "approved"]


def test_out_of_specification_values_are_flagged_on_the_page(client, db, lab):
    with db.write() as conn:
        publish_type(
            conn,
            SYSTEM,
            result_type(summary_fields=["test", "value", "out_of_spec"]),
            context=definition_context(conn, "result"),
        )
    lot = create(db, lab.analyst, "lot", {"code": "L-R"})
    good = create(db, lab.analyst, "result", {"lot": lot["id"], "test": "pH", "value": 3})
    bad = create(
        db,
        lab.analyst,
        "result",
        {"lot": lot["id"], "test": "Nitrate", "value": 9, "explanation": "Retest planned."},
    )
    sign_in(client, "ann", TEST_PASSWORD)
    page = client.get(f"/records/result/transitions/enter?id={good['id']}&id={bad['id']}").text
    assert '<span class="flag">1 flagged</span>' in page
    assert '<span class="flag">Out of specification</span>' in page
    assert '<span class="summary-label">Value</span> 9.00 mg/L' in page
    assert page.count('<tr class="flagged">') == 1


def test_all_records_matching_a_filter(client, db, lab):
    lots = _lots(db, lab, "low", "high", "low")
    _lots(db, lab, "low", submitted=False)
    sign_in(client, "quinn", TEST_PASSWORD)
    page = client.get(f"{APPROVE}?all=1&state=in_review&priority=low").text
    assert "Approve: 2 Lots" in page
    assert lots[0]["number"] in page and lots[2]["number"] in page
    assert lots[1]["number"] not in page


@pytest.mark.parametrize("query", ["id=abc", "id=0", f"id={'9' * 30}", ""])
def test_a_bad_selection_is_a_clear_error(client, db, lab, query):
    sign_in(client, "quinn", TEST_PASSWORD)
    page = client.get(f"{APPROVE}?{query}")
    assert page.status_code == 422
    assert 'role="alert"' in page.text and "Back to the list" in page.text


def test_an_unknown_step_is_not_found(client, db, lab):
    sign_in(client, "quinn", TEST_PASSWORD)
    assert client.get("/records/lot/transitions/launch?id=1").status_code == 404


def test_posting_without_the_csrf_token_is_refused(client, db, lab):
    (lot,) = _lots(db, lab, "low")
    sign_in(client, "quinn", TEST_PASSWORD)
    with unchanged(db):
        refused = client.post(
            APPROVE, data={"id": str(lot["id"]), "username": "quinn", "password": TEST_PASSWORD}
        )
    assert refused.status_code == 403


def test_a_list_offers_the_persons_steps_on_the_selected_and_on_all_matching(client, db, lab):
    lots = _lots(db, lab, *["low"] * 3)
    sign_in(client, "quinn", TEST_PASSWORD)
    page = client.get("/records/lot?limit=2").text
    assert f'name="id" value="{lots[2]["id"]}"' in page
    assert 'formaction="/records/lot/transitions/approve">Approve ✍</button>' in page
    assert 'formaction="/records/lot/transitions/reject">Send back</button>' in page
    assert "transitions/submit" not in page, "only steps the person's roles may run"
    assert 'href="/records/lot/transitions/approve?all=1&amp;limit=2">Approve all</a>' in page
    sign_in(client, "ann", TEST_PASSWORD)
    assert "transitions/approve" not in client.get("/records/lot").text


def test_a_single_records_dialog_shows_the_record_and_asks_for_the_confirmation(client, db, lab):
    with db.write() as conn:
        publish_workflow(conn, SYSTEM, confirming_flow())
    (lot,) = _lots(db, lab, "high")
    path = f"/records/lot/{lot['id']}/transitions/approve"
    sign_in(client, "quinn", TEST_PASSWORD)
    dialog = client.get(path).text
    assert f'<span class="summary-label">Code</span> {lot["data"]["code"]}' in dialog
    assert f'<p class="flag">{HIGH_PRIORITY}</p>' in dialog and 'name="justification"' in dialog
    signing = {"username": "quinn", "password": TEST_PASSWORD, "version": "2"}
    form = {**signing, "justification": "Agreed.", "_csrf_token": csrf_token(client, path)}
    unticked = client.post(path, data=form, follow_redirects=False)
    assert unticked.status_code == 422 and "Confirm it, with a justification" in unticked.text
    assert _state(db, lab, lot["id"]) == "in_review"
    done = client.post(path, data={**form, "confirmed": "yes"}, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert _state(db, lab, lot["id"]) == "approved"
