"""Change control from the command line: publishing around it is refused, and a weakened
workflow takes effect only after a second person signs its approval."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from labledger import cli
from labledger.changes.control import set_control
from labledger.db.engine import Database
from labledger.identity.principal import APPROVE_CONFIGURATION, SYSTEM
from labledger.metadata import versions
from labledger.settings import TOKEN_ENV
from tests.conftest import TEST_PASSWORD
from tests.definitions import database_url
from tests.test_change_control_api import _without_release_signature


@pytest.fixture
def db(lims_db: Database) -> Database:
    """The shipped LIMS configuration (with its demo data), prepared once (see conftest)."""
    return lims_db


@pytest.fixture
def lab(db: Database, tmp_path, make_person: Any, monkeypatch) -> dict[str, Any]:
    people = {
        "author": make_person(
            "alice", "cc_admin", permissions=("configure", APPROVE_CONFIGURATION)
        ),
        "qa": make_person("quentin", "cc_qa", permissions=(APPROVE_CONFIGURATION,)),
    }
    with db.write() as conn:
        set_control(conn, SYSTEM, enabled=True, reason="validated use")
        workflow = versions.current(conn, "workflow", "sample_lifecycle")
        sample = versions.current(conn, "object_type", "sample")
    assert workflow is not None and sample is not None
    weakened = tmp_path / "weakened.json"
    weakened.write_text(json.dumps(_without_release_signature(workflow[1])))
    relabelled = tmp_path / "sample.json"
    relabelled.write_text(json.dumps({**sample[1], "label": "Specimen"}))
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    return {**people, "weakened": str(weakened), "sample": str(relabelled)}


def _run(db: Database, *args: str) -> int:
    return cli.main(["--database", database_url(db), *args])


def _release_signature(db: Database) -> Any:
    with db.read() as conn:
        found = versions.current(conn, "workflow", "sample_lifecycle")
    assert found is not None
    return next(t for t in found[1]["transitions"] if t["key"] == "release").get("signature")


def test_publishing_from_the_command_line_is_refused(db, lab, capsys):
    assert _run(db, "type", "publish", lab["sample"]) != 0
    assert "Change control is on" in capsys.readouterr().err
    with db.read() as conn:
        assert versions.current(conn, "object_type", "sample")[1]["label"] == "Sample"


def test_a_weakened_workflow_needs_a_second_persons_signature(db, lab, capsys, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, lab["author"].token)
    code = _run(
        db,
        "changes",
        "propose",
        "--title",
        "Faster release",
        "--reason",
        "no QA signature",
        "--item",
        "workflow",
        lab["weakened"],
    )
    assert code == 0
    out = capsys.readouterr().out
    number = out.split()[0].removeprefix("CR-")
    assert _run(db, "changes", "show", number) == 0
    shown = capsys.readouterr().out
    assert "Changes that weaken a control:" in shown
    assert "no longer requires a signature" in shown

    assert _run(db, "changes", "activate", number) != 0  # not approved
    assert "only an approved change is activated" in capsys.readouterr().err

    monkeypatch.setattr("sys.stdin", io.StringIO(TEST_PASSWORD + "\n"))
    assert _run(db, "changes", "approve", number, "--user", "alice", "--password-stdin") != 0
    assert "its approval must come from someone else" in capsys.readouterr().err

    monkeypatch.setattr("sys.stdin", io.StringIO("wrong password\n"))
    assert _run(db, "changes", "approve", number, "--user", "quentin", "--password-stdin") != 0
    assert "Signature refused" in capsys.readouterr().err
    assert _release_signature(db) == {"meaning": "Approved for release"}

    monkeypatch.setattr("sys.stdin", io.StringIO(TEST_PASSWORD + "\n"))
    assert _run(db, "changes", "approve", number, "--user", "quentin", "--password-stdin") == 0
    assert "approved" in capsys.readouterr().out
    assert _run(db, "changes", "activate", number) == 0
    assert _release_signature(db) is None


def test_change_control_is_switched_with_a_reason_by_a_person(db, lab, capsys, monkeypatch):
    assert _run(db, "changes", "control", "off", "--reason", "training") != 0  # the command line
    assert "configure" in capsys.readouterr().err
    monkeypatch.setenv(TOKEN_ENV, lab["author"].token)
    assert _run(db, "changes", "control", "off", "--reason", "training copy") == 0
    assert "not for validated use" in capsys.readouterr().out
    assert _run(db, "changes", "list") == 0
    assert capsys.readouterr().out.startswith("Change control is off")


def test_a_rollback_is_proposed_from_the_command_line(db, lab, capsys, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, lab["author"].token)
    code = _run(db, "changes", "revert", "workflow", "sample_lifecycle", "1", "--reason", "undo")
    assert code == 0
    assert "Roll back workflow 'sample_lifecycle' to version 1" in capsys.readouterr().out
    assert _run(db, "changes", "revert", "workflow", "sample_lifecycle", "9", "--reason", "x")
    assert "has no version 9" in capsys.readouterr().err
