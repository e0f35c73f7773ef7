"""``labledger record dossier``: a record's dossier written to a file, readable errors."""

from __future__ import annotations

import pytest

from labledger.dossier.document import read_dossier_json
from labledger.printing import pdf
from tests.definitions import database_url
from tests.dossier_fixtures import signed_lot
from tests.test_cli import run
from tests.test_dossier_api import pdf_text
from tests.web.record_fixtures import make_lab


@pytest.fixture
def lab(db, make_person):
    return make_lab(db, make_person)


def test_json_by_number_and_pdf_by_id(db, lab, capsys, tmp_path):
    made = signed_lot(db, lab)
    url, number = database_url(db), made.lot["number"]
    out = tmp_path / "lot.json"
    code, printed, _ = run(
        capsys, "--database", url, "record", "dossier", "lot", number, "--format", "json",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0 and printed.startswith(f"{number}: dossier written to {out} (json, 2 related")
    dossier = read_dossier_json(out.read_bytes())
    assert dossier.record.number == number and dossier.made_by == "system"
    assert [s.printed_name for s in dossier.record.signatures] == ["Quinn Tester"]
    pdf = tmp_path / "lot.pdf"
    code, _, _ = run(
        capsys, "--database", url, "record", "dossier", "lot", str(made.lot["id"]),
        "--depth", "0", "--out", str(pdf),
    )  # fmt: skip
    assert code == 0 and pdf.read_bytes().startswith(b"%PDF")
    text = pdf_text(pdf.read_bytes())
    assert "Approved for release" in text and "modified — see audit event" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lot", "NO-SUCH-1"], "error: There is no record numbered 'NO-SUCH-1'"),
        (["lot", "999999"], "error: "),
        (["nothing", "1"], "error: "),
        (["lot", "LOT-0001", "--depth", "9"], "depth: must be a whole number from 0 to 3"),
    ],
)
def test_bad_input_is_one_readable_line_and_a_failure(db, lab, capsys, tmp_path, args, message):
    signed_lot(db, lab)
    out = tmp_path / "d.pdf"
    code, _, err = run(
        capsys, "--database", database_url(db), "record", "dossier", *args, "--out", str(out)
    )
    assert code == 1 and message in err
    assert not out.exists(), "nothing is written for a refused dossier"


def test_an_unwritable_file_is_refused_readably(db, lab, capsys, tmp_path):
    made = signed_lot(db, lab)
    code, _, err = run(
        capsys, "--database", database_url(db), "record", "dossier", "lot",
        made.lot["number"], "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 1 and "is a folder" in err
    missing = tmp_path / "no" / "such" / "d.pdf"
    code, _, err = run(
        capsys, "--database", database_url(db), "record", "dossier", "lot",
        made.lot["number"], "--out", str(missing),
    )  # fmt: skip
    assert code == 1 and err.startswith(f"error: Cannot write {missing}")


def test_without_a_pdf_engine_it_says_so_and_json_still_works(
    db, lab, capsys, tmp_path, monkeypatch
):
    made = signed_lot(db, lab)
    monkeypatch.setattr(pdf, "_engine", lambda: None)
    out = tmp_path / "d.pdf"
    args = ("--database", database_url(db), "record", "dossier", "lot", made.lot["number"])
    code, _, err = run(capsys, *args, "--out", str(out))
    assert code == 1 and "cannot make PDF files" in err and "libpango" in err
    assert not out.exists()
    code, _, _ = run(capsys, *args, "--format", "json", "--out", str(tmp_path / "d.json"))
    assert code == 0
