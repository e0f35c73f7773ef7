"""Finding things where a lab expects them, in a real browser with the shipped LIMS and
its demo: the certificate and label buttons on a sample, "New Result" prefilled from the
sample, a reference filter by an instrument's identifier, a refusal naming roles by their
labels, the audit page with labels and numbers, and an API token made in the browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in_page
from tests.test_seed_lims import DEMO_PASSWORDS, load_lims, records_of

pytestmark = pytest.mark.browser


def _sign_in(page, username: str) -> None:
    sign_in_page(page, username, DEMO_PASSWORDS[username])


def test_what_a_lab_looks_for_is_where_it_expects_it(page, db, tmp_path):
    load_lims(db, tmp_path, demo=True)
    samples = records_of(db, "sample")
    released = next(s for s in samples if s["state"] == "released")
    waiting = next(s for s in samples if s["state"] == "awaiting_review")

    # Print buttons and "New Result" on the sample's page.
    _sign_in(page, "mark")
    page.goto(f"/records/sample/{released['id']}")
    actions = page.locator(".page-head .actions")
    expect(actions.get_by_role("link", name="Certificate of analysis")).to_be_visible()
    expect(actions.get_by_role("link", name="Sample label")).to_be_visible()
    with page.expect_popup() as opened:
        actions.get_by_role("link", name="Certificate of analysis").click()
    certificate = opened.value
    expect(certificate.locator("h1")).to_contain_text("Certificate of Analysis")
    certificate.close()
    actions.get_by_role("link", name=re.compile("^New Result")).click()
    expect(page.locator("#in-sample")).to_have_value(released["number"])

    # A reference filter takes what people call an instrument.
    page.goto("/records/result?instrument=ph-01")
    rows = page.locator("table.list tbody tr")
    expect(rows.first).to_be_visible()
    ph_meter = next(i for i in records_of(db, "instrument") if i["data"]["identifier"] == "PH-01")
    with_ph_meter = [
        r for r in records_of(db, "result") if r["data"].get("instrument") == ph_meter["id"]
    ]
    expect(rows).to_have_count(min(len(with_ph_meter), 50))

    # A refusal names the roles as people know them.
    _sign_in(page, "tina")
    page.goto(f"/records/sample/{waiting['id']}")
    expect(page.locator("ul.blocked")).to_contain_text(
        "Only these roles may release: Lab manager, Quality assurance."
    )

    # API tokens, made and revoked in the browser, shown once.
    page.click("text=API tokens")
    page.fill("#name", "balance import")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token-secret").inner_text()
    assert secret.startswith("llt_")
    page.goto("/account/tokens")  # coming back: the token is not shown again
    expect(page.locator("#new-token-secret")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text(secret)

    # The audit page says what happened to which record, in labels and numbers.
    _sign_in(page, "quinn")
    page.goto(f"/audit?record={released['number']}")
    trail = page.locator("table.audit")
    expect(trail).to_contain_text(f"Sample {released['number']}")
    expect(trail).to_contain_text("Release")
    expect(trail).to_contain_text("Client")  # a field by its label
