"""Run the platform's Alembic migrations programmatically.

The Alembic configuration is built in code so that migrations run the same
from a checkout and from an installed wheel, with no alembic.ini to find.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import Connection, Engine

from labledger.db.roles import renew_runtime_grants

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema up to ``revision`` (the newest by default)."""
    with engine.connect() as conn, conn.begin():
        upgrade_connection(conn, revision)


def upgrade_connection(conn: Connection, revision: str = "head") -> None:
    """Migrate inside the caller's transaction, then renew the runtime role's grants.

    Tables a migration creates get the runtime role's default privileges;
    renewing the grants narrows those of append-only tables (see
    ``labledger.db.roles``) before anything can use them.
    """
    command.upgrade(alembic_config(conn), revision)
    if conn.dialect.name == "postgresql":
        renew_runtime_grants(conn)


def _scripts() -> ScriptDirectory:
    return ScriptDirectory(str(_MIGRATIONS))


def head_revision() -> str:
    """The revision the newest migration leaves a database at."""
    head = _scripts().get_current_head()
    assert head is not None, "the migrations have one head"
    return head


def knows_revision(revision: str) -> bool:
    """Whether ``revision`` is one of this platform's migrations (an older or the newest)."""
    try:
        return _scripts().get_revision(revision) is not None
    except (CommandError, RevisionError):
        return False
