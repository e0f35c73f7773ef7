"""The LIMS print templates (shipped in seeds/lims/bundle.json): sample labels with
barcodes, and the certificate of analysis, rendered for demo samples."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

pytest.importorskip("labledger.printing.render", reason="the printing engine is not installed")

from labledger.db.engine import Database
from labledger.identity.principal import SYSTEM
from labledger.printing.render import print_labels, print_record
from labledger.printing.templates import list_print_templates
from labledger.workflows.engine import SignatureInput, run_transition
from tests.test_printing_render import decode_code128
from tests.test_seed_lims import (
    DEMO_PASSWORDS,
    records_of,
)
from tests.test_seed_lims_rules import Lims


@pytest.fixture
def db(lims_db: Database) -> Database:
    """The shipped LIMS configuration with its demo data, prepared once (see conftest)."""
    return lims_db


#: Between the low and high limit of a specification.
DASH = "\u2013"
#: Demo sample numbers carry the year the demo was loaded in.
YEAR = datetime.now(UTC).year


@pytest.fixture
def lims(db) -> Lims:
    with db.read() as conn:
        shipped = [t["key"] for t in list_print_templates(conn, SYSTEM, "sample")]
    assert shipped == ["certificate_of_analysis", "sample_label"]  # the bundle carries them
    return Lims(db)


def _sample(db, number: str) -> dict:
    return next(s for s in records_of(db, "sample") if s["number"] == number)


def _certificate(lims: Lims, number: str) -> str:
    sample = _sample(lims.db, number)
    with lims.db.read() as conn:
        sheet = print_record(
            conn, lims.people["mark"], "sample", sample["id"], "certificate_of_analysis"
        )
    assert (sheet.width_mm, sheet.height_mm, sheet.margin_mm) == (210, 297, 15)
    return str(sheet.pages[0][0])


def test_labels_carry_code128_and_qr_of_the_number_21_to_a_page(lims):
    samples = records_of(lims.db, "sample")[:23]
    with lims.db.read() as conn:
        sheet = print_labels(
            conn, lims.people["tina"], "sample", [s["id"] for s in samples], "sample_label"
        )
    assert (sheet.columns, sheet.rows, sheet.label_width_mm) == (3, 7, 63.5)
    assert [len(page) for page in sheet.pages] == [21, 2]
    for sample, label in zip(samples, [c for page in sheet.pages for c in page], strict=True):
        html = str(label)
        bars = re.search(r'<svg[^>]*class="code128".*?</svg>', html, re.S).group(0)
        assert decode_code128(bars) == sample["number"]
        assert re.search(rf'<svg[^>]*class="qr"[^>]*><title>{sample["number"]}</title>', html)
        assert f'<div class="number">{sample["number"]}</div>' in html
        assert sample["data"]["client"] in html


def test_certificate_of_a_released_sample_reports_results_limits_and_flags(lims):
    html = _certificate(lims, f"SMP-{YEAR}-00019")
    assert "<h1>Certificate of Analysis</h1>" in html and "Not released" not in html
    rows = re.findall(r'<tr class="result">(.*?)</tr>', html, re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows]
    assert [c[0].split(" <span")[0] for c in cells] == ["pH", "Conductivity at 20 °C", "Nitrate"]
    assert [c[4] for c in cells] == [f"6.50 {DASH} 9.50", "≤ 2500", "≤ 50.0"]
    assert f"(retest of SMP-{YEAR}-00019-R03)" in cells[2][0]
    assert cells[2][2] == "14.1" and cells[2][5] == ""
    ph = next(
        r
        for r in lims.results(_sample(lims.db, f"SMP-{YEAR}-00019"))
        if r["number"].endswith("R01")
    )
    reviewed_on = ph["data"]["reviewed_at"][:10]
    assert cells[0][6] == "Tina Torres" and cells[0][7].startswith(f"Rita Rossi, {reviewed_on}")
    # The retested result keeps its original value, out of specification, on the certificate.
    (original,) = re.findall(r'<tr class="superseded">(.*?)</tr>', html, re.S)
    assert f"SMP-{YEAR}-00019-R03" in original and "58.2" in original
    assert "Out of specification" in original and "Retest requested" in original


def test_certificate_flags_and_draft_marking(lims):
    rejected = _certificate(lims, f"SMP-{YEAR}-00027")
    assert "Not released: for information only" in rejected and "Rejected" in rejected
    assert "93.1" in rejected and f"95.0 {DASH} 105.0" in rejected
    assert 'class="flag">Out of specification</td>' in rejected
    below = _certificate(lims, f"SMP-{YEAR}-00021")
    assert '<td class="flag">&lt; LOD</td>' in below


def test_certificate_shows_the_release_signature(lims):
    sample = _sample(lims.db, f"SMP-{YEAR}-00015")
    run_transition(
        lims.db,
        lims.people["quinn"],
        "sample",
        sample["id"],
        "release",
        signature=SignatureInput("quinn", DEMO_PASSWORDS["quinn"]),
    )
    html = _certificate(lims, f"SMP-{YEAR}-00015")
    assert "Not released" not in html
    (signature,) = re.findall(r'<p class="signature">(.*?)</p>', html, re.S)
    assert signature.startswith("<strong>Quinn Quist</strong> (quinn) · Approved for release · ")
    assert "earlier version" not in signature
