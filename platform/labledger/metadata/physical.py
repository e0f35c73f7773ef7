"""The database objects an object type gets: expression indexes and a report view.

Filterable fields get a partial expression index per type (value, created_at,
id), so a filtered list sorted by creation time reads only the rows it shows;
unique fields get a unique partial index, so the database itself refuses a
duplicate even between concurrent writers. Every type also gets a read-only
view ``report_<type>`` with one typed column per field for SQL and BI users.
None of this is DDL on record data: rows are never rewritten.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection

from labledger.db.jsonfields import field_sql, safe_identifier
from labledger.db.roles import run_type_ddl
from labledger.metadata.fieldtypes import sql_kind, view_cast
from labledger.metadata.model import TypeModel

#: The record's own columns in a report view, renamed so that no field key can clash.
BASE_COLUMNS = {
    "id": "record_id",
    "number": "record_number",
    "title": "record_title",
    "state": "record_state",
    "type_version": "record_type_version",
    "version": "record_version",
    "created_at": "record_created_at",
    "created_by": "record_created_by",
    "updated_at": "record_updated_at",
    "updated_by": "record_updated_by",
}


_CREATE_UNIQUE = "CREATE UNIQUE INDEX"


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _index_name(prefix: str, type_key: str, field_key: str) -> str:
    """``ixf_<type hash>_<field hash>_<type>_<field>``: unique, readable, under 63 chars."""
    return (
        f"{prefix}_{_short_hash(type_key)}_{_short_hash(field_key)}_"
        f"{type_key[:16]}_{field_key[:16]}"
    )


def _owner_hash(index_name: str) -> str | None:
    parts = index_name.split("_")
    if len(parts) < 3 or parts[0] not in ("ixf", "uxf"):
        return None
    return parts[1]


def desired_indexes(dialect: str, model: TypeModel) -> dict[str, str]:
    """Name -> CREATE INDEX statement for every index the type needs."""
    type_key = safe_identifier(model.key)
    statements = {}
    for key, fspec in model.field_specs.items():
        expr = field_sql(dialect, key, sql_kind(fspec), table="")
        where = f"WHERE type_key = '{type_key}'"
        if fspec.filterable:
            name = _index_name("ixf", type_key, key)
            statements[name] = f"CREATE INDEX {name} ON record ({expr}, created_at, id) {where}"
        if fspec.unique:
            name = _index_name("uxf", type_key, key)
            statements[name] = f"{_CREATE_UNIQUE} {name} ON record ({expr}) {where}"
    return statements


def sync_database_objects(
    conn: Connection, model: TypeModel, *, first: bool = False, rehearsal: bool = False
) -> None:
    """Bring the type's indexes and report view in line with ``model``.

    ``first``: the type's first version, which has no indexes yet to compare
    with. Raises IntegrityError when a new unique index meets duplicate values.
    ``rehearsal``: the caller will roll back (a dry run), so only the objects
    that can refuse the change are created: new unique indexes. The others
    cannot fail over existing records (values keep their type, see
    validation), and on PostgreSQL each index costs a file and a sync.
    """
    statements = index_changes(conn, model, first=first)
    if rehearsal:
        run_ddl(conn, [s for s in statements if s.startswith(_CREATE_UNIQUE)])
        return
    run_ddl(conn, statements + report_view_statements(conn.dialect.name, model))


def run_ddl(conn: Connection, statements: list[str]) -> None:
    """Run DDL statements in order: on PostgreSQL in one round trip.

    A type of 40 fields may need dozens of statements, and a bundle of 50
    types over a thousand: one round trip per type instead of one per
    statement. SQLite runs one statement per call, and has no round trips.
    On PostgreSQL a role that does not own ``record`` (the runtime role)
    runs them through the owner's checking function (see ``db.roles``).
    """
    if conn.dialect.name == "postgresql":
        if statements:
            run_type_ddl(conn, statements)
        return
    for statement in statements:
        conn.exec_driver_sql(statement)


def index_changes(conn: Connection, model: TypeModel, *, first: bool = False) -> list[str]:
    """The statements that create the indexes the type needs and drop those it no longer needs."""
    wanted = desired_indexes(conn.dialect.name, model)
    owner = _short_hash(model.key)
    existing = (
        set()
        if first
        else {name for name in record_index_names(conn) if _owner_hash(name) == owner}
    )
    drops = [f"DROP INDEX {name}" for name in sorted(existing - set(wanted))]
    return drops + [statement for name, statement in wanted.items() if name not in existing]


def record_index_names(conn: Connection) -> set[str]:
    """Names of the indexes on ``record``, expression indexes included.

    SQLAlchemy's inspector skips expression indexes on SQLite, so the catalogs
    are asked directly (on PostgreSQL ``pg_index`` rather than the
    ``pg_indexes`` view, which renders the definition of every index).
    """
    if conn.dialect.name == "postgresql":
        statement = (
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'record'::regclass"
        )
    else:
        statement = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'record'"
    return set(conn.exec_driver_sql(statement).scalars())


def view_name(type_key: str) -> str:
    return f"report_{safe_identifier(type_key)}"


def report_view_statements(dialect: str, model: TypeModel) -> list[str]:
    """The statements that (re)create ``report_<type>`` with one typed column per field."""
    columns = [f"{column} AS {alias}" for column, alias in BASE_COLUMNS.items()]
    for key, fspec in model.field_specs.items():
        expr = field_sql(dialect, key, "json" if dialect == "postgresql" else "text")
        cast = view_cast(fspec)
        if dialect == "postgresql":
            raw = f"(record.data ->> '{key}')"
            columns.append(f'{raw}::{cast[0]} AS "{key}"' if cast else f'{expr} AS "{key}"')
        else:
            columns.append(
                f'CAST({expr} AS {cast[1]}) AS "{key}"' if cast else f'{expr} AS "{key}"'
            )
    name = view_name(model.key)
    # Every name in this statement passed safe_identifier: nothing user-typed reaches SQL raw.
    select = f"SELECT {', '.join(columns)} FROM record"  # noqa: S608
    return [
        f"DROP VIEW IF EXISTS {name}",
        f"CREATE VIEW {name} AS {select} WHERE type_key = '{safe_identifier(model.key)}'",
    ]
