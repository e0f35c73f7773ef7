"""``labledger archive``: what an operator types and reads, and the exit status a script sees."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from labledger.archive.check import VERIFY_ACTION
from labledger.archive.format import MANIFEST
from labledger.db.engine import Database
from labledger.db.tables import audit_event
from tests.definitions import database_url, unchanged
from tests.test_cli import run


@pytest.fixture
def archived(lims_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "site.zip"
    code, out, _ = run(capsys, "--database", database_url(lims_db), "archive", "create", str(path))
    assert code == 0
    assert "Archive written" in out and "without credentials" in out
    assert "manifest SHA-256:" in out
    return path


def test_create_refuses_to_overwrite_and_to_write_nowhere(
    lims_db: Database, archived: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = database_url(lims_db)
    before = archived.read_bytes()

    code, _, err = run(capsys, "--database", url, "archive", "create", str(archived))
    assert (code, err) == (
        1,
        f"error: {archived} exists; choose another name or add --force to replace it.\n",
    )
    assert archived.read_bytes() == before

    nowhere = tmp_path / "no-such-folder" / "site.zip"
    code, _, err = run(capsys, "--database", url, "archive", "create", str(nowhere))
    assert code == 1 and "there is no folder" in err


def test_restore_proves_the_copy_and_reports_it(
    archived: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = f"sqlite:///{tmp_path / 'restored.db'}"
    report = tmp_path / "restore.json"

    code, out, _ = run(
        capsys, "--database", target, "archive", "restore", str(archived), "--report", str(report)
    )

    assert code == 0
    assert "Restore PROVED" in out and "Audit trail intact" in out
    assert "recorded in the audit trail (archive.restored)" in out
    body = json.loads(report.read_text())
    assert body["ok"] is True and body["records_checked"] > 0
    code, out, _ = run(capsys, "--database", target, "audit", "verify")
    assert code == 0 and "intact" in out


def test_restore_into_a_database_in_use_is_refused(
    archived: Path, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    with unchanged(db):
        code, _, err = run(
            capsys, "--database", database_url(db), "archive", "restore", str(archived)
        )
    assert code == 1
    assert err.startswith("error: The database is not empty")


@pytest.mark.requirement("REQ-ARC-03")
def test_verify_tests_a_backup_and_records_the_outcome(
    archived: Path, lims_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys,
        "--database",
        database_url(lims_db),
        "archive",
        "verify",
        str(archived),
        "--scratch",
        str(tmp_path),
        "--record",
    )

    assert code == 0
    assert out.startswith("Archive intact")
    assert "Trial restore into a temporary SQLite database" in out and "Restore PROVED" in out
    with lims_db.read() as conn:
        event = conn.execute(select(audit_event).where(audit_event.c.action == VERIFY_ACTION)).one()
    assert event.details["intact"] is True and event.details["trial_restore"] is True


def test_verify_names_a_damaged_archive_and_fails(
    archived: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(archived) as source, zipfile.ZipFile(damaged, "w") as copy:
        for info in source.infolist():
            body = source.read(info)
            if info.filename == "tables/audit_event.jsonl":
                body = body[:-200] + b"\n"  # the last event cut short
            copy.writestr(info.filename, body)

    code, _, err = run(capsys, "archive", "verify", "--quick", str(damaged))

    assert code == 1
    assert err.startswith("Archive NOT INTACT")
    assert "tables/audit_event.jsonl" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "There is no file"),
        (b"not a zip", "is not a labledger archive"),
        ("zip-without-manifest", "lacks its member manifest.json"),
        ("zip-of-another-kind", "is not a labledger archive (its manifest says so)"),
    ],
)
def test_verify_refuses_what_is_not_an_archive_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: object, message: str
) -> None:
    path = tmp_path / "file.zip"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("other.txt", "x")
            if content == "zip-of-another-kind":
                archive.writestr(MANIFEST, json.dumps({"format": "something-else"}))

    code, out, err = run(capsys, "archive", "verify", str(path))

    assert code == 1 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
