"""QA downloads a signed record's dossier from its page and reads what an inspector
would: the signature manifest and the values modified after their first entry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in_page
from tests.conftest import TEST_PASSWORD
from tests.dossier_fixtures import signed_lot
from tests.test_dossier_api import pdf_text
from tests.web.record_fixtures import make_lab

pytestmark = pytest.mark.browser


@pytest.mark.requirement("REQ-DOS-01", "REQ-DOS-02")
def test_qa_downloads_the_dossier_of_a_signed_record(page, db, make_person, tmp_path: Path):
    lab = make_lab(db, make_person)
    made = signed_lot(db, lab)
    sign_in_page(page, "quinn", TEST_PASSWORD)
    page.goto(f"/records/lot/{made.lot['id']}")
    expect(page.locator("h1")).to_contain_text(made.lot["number"])
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Dossier (PDF)").click()
    download = download_info.value
    assert download.suggested_filename == f"{made.lot['number']}-dossier.pdf"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    text = pdf_text(saved.read_bytes())
    assert f"Record dossier: Lot {made.lot['number']}" in text
    manifest = text[text.index("Signature manifest") : text.index("Audit trail")]
    assert "Quinn Tester (quinn)" in manifest and "Approved for release" in manifest
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", manifest), "time with its zone"
    assert "Belongs to an earlier version" in manifest
    assert re.search(r"Product Aspirin modified — see audit event \d+", text)
    assert not re.search(r"Notes Label reprinted modified", text)
