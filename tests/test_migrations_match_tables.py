"""The Alembic migrations build exactly the schema the code declares.

The application reads and writes through the SQLAlchemy tables of
``labledger.db``, while databases are built by the migrations: a column,
type, index, unique constraint or foreign key declared on one side only
would pass every test that creates its schema one way and fail on a
database built the other way. Each database here is a fresh one built by the
real Alembic migrations, compared with the declarations by Alembic's
autogenerate, on SQLite and on PostgreSQL. (Alembic does not
compare CHECK constraints or triggers; the tests that exercise them do.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, MetaData, String

import labledger.db.integration_tables  # noqa: F401  (declares its tables on ``metadata``)
from labledger.db.engine import Database, open_database
from labledger.db.migrate import upgrade
from labledger.db.tables import metadata
from tests.conftest import BACKENDS, _postgres_database

#: SQLite cannot reflect expression indexes (the prefix-search indexes): the comparison
#: says so and skips them there; tests/test_record_search.py checks them instead.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index"),
    pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based"),
]


@pytest.fixture(params=BACKENDS)
def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh database built by the migrations themselves (the ``db`` fixture's
    PostgreSQL schemas replay their SQL instead)."""
    if request.param == "sqlite":
        database = open_database(f"sqlite:///{tmp_path / 'fresh.db'}")
        upgrade(database.engine)
        yield database
        database.dispose()
    else:
        yield from _postgres_database()


def _differences(db: Database, declared: MetaData) -> list[Any]:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, declared)


def test_the_migrated_schema_is_the_declared_one(migrated: Database) -> None:
    assert _differences(migrated, metadata) == []


def test_a_declaration_the_migrations_lack_is_found(migrated: Database) -> None:
    declared = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        if table.name != "rate_limit":
            table.to_metadata(declared)
    declared.tables["record"].append_column(Column("undeclared_in_migrations", String(10)))

    found = {(diff[0], diff[-1].name) for diff in _differences(migrated, declared)}

    assert ("add_column", "undeclared_in_migrations") in found
    assert ("remove_table", "rate_limit") in found
