"""QA opens the periodic review from the audit trail in a real browser, asks for a
period, reads the refused sign-in in it and downloads it as CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import expect

from labledger.identity.users import check_password
from tests.browser.conftest import sign_in_page
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.browser


def test_qa_reads_the_periodic_review_and_downloads_its_csv(page, db, make_person):
    make_person("aud", "auditor", permissions=("read_audit",))
    make_person("ann", "analyst")
    with db.write() as conn:
        check_password(conn, "ann", "not the password")
    today = datetime.now(UTC).date().isoformat()
    sign_in_page(page, "aud", TEST_PASSWORD)
    page.locator(".mainnav").get_by_role("link", name="Audit trail").click()
    page.locator("#review-links").get_by_role("link", name="Periodic review").click()
    expect(page.locator("h1")).to_have_text("Periodic review")
    page.fill("#p-from", today)
    page.fill("#p-to", today)
    page.get_by_role("button", name="Show the review").click()
    refusals = page.locator("#review-refusals")
    expect(refusals.locator("tbody tr", has_text="login.failed")).to_have_count(1)
    expect(refusals.locator("tbody tr", has_text="login.failed")).to_contain_text("ann")

    with page.expect_download() as started:
        page.locator("#review-downloads").get_by_role("link", name="CSV").click()
    download = started.value
    assert download.suggested_filename == f"periodic-review-{today}-{today}.csv"
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == ["Periodic review"]
    assert any(len(r) > 2 and r[1:3] == ["ann", "login.failed"] for r in lines)
