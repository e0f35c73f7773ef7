"""Journey 1: an admin defines a new object type and its workflow in the browser,
and a user works with records of it.

The admin designs a workflow (states, a signed transition, separation of
duties) and a type with a field of every kind, publishes both, creates the
user who will work with it, and later finds that user's work in the audit
trail. The user signs in with the one-time password, chooses their own,
then creates, edits and moves on a record of the new type.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from labledger.db.tables import record as record_table
from labledger.metadata import versions
from labledger.workflows.definitions import WORKFLOW_KIND
from tests.browser.conftest import Shoot, sign_in_page
from tests.conftest import TEST_PASSWORD
from tests.definitions import add_roles

pytestmark = pytest.mark.browser

ADMIN_PERMISSIONS = ("configure", "manage_users", "read_audit")
NEW_PASSWORD = "a calibrated secret"

#: (type, label, options to fill in the field editor) for a field of every kind.
FIELDS: list[tuple[str, str, dict[str, str]]] = [
    ("text", "Asset code", {"#f_max_length": "20", "#f_required": "check", "#f_in_list": "check"}),
    ("long_text", "Notes", {"#f_help": "Anything unusual."}),
    ("integer", "Cycles", {"#f_min": "1", "#f_max": "20", "#f_default": "3"}),
    ("decimal", "Reading", {"#f_precision": "2", "#f_unit": "g"}),
    ("boolean", "Adjusted", {}),
    ("date", "Performed on", {"#f_filterable": "check"}),
    ("datetime", "Started at", {}),
    ("choice", "Method", {"options": "internal:Internal procedure|external:External lab"}),
    ("multi_choice", "Checks", {"options": "linearity:Linearity|repeatability:Repeatability"}),
    ("reference", "Replaces", {}),
    ("user", "Performed by", {}),
    ("attachment", "Certificate", {"#f_accept": ".pdf"}),
    ("computed", "Reading in mg", {"#f_expression": "reading * 1000 if reading else None"}),
]


def click_op(page: Any, value: str) -> None:
    page.locator(f"#designer-form button[name=op][value='{value}']").click()


def design_workflow(page: Any) -> None:
    page.goto("/admin/workflows/new")
    page.fill("#key", "calibration_flow")
    page.fill("#label", "Calibration flow")
    for label in ("In review", "Approved"):
        page.fill("#new_state_label", label)
        click_op(page, "add_state")
        expect(page.locator("#designer")).to_contain_text(label)
    page.check("#state_final_2")
    page.select_option("#state_editable_1", "none")
    page.select_option("#state_editable_2", "none")
    page.fill("#new_transition_label", "Submit")
    click_op(page, "add_transition")
    expect(page.locator("#t_key")).to_have_value("submit")
    page.check("#transition-editor input[name=t_roles][value='*']")
    page.fill("#new_transition_label", "Approve")
    click_op(page, "add_transition")
    expect(page.locator("#t_key")).to_have_value("approve")
    page.uncheck("#t_from_draft")
    page.check("#t_from_in_review")
    page.select_option("#t_to", "approved")
    page.check("#transition-editor input[name=t_roles][value='reviewer']")
    page.fill("#t_signature", "Approved")
    page.check("#t_sep_creator")
    page.fill("#new_transition_label", "Send back")
    click_op(page, "add_transition")
    expect(page.locator("#t_key")).to_have_value("send_back")
    page.uncheck("#t_from_draft")
    page.check("#t_from_in_review")
    page.select_option("#t_to", "draft")
    page.check("#transition-editor input[name=t_roles][value='reviewer']")
    page.check("#t_reason_required")
    click_op(page, "close")
    expect(page.locator("#diagram")).to_contain_text("✍ Approve")
    click_op(page, "publish")
    expect(page.locator("#designer [role=status]")).to_have_text("Published version 1.")
    expect(page).to_have_url(re.compile(r"/admin/workflows/calibration_flow$"))


def add_field(page: Any, kind: str, label: str, options: dict[str, str]) -> None:
    page.select_option("#new_type", kind)
    page.fill("#new_label", label)
    click_op(page, "add_field")
    expect(page.locator("#f_label")).to_have_value(label)
    for selector, value in options.items():
        if selector == "options":
            for index, pair in enumerate(value.split("|")):
                if index:
                    click_op(page, "add_option")
                    expect(page.locator(f"#opt_value_{index}")).to_be_visible()
                stored, shown = pair.split(":")
                page.fill(f"#opt_value_{index}", stored)
                page.fill(f"#opt_label_{index}", shown)
        elif value == "check":
            page.check(selector)
        else:
            page.fill(selector, value)
    if kind == "computed":
        page.select_option("#f_result_type", "number")
    page.keyboard.press("Tab")  # leaving the last input updates the preview


def design_type(page: Any, shoot: Shoot) -> None:
    page.goto("/admin/types/new")
    page.fill("#key", "calibration")
    page.fill("#label", "Calibration")
    page.fill("#plural", "Calibrations")
    page.fill("#numbering", "CAL-{YYYY}-{####}")
    page.fill("#title", "{number} {asset_code}")
    page.select_option("#workflow", "calibration_flow")
    page.check("#require_reason")
    for action in ("read", "create", "edit"):
        page.check(f"input[name=perm_{action}][value='technician']")
    page.check("input[name=perm_read][value='reviewer']")
    for kind, label, options in FIELDS:
        add_field(page, kind, label, options)
    # One row per field, and the live preview never leaves rows elsewhere in the page.
    expect(page.locator("#field-rows > tr")).to_have_count(len(FIELDS))
    expect(page.locator("#designer button[value^='select:']")).to_have_count(len(FIELDS))
    preview = page.locator("#preview")
    expect(preview).to_contain_text("Ready to publish")
    for _, label, _ in FIELDS:
        expect(preview).to_contain_text(label)
    expect(preview.locator("#pv_method option")).to_have_count(3)
    expect(preview.locator("#pv_reading_in_mg")).to_contain_text("reading * 1000")
    page.fill("#f_label", "Reading (mg)")
    page.keyboard.press("Tab")
    expect(page.locator("#field-rows > tr").last).to_contain_text("Reading (mg)")
    expect(preview).to_contain_text("Reading (mg)")
    page.evaluate("window.scrollTo(0, 0)")
    shoot("admin-type-designer")
    click_op(page, "publish")
    expect(page.locator("#designer [role=status]")).to_have_text("Published version 1.")
    expect(page).to_have_url(re.compile(r"/admin/types/calibration$"))


def create_user(page: Any, shoot: Shoot) -> str:
    page.goto("/admin/users")
    page.fill("#username", "tom")
    page.fill("#full_name", "Tom Technician")
    page.check("#new-user ~ form input[name=roles][value=technician]")
    page.click("text=Create user")
    expect(page.locator("[role=status]").first).to_have_text("User tom was created.")
    shoot("admin-users")
    return page.locator("#one-time-password").inner_text()


def work_as_user(browser: Any, live_server: str, one_time: str) -> str:
    """The user's part: first sign-in, then create, edit and submit a record."""
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto("/login")
    page.fill("#username", "tom")
    page.fill("#password", one_time)
    page.click("button[type=submit]")
    page.wait_for_url("**/account/password")
    page.fill("#old_password", one_time)
    page.fill("#new_password", NEW_PASSWORD)
    page.fill("#repeat_password", NEW_PASSWORD)
    page.click("main button[type=submit]")
    expect(page.locator("[role=status]")).to_contain_text("was changed")

    page.goto("/records/calibration/new")
    page.fill("#in-asset_code", "BAL-0042")
    page.fill("#in-notes", "First calibration after repair.")
    page.fill("#in-reading", "100.25")
    page.check("#in-adjusted")
    page.fill("#in-performed_on", "2026-11-20")
    page.fill("#in-started_at", "2026-11-20T09:30:00")
    page.select_option("#in-method", "internal")
    page.check("input[name=checks][value=linearity]")
    page.select_option("#in-performed_by", "tom")
    page.click("button:has-text('Create Calibration')")
    page.wait_for_url(re.compile(r"/records/calibration/\d+$"))
    heading = page.locator("h1").inner_text()
    assert heading.startswith("CAL-") and "BAL-0042" in heading
    expect(page.locator("main")).to_contain_text("100250")  # the computed reading in mg
    record_url = page.url

    page.click("a.button:has-text('Edit')")
    page.fill("#in-reading", "100.5")
    page.fill("#in-reason", "Re-read the balance display.")
    page.click("button:has-text('Save changes')")
    page.wait_for_url(record_url)
    expect(page.locator("main")).to_contain_text("100500")

    page.click(".step-buttons a:has-text('Submit')")
    page.locator("#dialog-slot button[type=submit]").click()
    expect(page.locator("h1 + .meta .badge.state")).to_have_text("In review")
    context.close()
    return heading.split()[0]


def test_an_admin_designs_a_type_and_a_user_works_with_it(
    page, browser, live_server, db, make_person, shoot
):
    add_roles(db, "technician", "reviewer")
    make_person("ada", "configurer", permissions=ADMIN_PERMISSIONS)
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in_page(page, "ada", TEST_PASSWORD)

    design_workflow(page)
    page.click("#transition-rows button[value='select:1']")
    expect(page.locator("#t_signature")).to_have_value("Approved")
    shoot("admin-workflow-designer")
    design_type(page, shoot)
    one_time = create_user(page, shoot)

    number = work_as_user(browser, live_server, one_time)

    with db.read() as conn:
        (record,) = conn.execute(
            select(record_table).where(record_table.c.type_key == "calibration")
        ).mappings()
        assert versions.current_version(conn, WORKFLOW_KIND, "calibration_flow") == 1
    assert record["number"] == number and record["state"] == "in_review"
    assert record["data"]["reading"] == 100.5 and record["data"]["reading_in_mg"] == 100500
    assert record["data"]["checks"] == ["linearity"] and record["data"]["adjusted"] is True
    assert record["data"]["started_at"].endswith("Z") and record["version"] == 3

    page.goto(f"/audit?record={number}")
    rows = page.locator("table.audit > tbody > tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("record.transition")
    expect(rows.nth(1)).to_contain_text("Re-read the balance display.")
    page.click("text=Verify the audit trail")
    expect(page.locator("#verify-result")).to_contain_text("Audit trail intact")
    shoot("admin-audit-trail")
