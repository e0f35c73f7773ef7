"""``labledger config export`` and ``labledger config import``."""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable

import pytest
from sqlalchemy import text

from labledger import cli
from labledger.bundles.cli import add_config_commands
from labledger.db.engine import Database
from tests.test_bundles import encode, snapshot, starter_bundle
from tests.test_bundles_export import exported


def database_url(db: Database) -> str:
    """A URL naming the test database (on PostgreSQL: its schema, through search_path)."""
    url = db.engine.url
    if db.dialect == "postgresql":
        with db.read() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture
def labledger(db, monkeypatch, capsysbinary) -> Callable[..., tuple[int, str, str]]:
    """Run the ``labledger`` command against the test database: (status, stdout, stderr)."""
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "config" not in commands.choices:
        add_config_commands(commands)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    url = database_url(db)

    def run(*argv: str) -> tuple[int, str, str]:
        capsysbinary.readouterr()
        status = cli.main(["--database", url, *argv])
        out, err = capsysbinary.readouterr()
        return status, out.decode(), err.decode()

    return run


def test_import_preview_apply_and_again(db, labledger, tmp_path):
    path = tmp_path / "starter.json"
    path.write_bytes(encode(starter_bundle()))
    before = snapshot(db)
    status, out, _ = labledger("config", "import", str(path), "--dry-run")
    assert status == 0
    assert "preview (dry run, nothing was changed)" in out
    assert "+ type batch: added as version 1" in out
    assert "records: 2 to create, 0 already imported" in out
    assert snapshot(db) == before

    status, out, _ = labledger("config", "import", str(path))
    assert (status, out.splitlines()[-1]) == (0, "Imported.")
    status, out, _ = labledger("config", "import", str(path))
    assert status == 0
    assert out.splitlines()[-1] == "Nothing to change: the database already matches this bundle."


def test_export_to_a_file_and_to_stdout(db, labledger, tmp_path):
    path = tmp_path / "starter.json"
    path.write_bytes(encode(starter_bundle()))
    labledger("config", "import", str(path))
    out_file = tmp_path / "export.json"
    status, out, _ = labledger(
        "config", "export", "--types", "measurement", "--out", str(out_file), "--name", "lab"
    )
    assert status == 0
    assert (
        out
        == f"Wrote {out_file} ({out_file.stat().st_size:,} bytes): 3 roles, 1 workflow, 2 types.\n"
    )
    assert out_file.read_bytes() == exported(db, types=["measurement"], name="lab")
    status, out, _ = labledger("config", "export", "--bundle-version", "7")
    assert status == 0
    assert out.encode() == exported(db, version="7")


def test_import_from_stdin(db, labledger, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(encode(starter_bundle()))))
    status, out, _ = labledger("config", "import", "-")
    assert (status, out.splitlines()[-1]) == (0, "Imported.")


def test_conflicts_exit_non_zero_unless_forced(db, labledger, tmp_path):
    path = tmp_path / "starter.json"
    path.write_bytes(encode(starter_bundle()))
    labledger("config", "import", str(path))
    changed = starter_bundle()
    changed["types"][1]["label"] = "Lot"
    changed["name"] = "other"
    del changed["records"]
    path.write_bytes(encode(changed))
    before = snapshot(db)
    for dry_run in ((), ("--dry-run",)):
        status, out, err = labledger("config", "import", str(path), *dry_run)
        assert status == 1
        assert "! type batch: version 1 -> 2; CONFLICT: was imported from bundle starter 1.0" in out
        assert err.startswith("error: ")
        assert snapshot(db) == before
    status, out, _ = labledger("config", "import", str(path), "--force")
    assert status == 0
    assert "(overwritten: forced)" in out


def test_problems_are_one_readable_message(db, labledger, tmp_path):
    bad = starter_bundle()
    bad["types"][1]["fields"][0]["type"] = "colour"
    path = tmp_path / "bad.json"
    path.write_bytes(encode(bad))
    before = snapshot(db)
    status, out, err = labledger("config", "import", str(path))
    assert (status, out) == (1, "")
    assert err.startswith("error: The bundle was not imported: nothing was changed.\n")
    assert "  types[1].fields[0].type: must be one of" in err
    status, _, err = labledger("config", "import", str(tmp_path / "missing.json"))
    assert status == 1
    assert err.startswith(f"error: Cannot read {tmp_path / 'missing.json'}")
    status, _, err = labledger("config", "export", "--types", "nothing")
    assert status == 1
    assert "types: there is no object type 'nothing'" in err
    assert snapshot(db) == before
