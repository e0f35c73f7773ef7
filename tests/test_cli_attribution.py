"""The command line writes in a person's name only with that person's credentials.

``import run`` and ``watch`` act as a person proven by one of their API tokens
(``LABLEDGER_TOKEN``) or by their password typed at a terminal prompt;
without credentials they act as the command line itself, which the audit
trail names as such.
"""

from __future__ import annotations

import getpass
import io

import pytest
from sqlalchemy import select

from labledger import cli
from labledger.db.tables import audit_event, record
from labledger.identity.principal import COMMAND_LINE, SYSTEM
from labledger.integration.mappings import publish_mapping
from labledger.settings import TOKEN_ENV
from tests.conftest import TEST_PASSWORD
from tests.definitions import add_roles, batch_type, counts, database_url
from tests.test_integration_mappings import batch_mapping


@pytest.fixture
def batches(db, publish, make_person, tmp_path, monkeypatch):
    """A batch type and mapping, 'ann' (an analyst), and a file of two batches."""
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    add_roles(db, "analyst")
    person = make_person("ann", "analyst")
    publish(batch_type())
    with db.write() as conn:
        publish_mapping(conn, SYSTEM, batch_mapping())
    path = tmp_path / "batches.csv"
    path.write_text("Code,Product\nB-1,Aspirin\nB-2,Ibuprofen\n")
    return person, str(path)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _import(db, path: str, *extra: str) -> int:
    return cli.main(["--database", database_url(db), "import", "run", "batch_list", path, *extra])


def _writers(db) -> tuple[set[str], set[str]]:
    """Who the records name as creator, and who their audit events name as actor."""
    with db.read() as conn:
        creators = set(conn.execute(select(record.c.created_by)).scalars())
        actors = set(
            conn.execute(
                select(audit_event.c.actor).where(audit_event.c.action == "record.create")
            ).scalars()
        )
    return creators, actors


def test_without_credentials_the_command_line_acts_as_itself(db, batches):
    assert _import(db, batches[1]) == 0
    assert _writers(db) == ({COMMAND_LINE}, {COMMAND_LINE})


def test_a_name_without_credentials_is_refused(db, batches, capsys):
    before = counts(db)
    assert _import(db, batches[1], "--user", "ann") == 1
    err = capsys.readouterr().err
    assert "Acting as 'ann' needs their credentials: set LABLEDGER_TOKEN" in err
    assert "Traceback" not in err and counts(db) == before


def test_a_token_acts_for_its_owner_only(db, batches, monkeypatch, capsys):
    person, path = batches
    monkeypatch.setenv(TOKEN_ENV, person.token)
    assert _import(db, path, "--user", "bob") == 1
    assert "LABLEDGER_TOKEN belongs to 'ann', not to 'bob'." in capsys.readouterr().err
    monkeypatch.setenv(TOKEN_ENV, "llt_not-a-token")
    assert _import(db, path) == 1
    assert "not a valid API token" in capsys.readouterr().err
    monkeypatch.setenv(TOKEN_ENV, person.token)
    assert _import(db, path) == 0
    assert _writers(db) == ({"ann"}, {"ann"})


def test_a_password_typed_at_the_terminal_acts_for_the_person(db, batches, monkeypatch, capsys):
    typed = iter(["wrong password", TEST_PASSWORD])
    monkeypatch.setattr("sys.stdin", _Terminal())
    monkeypatch.setattr(getpass, "getpass", lambda prompt: next(typed))
    assert _import(db, batches[1], "--user", "ann") == 1
    assert "Invalid username or password." in capsys.readouterr().err
    assert _import(db, batches[1], "--user", "ann") == 0
    assert _writers(db) == ({"ann"}, {"ann"})
    with db.read() as conn:
        logins = conn.execute(
            select(audit_event.c.action)
            .where(audit_event.c.actor == "ann", audit_event.c.action.like("login%"))
            .order_by(audit_event.c.seq)
        ).scalars()
        assert list(logins) == ["login.failed", "login"]
