"""PostgreSQL test schemas built by replaying the SQL of one real migration.

Every PostgreSQL test gets a schema of its own. Running the Alembic migrations
for each took about a second a test, most of it Alembic loading and
rendering the revisions, the same work every time. So each test process
builds one schema for real (the migrations, then the admin as `init`
creates it), recording every statement sent to the server on the way; each
test's schema then receives the same statements with the same parameters, in
order, in one transaction. The result is what the migrations built, as the
SQLite template copied for each SQLite test is. The migrations themselves
are checked against the declared tables in test_migrations_match_tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event


@dataclass(frozen=True)
class Statement:
    """One statement as the driver received it."""

    sql: str
    parameters: Any
    many: bool


def record(engines: Sequence[Engine], build: Callable[[], None], schema: str) -> list[Statement]:
    """The statements ``build`` sends through ``engines``, in order (a database's
    autocommit pool, which reserves record numbers, sends some of them).

    A statement naming ``schema`` would change that schema, not the one it is
    replayed in, so only reads may (the runtime role's grants look up the
    schema's default privileges, which a fresh schema never has).
    """
    statements: list[Statement] = []

    def capture(
        conn: Any, cursor: Any, sql: str, parameters: Any, context: Any, many: bool
    ) -> None:
        names_schema = schema in sql or schema in repr(parameters)
        if names_schema and not sql.lstrip().upper().startswith("SELECT"):
            raise AssertionError(f"a migration changes the schema by its name: {sql}")
        # An "insert many values" batch arrives flagged as many, with the one set of
        # parameters it is executed with.
        statements.append(Statement(sql, parameters, many and isinstance(parameters, list | tuple)))

    for engine in engines:
        event.listen(engine, "before_cursor_execute", capture)
    try:
        build()
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", capture)
    return statements


def replay(engine: Engine, statements: Sequence[Statement]) -> None:
    """Send ``statements`` through ``engine`` in one transaction."""
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            send(cursor, statements)
        raw.commit()
    finally:
        raw.close()


def send(cursor: Any, statements: Sequence[Statement]) -> None:
    """Send ``statements`` through a driver cursor, in order, as they were recorded."""
    for statement in statements:
        run = cursor.executemany if statement.many else cursor.execute
        run(statement.sql, statement.parameters)
