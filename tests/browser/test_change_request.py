"""Journey: a configuration change under change control, from the designers to the record page.

An admin (in a browser context of their own) adds a required field to the lot
type and takes the signature off the lot approval, saving both into one change
request. QA opens the request, reads the weakened control first, the new field
in words and the open lot the new rule would fail, and approves it by electronic
signature. The admin activates it, and the lot's page shows the new field.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from labledger.changes.control import set_control
from labledger.identity.principal import APPROVE_CONFIGURATION, SYSTEM
from tests.browser.conftest import sign_in_page
from tests.browser.test_admin_designs_type import click_op
from tests.conftest import TEST_PASSWORD
from tests.web.record_fixtures import create, make_lab

pytestmark = pytest.mark.browser


def save_to_change(page: Any) -> int:
    """Press "Save to change request"; the number of the request it went into."""
    click_op(page, "publish")
    status = page.locator("#designer [role=status]")
    expect(status).to_contain_text("Saved to CR-")
    return int(re.search(r"CR-(\d+)", status.inner_text()).group(1))


def propose(page: Any) -> int:
    """The admin's part: the workflow change into a new request, the field into the same."""
    page.goto("/admin/workflows/lot_flow")
    expect(page.locator("#designer")).to_contain_text("Save to change request")
    page.click("#transition-rows button[value='select:1']")
    expect(page.locator("#t_signature")).to_have_value("Approved for release")
    page.fill("#t_signature", "")
    page.fill("#cr-title", "Courier on lots; faster approval")
    page.fill("#cr-reason", "Audit finding 12: the courier is not recorded.")
    change_id = save_to_change(page)

    page.goto("/admin/types/lot")
    page.select_option("#new_type", "text")
    page.fill("#new_label", "Courier")
    click_op(page, "add_field")
    expect(page.locator("#f_label")).to_have_value("Courier")
    page.check("#f_required")
    page.select_option("#cr-request", str(change_id))
    assert save_to_change(page) == change_id
    page.click(f"#designer [role=status] a[href='/admin/changes/{change_id}']")
    expect(page.locator("#items")).to_contain_text("Courier")
    return change_id


def review_and_sign(page: Any, change_id: int, lot: str) -> None:
    """QA's part: read the request, then sign its approval."""
    sign_in_page(page, "quentin", TEST_PASSWORD)
    page.click("nav.mainnav a:has-text('Change requests')")
    page.click(f"a:has-text('CR-{change_id}') >> nth=0")
    weakening = page.locator("#weakening")
    expect(weakening).to_contain_text("no longer requires a signature")
    expect(page.locator("#items")).to_contain_text("Courier")
    impact = page.locator("#impact")
    expect(impact).to_contain_text("Open records that would fail the new rules: 1")
    expect(impact.locator("table.failing")).to_contain_text(lot)

    content_hash = page.locator("#content-hash").inner_text()
    page.click("a:has-text('Approve by signature')")
    dialog = page.locator("dialog[open]")
    expect(dialog.locator("#sig-meaning")).to_have_text("Configuration approval")
    expect(dialog.locator("#sig-change")).to_contain_text(f"CR-{change_id}")
    expect(dialog.locator("#sig-hash")).to_have_text(content_hash)
    dialog.locator("#dlg-username").fill("quentin")
    dialog.locator("#dlg-password").fill(TEST_PASSWORD)
    dialog.get_by_role("button", name="Sign and approve").click()
    expect(page.locator("[role=status]")).to_contain_text("Your signature was recorded")
    expect(page.locator("#change-status")).to_have_text("approved")
    expect(page.locator("#approvals")).to_contain_text("Quentin Tester")


def test_a_change_is_proposed_reviewed_signed_and_activated(
    page, browser, live_server, db, make_person
):
    people = make_lab(db, make_person)
    make_person("ada", "cc_admin", permissions=("configure",))
    make_person("quentin", "cc_qa", permissions=(APPROVE_CONFIGURATION,))
    lot = create(db, people.analyst, "lot", {"code": "L-1", "product": "Aspirin", "quantity": 5})
    with db.write() as conn:
        set_control(conn, SYSTEM, enabled=True, reason="validated use")

    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    admin = context.new_page()
    sign_in_page(admin, "ada", TEST_PASSWORD)
    change_id = propose(admin)

    review_and_sign(page, change_id, lot["number"])

    admin.goto(f"/admin/changes/{change_id}")
    admin.click("button:has-text('Activate now')")
    expect(admin.locator("#change-status")).to_have_text("active")
    admin.goto(f"/records/lot/{lot['id']}")
    expect(admin.locator("dl.fieldlist dt", has_text="Courier")).to_have_count(1)
    context.close()
