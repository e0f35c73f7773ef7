"""The LIMS journey in a real browser, with the shipped configuration and demo users:
register samples, print their labels, receive them by scanning their numbers,
store one, enter results in the grid with the keyboard (one out of
specification), review them as a second person with signatures, release with
a signature, print the certificate, and read the chain of custody."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from labledger.audit.verify import verify
from tests.browser.conftest import sign_in_page
from tests.test_seed_lims import (
    DEMO_PASSWORDS,
    load_lims,
    records_of,
)

pytestmark = pytest.mark.browser


def _sign_in(page, username: str) -> None:
    sign_in_page(page, username, DEMO_PASSWORDS[username])


def _register(page, sample_type: str, client: str, point: str) -> tuple[int, str]:
    page.goto("/records/sample/new")
    page.fill("#in-sample_type", sample_type)
    page.fill("#in-client", client)
    page.fill("#in-sampling_point", point)
    page.click("form.record-form button[type=submit]")
    expect(page.locator("h1")).to_contain_text("SMP-")
    number = page.locator("h1").inner_text().split()[0]
    return int(page.url.rsplit("/", 1)[1]), number


def _scan(page, number: str) -> None:
    field = page.locator("#scan-number")
    expect(field).to_be_focused()
    page.keyboard.type(number)
    page.keyboard.press("Enter")


def _step(
    page, path: str, button: str, *, username: str | None = None, justification: str = ""
) -> None:
    """Run a step from the record page's dialog, signing it when it asks, confirming what
    it flags with ``justification``."""
    page.goto(path)
    page.locator("section.transitions").get_by_role("link", name=re.compile(button)).click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_be_visible()
    if justification:
        dialog.get_by_label("I have seen this and confirm it").check()
        dialog.locator("#dlg-justification").fill(justification)
    if username:
        if dialog.locator("#dlg-username").count():
            dialog.locator("#dlg-username").fill(username)
        dialog.locator("#dlg-password").fill(DEMO_PASSWORDS[username])
    dialog.locator("button[type=submit]").click()
    expect(page.locator("dialog[open]")).to_have_count(0)


def test_sample_from_registration_to_certificate(page, db, tmp_path, shoot):
    load_lims(db, tmp_path, demo=True)
    effluent = next(
        t for t in records_of(db, "sample_type") if t["data"]["name"] == "Wastewater effluent"
    )

    # The technician registers two samples and prints their labels.
    _sign_in(page, "tina")
    samples = [
        _register(page, effluent["number"], "City of Eastport", f"Outlet, composite {n}")
        for n in (1, 2)
    ]
    (first_id, first), (second_id, second) = samples
    page.goto(f"/records/sample/labels/sample_label?id={first_id}&id={second_id}")
    labels = page.locator(".sample-label")
    expect(labels).to_have_count(2)
    expect(labels.first.locator(".number")).to_have_text(first)
    expect(labels.first.locator("svg.code128")).to_be_visible()
    expect(labels.first.locator("svg.qr")).to_be_visible()
    shoot("lims-labels")

    # Receiving by scanning: each number and Enter, the field keeps the focus.
    page.goto("/records/sample/scan?transition=receive")
    for number in (first, "SMP-1999-99999", second):
        _scan(page, number)
    lines = page.locator("#scan-log .scan-line")
    expect(lines).to_have_count(3)
    expect(page.locator("#scan-log .scan-line.done")).to_have_count(2)
    expect(lines.nth(0).locator(".scan-number")).to_have_text(second)
    expect(lines.nth(0).locator(".scan-message")).to_have_text("Receive: now Received.")
    expect(lines.nth(1)).to_contain_text("Refused")
    expect(lines.nth(1)).to_contain_text("There is no Sample numbered 'SMP-1999-99999'.")
    expect(page.locator("#scan-summary")).to_have_text("2 done, 1 refused")
    expect(page.locator("#scan-number")).to_be_focused()
    shoot("lims-scan")

    # The sample goes into the reception refrigerator (an audited change).
    page.goto(f"/records/sample/{first_id}/edit")
    fridge = next(
        loc for loc in records_of(db, "storage_location") if loc["data"]["code"] == "HQ-R102-K1-S1"
    )
    page.fill("#in-storage_location", fridge["number"])
    page.click("form.record-form button[type=submit]")
    expect(page.locator(".meta")).to_contain_text("Received")

    # Results in the grid, with the keyboard: Enter goes down the column.
    page.goto(f"/records/sample/{first_id}")
    page.locator("section.referencing").get_by_role("link", name="Enter in a grid").click()
    expect(page.locator("h1")).to_have_text("Results: grid entry")
    results = [r for r in records_of(db, "result") if r["data"]["sample"] == first_id]
    ph, turbidity, nitrate = (r["id"] for r in results)
    page.focus(f"#c-{ph}-value")
    for value in ("7.36", "0.42", "72.5"):
        page.keyboard.type(value)
        page.keyboard.press("Enter")
    for row in (ph, turbidity, nitrate):
        expect(page.locator(f"#s-{row}")).to_contain_text("Saved")
    expect(page.locator(f"#k-{nitrate}-out_of_spec")).to_have_text("Yes")
    expect(page.locator(f"#k-{ph}-out_of_spec")).to_have_text("No")
    page.evaluate("document.activeElement.blur()")
    shoot("lims-grid")

    # The analyst submits each result (a step without a signature, by number).
    page.goto("/records/result/scan?transition=enter")
    for result in results:
        _scan(page, result["number"])
    expect(page.locator("#scan-log .scan-line.done")).to_have_count(3)

    # A second person reviews and signs each result.
    _sign_in(page, "rita")
    for index, result in enumerate(results):
        _step(page, f"/records/result/{result['id']}", "Review", username="rita")
        expect(page.locator(".meta")).to_contain_text("Reviewed")
        if index == 0:
            shoot("lims-result")
    page.goto(f"/records/sample/{first_id}")
    expect(page.locator(".meta")).to_contain_text("Awaiting review")

    # QA releases the sample with a signature.
    # The nitrate result is out of specification: the release says so and asks for a
    # confirmation with a justification.
    _sign_in(page, "quinn")
    page.goto(f"/records/sample/{first_id}")
    page.locator("section.transitions").get_by_role("link", name=re.compile("Release")).click()
    dialog = page.locator("dialog[open]")
    expect(dialog.locator(".confirmation")).to_contain_text("is out of specification")
    shoot("lims-release-dialog")
    _step(
        page,
        f"/records/sample/{first_id}",
        "Release",
        username="quinn",
        justification="Nitrate confirmed high; reported as out of specification to the client.",
    )
    expect(page.locator(".meta")).to_contain_text("Released")
    signature = page.locator(".signature")
    expect(signature).to_contain_text("Approved for release")
    expect(signature).to_contain_text("Quinn Quist")

    # The chain of custody: receipt, storage and every step, on the record page.
    history = page.locator("table.history")
    for text in ("Receive", "Storage location", "Start testing", "Send to review", "Release"):
        expect(history).to_contain_text(text)
    expect(history).to_contain_text("Signed: Approved for release")
    shoot("lims-sample")

    # The certificate of analysis.
    page.goto(f"/records/sample/{first_id}/print/certificate_of_analysis")
    certificate = page.locator(".coa")
    expect(certificate.locator("h1")).to_have_text("Certificate of Analysis")
    expect(certificate.locator("tr.result")).to_have_count(3)
    expect(certificate.locator("tr.result").nth(2)).to_contain_text("Out of specification")
    expect(certificate.locator(".signature")).to_contain_text("Quinn Quist")
    expect(certificate).not_to_contain_text("Not released")
    shoot("lims-certificate")

    with db.read() as conn:
        assert verify(conn).ok
