"""``labledger archive restore``: an archive into an empty database of either kind.

The restore builds exactly the schema the archive was made at, loads every
row as it was, then runs the migrations of this platform's newer schema, so
an archive made years ago comes back through the same migrations an
installation upgraded in place went through (Annex 11 §17). It is one
transaction: a damaged archive, a row that does not fit or a failed
migration leaves the database as empty as it was.

Credentials the archive withheld (``format.CREDENTIAL_COLUMNS``) come back
as nothing where the column allows it (people need new passwords) and as a
random value nobody knows where it does not (tokens that can never match,
webhook secrets to set again).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import Connection, TableClause, column, func, insert, inspect, select, table, text
from sqlalchemy.exc import DataError, IntegrityError

from labledger.archive.format import BIND_TYPES, TABLE_NAMED, TABLES, TRANSIENT_TABLES, TableEntry
from labledger.archive.progress import Progress, no_progress
from labledger.archive.reading import ArchiveDamaged, ArchiveReader
from labledger.db.engine import Database
from labledger.db.migrate import head_revision, knows_revision, upgrade_connection
from labledger.db.tables import audit_event, audit_event_seq
from labledger.db.types import dump_json
from labledger.errors import Conflict, ValidationFailed

#: Tables the migrations fill themselves (each lane's first tip): the archive's rows replace them.
FILLED_BY_MIGRATIONS = frozenset({"audit_head", "outbox_lane"})
#: Rows inserted per statement, and the binary contents held at once while inserting.
BATCH = 1000
BATCH_BLOB_BYTES = 64 * 1024 * 1024

#: Rows of one table as read from an archive, in its columns' order.
Rows = list[list[Any]]


def restore_archive(db: Database, reader: ArchiveReader, progress: Progress = no_progress) -> None:
    """Load ``reader``'s archive into ``db``, which must hold no data; all or nothing."""
    manifest = reader.manifest
    if not knows_revision(manifest.schema_revision):
        raise ValidationFailed(
            f"The archive was made at schema revision {manifest.schema_revision}, which this "
            f"labledger does not know (it knows up to {head_revision()}): restore it with the "
            f"labledger that made it ({manifest.platform_version}) or a newer one."
        )
    with db.write() as conn:
        _prepare_schema(conn, manifest.schema_revision)
        for entry in manifest.tables:
            _load_table(conn, reader, entry, progress)
        upgrade_connection(conn)
        if conn.dialect.name == "postgresql":
            _advance_sequences(conn)


def _prepare_schema(conn: Connection, revision: str) -> None:
    """Bring an empty database to the archive's schema revision, or refuse one that holds data."""
    present = set(inspect(conn).get_table_names())
    if "alembic_version" not in present:
        upgrade_connection(conn, revision)
        return
    current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if current != revision:
        raise Conflict(
            f"The database is set up at schema revision {current}, the archive was made at "
            f"{revision}: restore into a database with no tables, which the restore sets up."
        )
    for name in sorted(present - TRANSIENT_TABLES - FILLED_BY_MIGRATIONS):
        if name in TABLE_NAMED and _has_rows(conn, name):
            raise Conflict(
                f"The database is not empty (table {name} holds rows): an archive is restored "
                "only into an empty database."
            )


def _has_rows(conn: Connection, name: str) -> bool:
    return conn.execute(select(1).select_from(TABLE_NAMED[name]).limit(1)).first() is not None


def _target(conn: Connection, entry: TableEntry) -> tuple[TableClause, set[str]]:
    """The table to insert ``entry``'s rows into, and which of its columns require a value."""
    if entry.name in TRANSIENT_TABLES or entry.name not in TABLE_NAMED:
        raise ArchiveDamaged(f"The archive holds a table labledger does not have: {entry.name}.")
    stored = {c["name"]: c for c in inspect(conn).get_columns(entry.name)}
    unknown = [spec.name for spec in entry.columns if spec.name not in stored]
    if unknown:
        raise ArchiveDamaged(
            f"The archive's table {entry.name} has columns its schema revision does not: "
            f"{', '.join(unknown)}."
        )
    required = {name for name, c in stored.items() if not c["nullable"]}
    target = table(
        entry.name, *(column(spec.name, BIND_TYPES[spec.kind]) for spec in entry.columns)
    )
    return target, required


def _load_table(
    conn: Connection, reader: ArchiveReader, entry: TableEntry, progress: Progress
) -> None:
    target, required = _target(conn, entry)
    if entry.name in FILLED_BY_MIGRATIONS:
        conn.execute(TABLE_NAMED[entry.name].delete())
    blobs = [i for i, spec in enumerate(entry.columns) if spec.kind == "blob"]
    unknowable = [
        i
        for i, spec in enumerate(entry.columns)
        if spec.name in entry.withheld and spec.name in required
    ]
    store = _copy if conn.dialect.name == "postgresql" else _insert
    done = 0
    try:
        for batch in _batches(reader, entry, blobs):
            for values in batch:
                for index in unknowable:
                    values[index] = values[index] or secrets.token_hex(32)
            store(conn, entry, target, batch)
            done += len(batch)
            progress(entry.name, done, entry.rows)
    except (IntegrityError, DataError, psycopg.IntegrityError, psycopg.DataError) as exc:
        # A key twice, a row whose parent is missing, a value too long for its column.
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise ArchiveDamaged(
            f"The archive's rows of table {entry.name} do not fit: {reason}"
        ) from None
    progress(entry.name, done, entry.rows)


def _insert(conn: Connection, entry: TableEntry, target: TableClause, batch: Rows) -> None:
    names = [spec.name for spec in entry.columns]
    conn.execute(insert(target), [dict(zip(names, values, strict=True)) for values in batch])


def _copy(conn: Connection, entry: TableEntry, _target: TableClause, batch: Rows) -> None:
    """PostgreSQL: the batch through COPY, several times faster than inserting row by row.

    The column names are the archive's, each already found in the table (``_target``).
    """
    documents = [i for i, spec in enumerate(entry.columns) if spec.kind == "json"]
    columns = ", ".join(f'"{spec.name}"' for spec in entry.columns)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f'COPY "{entry.name}" ({columns}) FROM STDIN') as copy:
        for values in batch:
            for index in documents:
                if values[index] is not None:
                    values[index] = Jsonb(values[index], dumps=dump_json)
            copy.write_row(values)


def _batches(reader: ArchiveReader, entry: TableEntry, blobs: list[int]) -> Iterator[Rows]:
    """The table's rows in batches, binary contents fetched, never too many bytes at once."""
    batch: Rows = []
    size = 0
    for values in reader.rows(entry):
        row = list(values)
        for index in blobs:
            if row[index] is not None:
                row[index] = reader.blob(row[index])
                size += len(row[index])
        batch.append(row)
        if len(batch) >= BATCH or size >= BATCH_BLOB_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _advance_sequences(conn: Connection) -> None:
    """PostgreSQL: every key sequence past the restored rows, so new rows get new keys."""
    present = set(inspect(conn).get_table_names())
    for stored in TABLES:
        key = stored.c.get("id")
        if stored.name not in present or key is None or key.autoincrement is not True:
            continue
        sequence = conn.execute(
            select(func.pg_get_serial_sequence(f'"{stored.name}"', "id"))
        ).scalar()
        if sequence is not None:
            _set_past(conn, sequence, key)
    _set_past(conn, audit_event_seq.name, audit_event.c.seq)


def _set_past(conn: Connection, sequence: str, column: Any) -> None:
    """The sequence's next value: one past the largest in ``column``."""
    after = select(func.coalesce(func.max(column), 0) + 1).scalar_subquery()
    conn.execute(select(func.setval(sequence, after, False)))
