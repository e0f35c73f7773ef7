"""QA approves a lot with an electronic signature: a wrong password first, then the right one."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from labledger.db.tables import audit_event
from labledger.workflows.engine import run_transition
from tests.browser.conftest import sign_in_page
from tests.conftest import TEST_PASSWORD
from tests.web.record_fixtures import create, make_lab

pytestmark = pytest.mark.browser


def test_qa_signs_an_approval(page, db, make_person, shoot):
    lab = make_lab(db, make_person)
    lot = create(
        db,
        lab.analyst,
        "lot",
        {"code": "L-7", "product": "Aspirin", "quantity": 20, "made_on": "2026-03-02"},
    )
    for test, value in (("Assay", 2.5), ("pH", 4.1)):
        create(db, lab.analyst, "result", {"lot": lot["id"], "test": test, "value": value})
    run_transition(
        db,
        lab.analyst.principal,
        "lot",
        lot["id"],
        "submit",
    )
    sign_in_page(page, "quinn", TEST_PASSWORD)
    expect(page.locator(".inbox")).to_contain_text("awaits your signature")
    queue = page.locator("section.work-queue", has_text="In review")
    expect(queue).to_contain_text(lot["number"])
    queue.get_by_role("link", name=lot["number"]).click()
    expect(page.locator("h1")).to_contain_text(lot["number"])
    expect(page.locator(".meta")).to_contain_text("In review")
    shoot("record")

    page.get_by_role("link", name="Approve").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#sig-meaning")).to_have_text("Approved for release")
    dialog.locator("#dlg-username").fill("quinn")
    dialog.locator("#dlg-password").fill("not my password")
    dialog.get_by_role("button", name="Sign and approve").click()
    alert = page.locator("dialog[open] [role=alert]")
    expect(alert).to_contain_text("Signature refused: Invalid username or password.")
    expect(page.locator("dialog[open] #dlg-username")).to_have_value("quinn")
    expect(page.locator("dialog[open] #dlg-password")).to_have_value("")
    shoot("signature-dialog")

    page.locator("dialog[open] #dlg-password").fill(TEST_PASSWORD)
    page.locator("dialog[open]").get_by_role("button", name="Sign and approve").click()
    expect(page.locator(".meta")).to_contain_text("Approved")
    signature = page.locator(".signature")
    expect(signature).to_contain_text("Approved for release")
    expect(signature).to_contain_text("Quinn Tester")
    expect(signature).to_contain_text("UTC")
    expect(signature).to_contain_text("Valid: applies to the record as it is now")

    page.goto(f"/records/lot/{lot['id']}/print")
    expect(page.locator(".signature")).to_contain_text("Quinn Tester")
    expect(page.locator(".signature")).to_contain_text("Approved for release")
    expect(page.locator("table.history")).to_contain_text("Signed: Approved for release")
    shoot("print")

    with db.read() as conn:
        actions = conn.execute(select(audit_event.c.action)).scalars().all()
    assert "signature.failed" in actions and "record.sign" in actions
