"""The integration commands: import run, mapping, watch (--once), webhook, deliveries, worker."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from labledger import cli
from labledger.db.integration_tables import import_run
from labledger.identity.principal import SYSTEM
from labledger.integration.mappings import publish_mapping
from labledger.records.service import create_record
from labledger.settings import TOKEN_ENV
from tests.definitions import (
    acting,
    add_roles,
    batch_type,
    counts,
    database_url,
    measurement_type,
)
from tests.test_integration_mappings import BAD, GOOD, batch_mapping, results_mapping
from tests.test_integration_support import running_receiver

ANALYST = acting("ann", "analyst")
receiver = pytest.fixture(running_receiver, name="receiver")


@pytest.fixture
def lab(db, publish, make_person, monkeypatch):
    """The types, the results mapping, and 'ann', an analyst, whose token the commands hold."""
    add_roles(db, "analyst", "reviewer")
    monkeypatch.setenv(TOKEN_ENV, make_person("ann", "analyst").token)
    publish(batch_type())
    publish(measurement_type())
    with db.write() as conn:
        publish_mapping(conn, SYSTEM, results_mapping())


def _batches(db) -> None:
    with db.write() as conn:
        for code in ("B-1", "B-2"):
            create_record(conn, ANALYST, "batch", {"code": code})


def _cli(db, *args: str) -> int:
    """``labledger --database <the test's database> ARGS...``, in-process."""
    return cli.main(["--database", database_url(db), *args])


def _imports(db) -> int:
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(import_run)).scalar_one()


def test_mapping_publish_and_list(db, lab, tmp_path, capsys):
    path = tmp_path / "batches.json"
    path.write_text(json.dumps(batch_mapping()))
    assert _cli(db, "mapping", "publish", str(path)) == 0
    assert _cli(db, "mapping", "publish", str(path)) == 0
    assert _cli(db, "mapping", "list") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["batch_list: published as version 1", "batch_list: unchanged at version 1"]
    assert out[2].split()[:3] == ["batch_list", "v1", "batch"]
    assert out[3].split()[:3] == ["plate_results", "v1", "measurement"]
    path.write_text(json.dumps(batch_mapping(target="nothing")))
    assert _cli(db, "mapping", "publish", str(path)) == 1
    assert "target: there is no object type 'nothing'" in capsys.readouterr().err


def test_import_run_dry_run_and_apply(db, lab, tmp_path, capsys):
    with db.write() as conn:
        publish_mapping(conn, SYSTEM, batch_mapping())
    batches = tmp_path / "batches.csv"
    batches.write_text("Code,Product\nB-1,Aspirin\nB-2,Ibuprofen\n")
    assert _cli(db, "import", "run", "batch_list", str(batches), "--user", "ann") == 0
    assert "2 rows (2 create); applied as import 1" in capsys.readouterr().out

    bad = tmp_path / "plate.csv"
    bad.write_text(BAD)
    before = counts(db)
    code = _cli(db, "import", "run", "plate_results", str(bad), "--user", "ann", "--dry-run")
    assert code == 1 and counts(db) == before
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "plate.csv: 9 rows (1 create, 8 error); dry run, nothing written"
    assert (
        out[1] == "line 3, column 'Sample' (field batch): there is no batch record with code 'B-9'"
    )
    assert len(out) == 9

    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    args = ("import", "run", "plate_results", str(good), "--user", "ann", "--json")
    assert _cli(db, *args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["applied"] and report["import"] == 2 and report["counts"]["create"] == 3

    assert _cli(db, *args) == 1
    assert "already imported through mapping 'plate_results' as import 2" in (
        capsys.readouterr().err
    )
    assert _cli(db, "import", "run", "plate_results", str(good), "--user", "nobody") == 1
    assert "LABLEDGER_TOKEN belongs to 'ann', not to 'nobody'." in capsys.readouterr().err
    missing = str(tmp_path / "missing.csv")
    assert _cli(db, "import", "run", "plate_results", missing, "--user", "ann") == 1
    assert "Cannot read" in capsys.readouterr().err


def test_watch_imports_each_file_once_and_files_it_away(db, lab, tmp_path, capsys):
    _batches(db)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "plate-1.csv").write_text(GOOD)
    (inbox / "plate-2.csv").write_text(BAD)
    (inbox / ".copying.csv").write_text(GOOD)
    (inbox / "plate-3.csv.part").write_text(GOOD)
    watch = ("watch", str(inbox), "--mapping", "plate_results", "--user", "ann", "--once")

    assert _cli(db, *watch) == 1, "a file failed"
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "done/plate-1.csv: plate-1.csv: 3 rows (3 create); applied as import 1",
        "failed/plate-2.csv: plate-2.csv: 9 rows (1 create, 8 error); NOT applied, nothing written",
    ]
    assert (inbox / "done" / "plate-1.csv").read_text() == GOOD
    assert not (inbox / "done" / "plate-1.csv.errors.txt").exists()
    report = (inbox / "failed" / "plate-2.csv.errors.txt").read_text().splitlines()
    assert (
        report[1]
        == "line 3, column 'Sample' (field batch): there is no batch record with code 'B-9'"
    )
    assert len(report) == 9
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == [
        ".copying.csv",
        "plate-3.csv.part",
    ]

    # The same bytes again, under another name: never imported twice.
    (inbox / "plate-1-again.csv").write_text(GOOD)
    # A new file under a name already used in done/: kept beside it.
    (inbox / "plate-1.csv").write_text(GOOD.replace("3.5", "3.6"))
    before = _imports(db)
    assert _cli(db, *watch) == 1
    assert _imports(db) == before + 1
    assert (inbox / "done" / "plate-1-2.csv").exists()
    note = (inbox / "failed" / "plate-1-again.csv.errors.txt").read_text()
    assert "already imported through mapping 'plate_results' as import 1" in note

    assert _cli(db, *watch) == 0, "nothing left to do"
    assert capsys.readouterr().out.splitlines()[-1].startswith("done/plate-1-2.csv")
    nowhere = ("watch", str(tmp_path / "nope"), *watch[2:])
    assert _cli(db, *nowhere) == 1


def test_a_row_by_row_file_goes_to_done_with_its_row_errors(db, lab, tmp_path):
    _batches(db)
    with db.write() as conn:
        publish_mapping(conn, SYSTEM, results_mapping(mode="row"))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "plate.csv").write_text(BAD)
    (inbox / "latin.csv").write_bytes("Sample\nB-\xe9\n".encode("latin-1"))
    args = ("watch", str(inbox), "--mapping", "plate_results", "--user", "ann", "--once")
    assert _cli(db, *args) == 1
    refused = (inbox / "failed" / "latin.csv.errors.txt").read_text()
    assert refused.startswith("latin.csv: The file cannot be imported. file: is not valid utf-8")
    report = (inbox / "done" / "plate.csv.errors.txt").read_text().splitlines()
    assert report[0] == "plate.csv: 9 rows (1 create, 8 error); applied as import 1"


def test_webhook_commands_and_the_worker(db, lab, receiver, capsys):
    url = receiver.url
    add = ("webhook", "add", "lims-out", url, "--kind", "record.created", "--max-attempts", "1")
    assert _cli(db, *add) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"Created webhook 'lims-out' to {url}."
    receiver.secret = out[1].rsplit(" ", 1)[1]
    assert _cli(db, "webhook", "add", "inside", "http://10.1.2.3/") == 1
    assert "url: is not in the webhook allowlist" in capsys.readouterr().err

    with db.write() as conn:
        create_record(conn, ANALYST, "batch", {"code": "B-1"})
    receiver.answers.append(500)
    assert _cli(db, "worker", "--once") == 0
    assert _cli(db, "webhook", "list") == 0
    listed = capsys.readouterr().out.splitlines()[-1].split()
    assert listed[:7] == ["lims-out", "active", "queue", "0", "dead", "1", "delivered"]

    assert _cli(db, "deliveries", "replay", "lims-out") == 0
    assert capsys.readouterr().out.strip() == "1 dead deliveries of 'lims-out' will be sent again."
    assert _cli(db, "webhook", "disable", "lims-out") == 0
    assert _cli(db, "worker", "--once") == 0
    assert len(receiver.received) == 1, "paused: nothing sent"
    assert _cli(db, "webhook", "enable", "lims-out") == 0
    assert _cli(db, "worker", "--once") == 0
    assert len(receiver.received) == 2 and all(r.signed for r in receiver.received)
    capsys.readouterr()
    assert _cli(db, "webhook", "show", "lims-out") == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["delivered"], shown["dead"], shown["queue"]) == (1, 0, 0)
    assert shown["failures"][0]["status_code"] == 500
