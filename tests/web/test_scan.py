"""Running a step on records by scanning or typing their numbers, one after the other."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from labledger.db.tables import audit_event
from labledger.records.service import get_record
from tests.conftest import TEST_PASSWORD
from tests.definitions import refusal_recorded, unchanged
from tests.web.helpers import csrf_token, sign_in
from tests.web.record_fixtures import create, make_lab

SCAN = "/records/lot/scan"


@pytest.fixture
def lab(db, make_person):
    return make_lab(db, make_person)


def _lots(db, person, n: int) -> list[dict[str, Any]]:
    return [create(db, person, "lot", {"code": f"L-{i}", "product": "Aspirin"}) for i in range(n)]


def _scan(client, number: str, transition: str = "submit", **extra: str) -> Any:
    """One number typed and Enter pressed: the htmx request the page sends."""
    token = csrf_token(client, f"{SCAN}?transition={transition}")
    return client.post(
        SCAN,
        data={"number": number, "transition": transition, **extra},
        headers={"HX-Request": "true", "x-csrftoken": token},
    )


def _line(html: str) -> tuple[str, str]:
    """(outcome, message) of an answered line."""
    outcome = re.search(r'class="scan-outcome">([^<]*)<', html).group(1)
    message = re.search(r'class="scan-message">([^<]*)<', html).group(1)
    return outcome, message


def _state(db, person, lot) -> str:
    with db.read() as conn:
        return get_record(conn, person.principal, "lot", lot["id"])["state"]


def test_the_page_needs_a_session(client, lab):
    response = client.get(f"{SCAN}?transition=submit", follow_redirects=False)
    assert response.status_code in (302, 303)
    assert response.headers["location"] == "/login?next=/records/lot/scan?transition=submit"


def test_without_a_step_the_page_offers_those_without_signature(client, lab):
    sign_in(client, "ann", TEST_PASSWORD)
    html = client.get(SCAN).text
    assert '<a href="/records/lot/scan?transition=submit">Submit</a>' in html
    assert '<a href="/records/lot/scan?transition=reject">Send back</a>' in html
    assert "transition=approve" not in html, "a signed step is given record by record"


def test_a_signed_step_cannot_be_scanned(client, lab):
    sign_in(client, "quinn", TEST_PASSWORD)
    response = client.get(f"{SCAN}?transition=approve")
    assert response.status_code == 422
    assert "needs an electronic signature" in response.text
    assert client.get(f"{SCAN}?transition=nothing").status_code == 404


def test_the_form_keeps_one_focused_field(client, lab):
    sign_in(client, "ann", TEST_PASSWORD)
    html = client.get(f"{SCAN}?transition=submit").text
    assert "<h1>Submit: Lots by number</h1>" in html
    assert re.search(r'<input id="scan-number" name="number" autofocus', html)
    assert 'name="_csrf_token"' in html and 'name="transition" value="submit"' in html
    assert 'name="reason"' not in html, "Submit needs no reason"
    assert 'role="log"' in html


def test_each_number_runs_the_step_and_answers_its_line(client, db, lab):
    lots = _lots(db, lab.analyst, 3)
    sign_in(client, "ann", TEST_PASSWORD)
    for lot in lots:
        response = _scan(client, f"  {lot['number']} ")
        assert response.status_code == 200
        assert response.headers["x-fragment"] == "true"
        assert _line(response.text) == ("Done", "Submit: now In review.")
        assert f'<a href="/records/lot/{lot["id"]}">{lot["number"]}</a>' in response.text
        assert "<html" not in response.text, "only the line, added to the page's list"
    assert [_state(db, lab.analyst, lot) for lot in lots] == ["in_review"] * 3
    with db.read() as conn:
        steps = conn.execute(
            select(audit_event.c.actor, audit_event.c.details).where(
                audit_event.c.action == "record.transition"
            )
        ).all()
    assert [(actor, details["transition"]) for actor, details in steps] == [("ann", "submit")] * 3


@pytest.mark.parametrize(
    ("number", "status", "message"),
    [
        ("LOT-9999", 404, "There is no Lot numbered &#39;LOT-9999&#39;."),
        ("<b>x</b>", 404, "There is no Lot numbered &#39;&lt;b&gt;x&lt;/b&gt;&#39;."),
        ("", 422, "Type or scan a number."),
    ],
)
def test_unknown_numbers_are_refused_with_the_reason(client, db, lab, number, status, message):
    sign_in(client, "ann", TEST_PASSWORD)
    with unchanged(db):
        response = _scan(client, number)
    assert response.status_code == status
    assert f'<span class="scan-message">{message}</span>' in response.text
    assert "Refused" in response.text


def test_refusals_name_the_reason_and_change_nothing(client, db, lab):
    lot = _lots(db, lab.analyst, 1)[0]
    result = create(db, lab.analyst, "result", {"lot": lot["id"], "test": "pH"})
    sign_in(client, "quinn", TEST_PASSWORD)
    with refusal_recorded(db):
        response = _scan(client, lot["number"])
    assert response.status_code == 403
    assert _line(response.text) == ("Refused", "Only these roles may submit: Analyst.")

    sign_in(client, "ann", TEST_PASSWORD)
    with unchanged(db):
        response = _scan(client, result["number"])
    assert response.status_code == 404
    assert _line(response.text)[1] == f"{result['number']} is a Result, not a Lot."

    assert _scan(client, lot["number"]).status_code == 200
    with refusal_recorded(db):
        again = _scan(client, lot["number"])
    assert again.status_code == 409, "scanned twice: the second finds it moved on"
    assert "is in state &#39;in_review&#39;; &#39;Submit&#39; starts from open." in again.text


def test_a_step_that_needs_a_reason_takes_it_once_for_every_number(client, db, lab):
    lots = _lots(db, lab.analyst, 2)
    sign_in(client, "ann", TEST_PASSWORD)
    for lot in lots:
        assert _scan(client, lot["number"]).status_code == 200
    sign_in(client, "quinn", TEST_PASSWORD)
    assert 'id="scan-reason" name="reason"' in client.get(f"{SCAN}?transition=reject").text
    with refusal_recorded(db):
        missing = _scan(client, lots[0]["number"], "reject")
    assert missing.status_code == 422 and "Give a reason for this step." in missing.text
    for lot in lots:
        done = _scan(client, lot["number"], "reject", reason="Label smudged")
        assert _line(done.text) == ("Done", "Send back: now Open.")
    with db.read() as conn:
        reasons = conn.execute(
            select(audit_event.c.reason)
            .where(audit_event.c.action == "record.transition")
            .order_by(audit_event.c.seq)
        ).scalars()
        assert list(reasons)[-2:] == ["Label smudged"] * 2


def test_without_scripts_the_form_posts_and_the_page_shows_the_outcome(client, db, lab):
    lot = _lots(db, lab.analyst, 1)[0]
    sign_in(client, "ann", TEST_PASSWORD)
    token = csrf_token(client, f"{SCAN}?transition=submit")
    response = client.post(
        SCAN, data={"number": lot["number"], "transition": "submit", "_csrf_token": token}
    )
    assert response.status_code == 200
    assert "<h1>Submit: Lots by number</h1>" in response.text
    assert _line(response.text) == ("Done", "Submit: now In review.")


def test_a_post_without_the_csrf_token_is_refused(client, db, lab):
    lot = _lots(db, lab.analyst, 1)[0]
    sign_in(client, "ann", TEST_PASSWORD)
    with unchanged(db):
        response = client.post(SCAN, data={"number": lot["number"], "transition": "submit"})
    assert response.status_code == 403
    assert _state(db, lab.analyst, lot) == "open"
