"""The pages work under their Content-Security-Policy: no violation in a real browser.

Chromium reports every blocked script, style or eval on the console; the test
collects those reports while a person fills a live-validated form, scans
numbers, signs in a dialog and opens the API viewer.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in_page
from tests.conftest import TEST_PASSWORD
from tests.web.record_fixtures import make_lab

pytestmark = pytest.mark.browser


def _watch_for_violations(page) -> list[str]:
    """Console reports of anything the policy blocked, as they come."""
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return violations


def test_forms_scanning_and_signing_run_under_the_policy(page, db, make_person):
    make_lab(db, make_person)
    violations = _watch_for_violations(page)
    sign_in_page(page, "ann", TEST_PASSWORD)

    # A live form: htmx validates as the person types, then the form saves.
    page.goto("/records/lot/new")
    page.fill("#in-code", "bad code")
    page.locator("#in-product").focus()
    expect(page.locator("#err-code")).not_to_be_empty()
    page.fill("#in-code", "L-1")
    page.click("form.record-form button[type=submit]")
    expect(page.locator("h1")).to_contain_text("LOT-")

    # The scan page's script, now a static file: a scanned number moves the lot on.
    number = page.locator("h1").inner_text().split()[0]
    page.goto("/records/lot/scan?transition=submit")
    page.locator("#scan-number").fill(number)
    page.keyboard.press("Enter")
    expect(page.locator("#scan-log .scan-line.done")).to_have_count(1)

    # The signature dialog, as QA.
    page.click("text=Sign out")
    page.wait_for_url("**/login")
    sign_in_page(page, "quinn", TEST_PASSWORD)
    page.goto("/records/lot")
    page.get_by_role("link", name=number).click()
    page.get_by_role("link", name="Approve").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_be_visible()
    dialog.locator("#dlg-username").fill("quinn")
    dialog.locator("#dlg-password").fill(TEST_PASSWORD)
    dialog.get_by_role("button", name="Sign and approve").click()
    expect(page.locator(".signature")).to_contain_text("Quinn Tester")

    # The API viewer starts from its static script and shows the document.
    page.goto("/schema/swagger")
    expect(page.locator(".swagger-ui .title")).to_contain_text("labledger API")

    assert violations == []
