"""Change requests in the browser: the list, a request's review, and every step of the
procedure -- each refusal a readable page, never an error the procedure did not mean."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from labledger.changes.store import Status
from labledger.db.tables import audit_event, change_request
from labledger.db.types import utc_now
from labledger.metadata.types import KIND as TYPE_KIND
from labledger.records.states import WORKFLOW_KIND
from tests.conftest import TEST_PASSWORD
from tests.web.changes_helpers import (
    ControlledLab,
    approve,
    as_user,
    controlled_lab,
    current_body,
    post_step,
    proposed,
    stored,
    with_new_field,
    without_approval_signature,
)
from tests.web.helpers import csrf_token
from tests.web.record_fixtures import LOT_FLOW, create


@pytest.fixture
def lab(db, make_person) -> ControlledLab:
    return controlled_lab(db, make_person)


def change_count(db) -> int:
    with db.read() as conn:
        return len(conn.execute(select(change_request.c.id)).all())


def test_change_requests_are_for_those_who_take_part(client, db, lab):
    as_user(client, lab.analyst)
    assert client.get("/admin/changes").status_code == 403
    assert 'href="/admin/changes"' not in client.get("/").text
    before = change_count(db)
    response = client.post(
        "/admin/changes",
        data={"_csrf_token": csrf_token(client, "/"), "title": "Mine", "reason": "why not"},
    )
    assert response.status_code == 403
    assert change_count(db) == before

    as_user(client, lab.auditor)
    listed = client.get("/admin/changes")
    assert listed.status_code == 200
    assert "Change control is <strong>on</strong>" in listed.text
    assert 'href="/admin/changes">Change requests</a>' in listed.text
    assert "New change request" not in listed.text, "only configurers open requests"


def test_every_form_needs_its_csrf_token(client, db, lab):
    change_id = proposed(db, lab.author, ("object_type", "lot", with_new_field()))
    as_user(client, lab.author)
    before = change_count(db)
    refused = client.post("/admin/changes", data={"title": "No token", "reason": "x"})
    assert refused.status_code == 403 and "reload the page" in refused.text
    assert change_count(db) == before
    as_user(client, lab.qa)
    for step, form in (("approve", {"password": TEST_PASSWORD}), ("reject", {"reason": "no"})):
        response = client.post(f"/admin/changes/{change_id}/{step}", data=form)
        assert response.status_code == 403, step
    assert stored(db, change_id).status == Status.DRAFT


def test_an_author_opens_a_request_and_edits_its_title(client, db, lab):
    as_user(client, lab.author)
    token = csrf_token(client, "/admin/changes")
    blank = client.post("/admin/changes", data={"_csrf_token": token, "title": " ", "reason": ""})
    assert blank.status_code == 422
    assert (
        "give the change a title" in blank.text
        and "say why the configuration changes" in blank.text
    )
    opened = client.post(
        "/admin/changes",
        data={"_csrf_token": token, "title": "Courier", "reason": "Record the courier."},
        follow_redirects=False,
    )
    assert opened.status_code == 303
    url = opened.headers["location"]
    change_id = int(url.split("/")[-1].split("?")[0])
    page = client.get(url).text
    assert "Change request opened." in page and f"CR-{change_id} · Courier" in page
    assert "Record the courier." in page

    edited = post_step(client, change_id, "text", title="Courier name", reason="Audit finding 12.")
    assert edited.status_code == 303
    assert stored(db, change_id).title == "Courier name"
    too_long = post_step(client, change_id, "text", title="x" * 201, reason="still")
    assert too_long.status_code == 422 and "at most 200 characters" in too_long.text
    assert stored(db, change_id).title == "Courier name"

    refused = post_step(client, change_id, "withdraw", reason="")
    assert refused.status_code == 422 and "Say why the change is withdrawn." in refused.text
    assert post_step(client, change_id, "withdraw", reason="Not needed").status_code == 303
    page = client.get(f"/admin/changes/{change_id}").text
    assert "withdrawn" in page and "Take out of the request" not in page
    listed = client.get("/admin/changes").text
    assert f"CR-{change_id}" in listed and "withdrawn" in listed


def test_the_review_puts_weakened_controls_first_and_lists_the_records_at_stake(client, db, lab):
    lot = create(db, lab.analyst, "lot", {"code": "L-1", "product": "Aspirin", "quantity": 5})
    change_id = proposed(
        db,
        lab.author,
        ("object_type", "lot", with_new_field(required=True)),
        ("workflow", "lot_flow", without_approval_signature()),
    )
    as_user(client, lab.qa)
    page = client.get(f"/admin/changes/{change_id}").text
    weakening = page.index("Changes that weaken a control")
    assert weakening < page.index("What it changes") < page.index("Impact on stored records")
    assert "no longer requires a signature" in page[weakening : page.index("What it changes")]
    assert "Courier" in page[page.index("What it changes") :]
    impact = page[page.index("Impact on stored records") :]
    assert "Open records that would fail the new rules: 1" in impact
    assert lot["number"] in impact
    assert "Approve by signature" in page and "Reject" in page
    assert "Take out of the request" not in page, "only the author edits the request"


def test_the_author_cannot_approve_their_own_request(client, db, lab):
    both = lab.both
    change_id = proposed(db, both, ("object_type", "lot", with_new_field()))
    as_user(client, both)
    page = client.get(f"/admin/changes/{change_id}").text
    assert "its approval must come from someone else" in page
    assert "Approve by signature" not in page
    content_hash = stored(db, change_id).content_hash
    response = client.post(
        f"/admin/changes/{change_id}/approve",
        data={
            "_csrf_token": csrf_token(client, f"/admin/changes/{change_id}"),
            "content_hash": content_hash,
            "username": "bea",
            "password": TEST_PASSWORD,
        },
    )
    assert response.status_code == 403
    assert "its approval must come from someone else" in response.text
    assert 'id="dlg-password"' in response.text, "the dialog stays open with the refusal"
    assert stored(db, change_id).approvals == ()


def test_qa_signs_after_a_wrong_password_and_the_author_activates(client, db, lab):
    change_id = proposed(db, lab.author, ("object_type", "lot", with_new_field()))
    as_user(client, lab.qa)
    dialog = client.get(f"/admin/changes/{change_id}/approve", headers={"HX-Request": "true"})
    assert dialog.headers["x-fragment"] == "true"
    text = dialog.text
    change = stored(db, change_id)
    assert f"CR-{change_id} · {change.title}" in text and change.content_hash in text
    assert 'id="sig-meaning">Configuration approval<' in text
    assert 'id="dlg-username"' in text, "the first signature asks for the username"

    wrong = approve(client, change_id, "not my password", username="quentin")
    assert wrong.status_code == 403 and "Signature refused" in wrong.text
    with db.read() as conn:
        actions = set(
            conn.execute(
                select(audit_event.c.action).where(audit_event.c.actor == "quentin")
            ).scalars()
        )
    assert "signature.failed" in actions
    assert stored(db, change_id).status == Status.DRAFT

    signed = approve(client, change_id, TEST_PASSWORD, username="quentin")
    assert signed.status_code == 303
    assert signed.headers["location"] == f"/admin/changes/{change_id}?done=approved"
    page = client.get(signed.headers["location"]).text
    assert "Your signature was recorded" in page
    approvals = page[page.index('id="approvals"') :]
    assert "quentin" in approvals and "Quentin Tester" in approvals
    assert "Configuration approval" in approvals and ">valid<" in approvals
    again = client.get(f"/admin/changes/{change_id}/approve").text
    assert 'id="dlg-username"' not in again, "later signatures in the session: password only"

    as_user(client, lab.author)
    activated = post_step(client, change_id, "activate", op="now")
    assert activated.status_code == 303
    assert stored(db, change_id).status == Status.ACTIVE
    fields = [f["key"] for f in current_body(db, TYPE_KIND, "lot")["fields"]]
    assert "courier" in fields
    assert (
        "Activated: its definitions are in force." in client.get(activated.headers["location"]).text
    )


def test_an_edit_after_signing_voids_the_approval(client, db, lab):
    change_id = proposed(db, lab.author, ("object_type", "lot", with_new_field()))
    as_user(client, lab.qa)
    assert approve(client, change_id, TEST_PASSWORD, username="quentin").status_code == 303
    as_user(client, lab.author)
    assert post_step(client, change_id, "text", title="Renamed", reason="why").status_code == 303
    page = client.get(f"/admin/changes/{change_id}").text
    assert ">void<" in page and "the request changed after this signature" in page
    refused = post_step(client, change_id, "activate", op="now")
    assert refused.status_code == 409 and "only an approved change is activated" in refused.text
    assert current_body(db, WORKFLOW_KIND, "lot_flow") == LOT_FLOW


def test_a_rejection_needs_a_reason_and_returns_the_request(client, db, lab):
    change_id = proposed(db, lab.author, ("workflow", "lot_flow", without_approval_signature()))
    as_user(client, lab.qa)
    blank = post_step(client, change_id, "reject", reason="  ")
    assert blank.status_code == 422 and "A rejection needs a reason" in blank.text
    assert post_step(client, change_id, "reject", reason="Keep the signature").status_code == 303
    as_user(client, lab.author)
    page = client.get(f"/admin/changes/{change_id}").text
    assert "Rejected:</strong> Keep the signature" in page
    assert stored(db, change_id).rejection == "Keep the signature"


def test_activation_can_wait_for_a_chosen_time(client, db, lab):
    change_id = proposed(db, lab.author, ("object_type", "lot", with_new_field()))
    as_user(client, lab.qa)
    approve(client, change_id, TEST_PASSWORD, username="quentin")
    as_user(client, lab.author)
    past = post_step(client, change_id, "activate", op="schedule", at="2020-01-01T10:00")
    assert past.status_code == 422 and "choose a time in the future" in past.text
    blank = post_step(client, change_id, "activate", op="schedule", at="")
    assert blank.status_code == 422 and "choose the date and time" in blank.text
    later = (utc_now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    scheduled = post_step(client, change_id, "activate", op="schedule", at=later, at__tz="+02:00")
    assert scheduled.status_code == 303
    change = stored(db, change_id)
    assert change.status == Status.SCHEDULED
    assert change.activate_at == datetime.fromisoformat(later + "+02:00")
    assert "to be activated at" in client.get(scheduled.headers["location"]).text


def test_a_request_overtaken_by_another_shows_both_changes_until_rebased(client, db, lab):
    first = proposed(
        db, lab.author, ("workflow", "lot_flow", {**LOT_FLOW, "label": "Lot review (v2)"})
    )
    second = proposed(db, lab.author, ("workflow", "lot_flow", without_approval_signature()))
    as_user(client, lab.qa)
    approve(client, first, TEST_PASSWORD, username="quentin")
    as_user(client, lab.author)
    assert post_step(client, first, "activate", op="now").status_code == 303

    page = client.get(f"/admin/changes/{second}").text
    stale = page[page.index("Changed meanwhile") : page.index("What it changes")]
    mine = stale[stale.index("What this request changes") : stale.index("What changed meanwhile")]
    meanwhile = stale[stale.index("What changed meanwhile") :]
    assert "no longer requires a signature" in mine
    assert "Lot review (v2)" in meanwhile
    assert "Rebase on the active definitions" in stale

    as_user(client, lab.qa)
    refused = approve(client, second, TEST_PASSWORD, username="quentin")
    assert refused.status_code == 409 and "rebase" in refused.text

    as_user(client, lab.author)
    assert post_step(client, second, "rebase").status_code == 303
    page = client.get(f"/admin/changes/{second}?done=rebased").text
    assert "Changed meanwhile" not in page and "Rebased on the active definitions" in page


def test_an_author_takes_an_item_out(client, db, lab):
    change_id = proposed(
        db,
        lab.author,
        ("object_type", "lot", with_new_field()),
        ("workflow", "lot_flow", without_approval_signature()),
    )
    as_user(client, lab.author)
    removed = post_step(client, change_id, "remove", kind="workflow", key="lot_flow")
    assert removed.status_code == 303
    assert [(i.kind, i.key) for i in stored(db, change_id).items] == [("object_type", "lot")]
    missing = post_step(client, change_id, "remove", kind="workflow", key="lot_flow")
    assert missing.status_code == 422 and "does not propose workflow" in missing.text


def test_a_request_that_does_not_exist_is_a_not_found_page(client, lab):
    as_user(client, lab.qa)
    response = client.get("/admin/changes/999")
    assert response.status_code == 404 and "There is no change request CR-999." in response.text


def test_an_approved_request_downloads_as_a_bundle_for_another_installation(client, db, lab):
    change_id = proposed(db, lab.author, ("object_type", "lot", with_new_field()))
    as_user(client, lab.author)
    draft = client.get(f"/admin/changes/{change_id}").text
    assert 'id="export-bundle"' not in draft
    assert client.get(f"/admin/changes/{change_id}/bundle").status_code == 409
    as_user(client, lab.qa)
    assert approve(client, change_id, TEST_PASSWORD, username="quentin").status_code == 303
    as_user(client, lab.author)
    assert 'id="export-bundle"' in client.get(f"/admin/changes/{change_id}").text
    bundle = client.get(f"/admin/changes/{change_id}/bundle")
    assert bundle.status_code == 200
    assert bundle.json()["change_request"]["number"] == change_id
    assert [t["key"] for t in bundle.json()["types"]] == ["lot"]


def test_a_rollback_is_proposed_from_the_list(client, db, lab):
    as_user(client, lab.author)
    token = csrf_token(client, "/admin/changes")
    form = {"_csrf_token": token, "kind": "object_type", "key": "lot", "reason": "undo"}
    missing = client.post("/admin/changes/revert", data={**form, "version": "99"})
    assert missing.status_code == 422 and "has no version 99" in missing.text
    before = change_count(db)
    rolled = client.post(
        "/admin/changes/revert", data={**form, "version": "1"}, follow_redirects=False
    )
    assert rolled.status_code == 303
    assert change_count(db) == before + 1
    page = client.get(rolled.headers["location"]).text
    assert "Roll back object type &#39;lot&#39; to version 1" in page
