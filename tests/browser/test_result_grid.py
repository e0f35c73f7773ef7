"""A technician enters results: a form that follows the typing, then a grid, keyboard only."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from labledger.records.service import get_record
from tests.browser.conftest import sign_in_page
from tests.conftest import TEST_PASSWORD
from tests.web.record_fixtures import create, make_lab

pytestmark = pytest.mark.browser


def _data(db, person, record_id):
    with db.read() as conn:
        return get_record(conn, person.principal, "result", record_id)["data"]


def test_technician_enters_results_with_the_keyboard(page, db, make_person, tmp_path, shoot):
    lab = make_lab(db, make_person)
    create(db, lab.analyst, "lot", {"code": "L-8", "product": "Ibuprofen", "due": "2000-01-01"})
    certificate = tmp_path / "certificate.pdf"
    certificate.write_bytes(b"%PDF-1.4 certificate of analysis")
    too_big = tmp_path / "scan.tiff"
    too_big.write_bytes(b"x" * 2000)
    sign_in_page(page, "ann", TEST_PASSWORD)

    # A lot registered through its form, with its certificate uploaded.
    page.goto("/records/lot/new")
    page.fill("#in-code", "L-7")
    page.fill("#in-product", "Aspirin")
    page.fill("#in-quantity", "20")
    page.set_input_files("#in-certificate", str(too_big))
    expect(page.locator("#att-certificate")).to_contain_text("the limit is 1000 bytes")
    page.set_input_files("#in-certificate", str(certificate))
    expect(page.locator("#att-certificate")).to_contain_text("certificate.pdf")
    page.click("form.record-form button[type=submit]")
    expect(page.locator("h1")).to_contain_text("LOT-")
    with page.expect_download() as download:
        page.click("a:has-text('certificate.pdf')")
    assert download.value.suggested_filename == "certificate.pdf"
    with db.read() as conn:
        lot = get_record(conn, lab.analyst.principal, "lot", int(page.url.rsplit("/", 1)[1]))
    assert lot["data"]["certificate"] > 0
    rows = [
        create(db, lab.analyst, "result", {"lot": lot["id"], "test": t}) for t in ("Assay", "pH")
    ]

    # A new result through the form: the lot picked by searching, the flag and
    # the explanation following the value typed.
    page.goto("/records/result/new")
    page.locator("#in-lot").press_sequentially("L-7")
    expect(page.locator("#dl-lot option")).to_have_count(1)
    page.fill("#in-lot", lot["number"])
    page.fill("#in-test", "Water")
    page.fill("#in-value", "9")
    expect(page.locator("#out-out_of_spec")).to_have_text("Yes")
    expect(page.locator("#fld-explanation")).to_be_visible()
    expect(page.locator("#req-explanation")).to_have_text("*")
    shoot("form")
    page.locator("#in-value").press("Tab")
    page.fill("#in-value", "3")
    expect(page.locator("#out-out_of_spec")).to_have_text("No")
    expect(page.locator("#fld-explanation")).to_be_hidden()
    page.fill("#in-test", "")
    page.locator("#in-test").press("Tab")
    expect(page.locator("#err-test")).to_have_text("is required")
    page.fill("#in-test", "Water")
    page.locator("#in-test").press("Tab")
    expect(page.locator("#err-test")).to_have_text("")
    page.click("form.record-form button[type=submit]")
    expect(page.locator("h1")).to_contain_text("RES-")
    created = int(page.url.rsplit("/", 1)[1])
    assert _data(db, lab.analyst, created)["value"] == 3
    assert _data(db, lab.analyst, created)["lot"] == lot["id"]

    # From the list of lots to the grid of the chosen lot's results.
    page.goto("/records/lot")
    page.fill("#q", "L-")
    expect(page.locator("table.list tbody tr")).to_have_count(2)
    expect(page).to_have_url(re.compile(r"/records/lot\?q=L-&sort=-created_at$"))
    shoot("list")
    page.check(f"input[name=id][value='{lot['id']}']")
    page.click("button[value=lot]")
    expect(page.locator("h1")).to_have_text("Results: grid entry")
    first, second = rows[0]["id"], rows[1]["id"]

    page.focus(f"#c-{first}-value")
    page.keyboard.type("2.5")
    page.keyboard.press("Enter")  # down the column: the first row saves
    expect(page.locator(f"#c-{second}-value")).to_be_focused()
    expect(page.locator(f"#s-{first}")).to_contain_text("Saved")
    expect(page.locator(f"#k-{first}-out_of_spec")).to_have_text("No")

    page.keyboard.type("abc")  # not a number
    page.keyboard.press("Tab")
    expect(page.locator(f"#e-{second}-value")).to_have_text("must be a number")
    expect(page.locator(f"#c-{second}-value")).to_have_value("abc")
    expect(page.locator(f"#s-{second}")).to_contain_text("could not be read")

    page.focus(f"#c-{second}-value")
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("12")  # out of specification: the flag shows, an explanation is due
    page.keyboard.press("Tab")
    expect(page.locator(f"#k-{second}-out_of_spec")).to_have_text("Yes")
    expect(page.locator(f"#e-{second}-explanation")).to_have_text("is required")
    expect(page.locator(f"#c-{second}-value")).to_have_value("12")
    page.focus(f"#c-{second}-explanation")
    page.keyboard.type("Sample diluted twice")
    page.keyboard.press("Tab")
    expect(page.locator(f"#s-{second}")).to_contain_text("Saved")
    expect(page.locator(f"#e-{second}-explanation")).to_have_text("")

    assert _data(db, lab.analyst, first)["value"] == 2.5
    saved = _data(db, lab.analyst, second)
    assert saved["value"] == 12 and saved["out_of_spec"] is True
    assert saved["explanation"] == "Sample diluted twice"
