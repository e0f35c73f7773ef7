"""The Alembic migrations build exactly the schema the code declares.

The application reads and writes through the SQLAlchemy tables of
``labledger.db``, while databases are built by the migrations: a column,
type, index, unique constraint or foreign key declared on one side only
would pass every test that creates its schema one way and fail on a
database built the other way. Each test database here is a fresh one built
by the real migrations (the ``db`` fixture), compared with the declarations
by Alembic's autogenerate, on SQLite and on PostgreSQL. (Alembic does not
compare CHECK constraints or triggers; the tests that exercise them do.)
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, MetaData, String

import labledger.db.integration_tables  # noqa: F401  (declares its tables on ``metadata``)
from labledger.db.engine import Database
from labledger.db.tables import metadata


def _differences(db: Database, declared: MetaData) -> list[Any]:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, declared)


def test_the_migrated_schema_is_the_declared_one(db: Database) -> None:
    assert _differences(db, metadata) == []


def test_a_declaration_the_migrations_lack_is_found(db: Database) -> None:
    declared = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        if table.name != "rate_limit":
            table.to_metadata(declared)
    declared.tables["record"].append_column(Column("undeclared_in_migrations", String(10)))

    found = {(diff[0], diff[-1].name) for diff in _differences(db, declared)}

    assert ("add_column", "undeclared_in_migrations") in found
    assert ("remove_table", "rate_limit") in found
