"""The shipped LIMS dashboard in a real browser: from the navigation to "Lab at a
glance", each panel an SVG chart with its numbers beside it, and the overdue
panel leading to the list of overdue samples."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in_page
from tests.test_seed_lims import DEMO_PASSWORDS, load_lims, records_of

pytestmark = pytest.mark.browser


def test_lab_at_a_glance(page, db, tmp_path, shoot):
    load_lims(db, tmp_path, demo=True)
    sign_in_page(page, "mark", DEMO_PASSWORDS["mark"])
    page.locator(".mainnav").get_by_role("link", name="Dashboards").click()
    page.get_by_role("link", name="Lab at a glance").click()
    expect(page.locator("h1")).to_have_text("Lab at a glance")

    panels = page.locator("section.card")
    expect(panels).to_have_count(4)
    for label in (
        "Samples by state",
        "Overdue samples",
        "Sample turnaround, receipt to release",
        "Results out of specification",
    ):
        panel = page.locator("section.card", has=page.get_by_role("heading", name=label))
        expect(panel.get_by_role("img", name=label)).to_be_visible()
        expect(panel.locator("table")).to_be_visible()
    released = sum(1 for s in records_of(db, "sample") if s["state"] == "released")
    row = page.locator("#panel-samples_by_state tbody tr", has_text="Released")
    expect(row.locator("td")).to_have_text(str(released))
    shoot("dashboard")

    page.locator("#panel-overdue_samples").get_by_role("link", name="overdue").click()
    page.wait_for_url("**/records/sample?overdue=true")
