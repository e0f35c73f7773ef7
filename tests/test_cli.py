"""The ``labledger`` command: set-up, users, tokens, publishing and verification."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from labledger import cli
from labledger.db.engine import open_database
from labledger.identity.tokens import principal_for_token
from labledger.identity.users import check_password, get_user
from tests.definitions import add_roles, batch_type, counts, database_url, unchanged

PASSWORD = "a long enough secret"


def run(capsys, *argv: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_init_empty_prints_the_admin_password_once(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    code, out, _ = run(capsys, "--database", url, "init", "--empty")
    assert code == 0 and "Database ready" in out
    (password,) = [line.strip() for line in out.splitlines() if line.startswith("    ")]
    code, out_again, _ = run(capsys, "--database", url, "init", "--empty")
    assert code == 0 and password not in out_again and "one-time" not in out_again

    db = open_database(url)
    try:
        with db.write() as conn:
            admin = check_password(conn, "admin", password).principal
        assert admin is not None and admin.must_change_password
        assert counts(db)[0] == 0, "--empty loads no configuration"
    finally:
        db.dispose()
    code, out, _ = run(capsys, "--database", url, "audit", "verify")
    assert code == 0 and "Audit trail intact" in out


def test_users_and_tokens(db, capsys, monkeypatch):
    url = database_url(db)
    add_roles(db, "analyst")
    code, out, _ = run(
        capsys,
        "--database",
        url,
        "user",
        "add",
        "ann",
        "--full-name",
        "Ann Analyst",
        "--email",
        "ann@example.org",
        "--role",
        "analyst",
        "--password-stdin",
        stdin=PASSWORD + "\n",
        monkeypatch=monkeypatch,
    )
    assert code == 0 and "Created user 'ann'" in out and PASSWORD not in out
    with db.write() as conn:
        ann = get_user(conn, "ann")
        assert check_password(conn, "ann", PASSWORD).principal
    assert ann["roles"] == ["analyst"] and ann["must_change_password"], "admin-set: one-time"

    with unchanged(db):
        code, _, err = run(
            capsys,
            "--database",
            url,
            "user",
            "add",
            "bob",
            "--full-name",
            "Bob",
            "--role",
            "wizard",
            "--password-stdin",
            stdin=PASSWORD + "\n",
            monkeypatch=monkeypatch,
        )
        assert code != 0 and "no such role: wizard" in err
        code, _, err = run(
            capsys,
            "--database",
            url,
            "user",
            "add",
            "ann",
            "--full-name",
            "Ann again",
            "--password-stdin",
            stdin=PASSWORD + "\n",
            monkeypatch=monkeypatch,
        )
        assert code != 0 and "never reused" in err
        code, _, err = run(
            capsys,
            "--database",
            url,
            "user",
            "add",
            "bob",
            "--full-name",
            "Bob",
            "--password-stdin",
            stdin="short\n",
            monkeypatch=monkeypatch,
        )
        assert code != 0 and "at least 10 characters" in err
        code, _, err = run(capsys, "--database", url, "token", "create", "nobody")
        assert code != 0 and "nobody" in err

    code, out, _ = run(
        capsys,
        "--database",
        url,
        "user",
        "add",
        "bob",
        "--full-name",
        "Bob",
        "--role",
        "analyst",
        stdin="",
        monkeypatch=monkeypatch,
    )
    generated = out.split("shown only now): ")[1].strip()
    with db.write() as conn:
        assert check_password(conn, "bob", generated).principal

    code, out, _ = run(capsys, "--database", url, "token", "create", "ann", "--name", "robot")
    token = out.strip()
    assert code == 0 and token.startswith("llt_")
    with db.read() as conn:
        assert principal_for_token(conn, token).username == "ann"

    code, out, _ = run(capsys, "--database", url, "user", "deactivate", "ann")
    assert code == 0
    code, out, _ = run(capsys, "--database", url, "user", "list")
    assert any(line.startswith("ann") and "inactive" in line for line in out.splitlines())
    with db.read() as conn:
        assert principal_for_token(conn, token) is None


def test_type_publish_reports_broken_files_precisely(db, tmp_path, capsys):
    url = database_url(db)
    add_roles(db, "analyst")
    good = tmp_path / "batch.json"
    good.write_text(json.dumps(batch_type(), indent=2))
    code, out, _ = run(capsys, "--database", url, "type", "publish", str(good))
    assert (code, out.strip()) == (0, "batch: published as version 1")
    code, out, _ = run(capsys, "--database", url, "type", "publish", str(good))
    assert (code, out.strip()) == (0, "batch: unchanged at version 1")

    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "key": "lot",\n  "label": "Lot",,\n}\n')
    invalid = tmp_path / "invalid.json"
    definition = batch_type(key="lot", numbering="LOT")
    invalid.write_text(json.dumps(definition))
    with unchanged(db):
        code, _, err = run(capsys, "--database", url, "type", "publish", str(broken))
        assert code != 0 and "line 3, column 18" in err and "broken.json" in err
        code, _, err = run(capsys, "--database", url, "type", "publish", str(invalid))
        assert code != 0 and "numbering" in err
        code, _, err = run(
            capsys, "--database", url, "type", "publish", str(tmp_path / "none.json")
        )
        assert code != 0 and "Cannot read" in err
    code, out, _ = run(capsys, "--database", url, "type", "list")
    assert out.split() == ["batch", "v1", "Batch"]


def test_bad_usage_and_unreachable_databases_give_one_readable_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as usage:
        cli.main(["user", "add"])
    assert usage.value.code == cli.EXIT_USAGE
    capsys.readouterr()
    missing = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"
    code, _, err = run(capsys, "--database", missing, "audit", "verify")
    assert code != 0 and err.startswith("error:") and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "--database", "nonsense://", "audit", "verify")
    assert code != 0 and err.startswith("error:")


def test_the_console_script_runs(tmp_path):
    script = Path(sys.executable).with_name("labledger")
    url = f"sqlite:///{tmp_path / 'script.db'}"
    done = subprocess.run(
        [str(script), "--database", url, "init", "--empty"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "one-time password" in done.stdout
    verify = subprocess.run(
        [str(script), "--database", url, "audit", "verify"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verify.returncode == 0 and "Audit trail intact" in verify.stdout


def test_roles_and_token_revocation_from_the_cli(db, capsys):
    url = database_url(db)
    assert (
        cli.main(
            [
                "--database",
                url,
                "role",
                "save",
                "qa",
                "--label",
                "Quality",
                "--permission",
                "read_audit",
            ]
        )
        == 0
    )
    assert cli.main(["--database", url, "role", "list"]) == 0
    assert "qa" in capsys.readouterr().out
    assert (
        cli.main(
            ["--database", url, "role", "save", "bad", "--label", "Bad", "--permission", "fly"]
        )
        == 1
    )
    assert "unknown permission" in capsys.readouterr().err
    assert cli.main(["--database", url, "token", "create", "admin"]) == 0
    token = capsys.readouterr().out.strip()
    assert cli.main(["--database", url, "token", "list", "admin"]) == 0
    assert token[:10] in capsys.readouterr().out
    assert cli.main(["--database", url, "token", "revoke", token[:10]]) == 0
    with db.read() as conn:
        assert principal_for_token(conn, token) is None


def test_output_cut_short_by_its_reader_ends_quietly(tmp_path):
    """``labledger ... | head``: the reader closes the pipe; no traceback, status 141."""
    url = f"sqlite:///{tmp_path / 'piped.db'}"
    assert cli.main(["--database", url, "init", "--empty"]) == 0
    command = [sys.executable, "-m", "labledger.cli", "--database", url, "audit", "verify"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # the reader is gone before the first line
        errors = process.stderr.read().decode()
        status = process.wait()
    assert "Traceback" not in errors and "Broken pipe" not in errors
    assert status == cli.EXIT_BROKEN_PIPE
