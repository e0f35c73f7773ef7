"""``labledger archive create``: one installation into one file, from one snapshot.

Every table is read inside one snapshot (``Database.snapshot``: REPEATABLE
READ on PostgreSQL, one read transaction on SQLite), so people may go on
working while the archive is made and it still holds one moment: no record
without the events that wrote it, no event without its record. Rows are
streamed from the database into the ZIP member being compressed and binary
contents are fetched one at a time, so memory stays flat however large the
installation. The file is written under a temporary name and renamed when
complete: a run that fails leaves no archive that looks whole.

The source's audit trail records each archive by its manifest's hash
(``archive.created``), which is how a restore later proves which archive it
was made from.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgspec
from sqlalchemy import Column, Connection, Table, func, inspect, select, text

from labledger import __version__
from labledger.archive.format import (
    CREDENTIAL_COLUMNS,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    RECORD_HASHES,
    TABLES,
    TRANSIENT_TABLES,
    BlobSummary,
    ChainSummary,
    ColumnSpec,
    LaneTip,
    Manifest,
    MemberEntry,
    TableEntry,
    blob_member,
    column_kind,
    encode_row,
    table_member,
)
from labledger.archive.progress import Progress, no_progress
from labledger.audit.results import record_result
from labledger.audit.trail import AuditEntry, append
from labledger.db.engine import Database
from labledger.db.tables import audit_event, audit_head, record
from labledger.db.types import utc_now
from labledger.errors import ValidationFailed

#: Rows fetched from the database per round trip while streaming a table.
BATCH = 2000
#: Deflate's fastest level: JSON lines shrink about as well, several times sooner.
COMPRESS_LEVEL = 1
CREATE_ACTION = "archive.created"


@dataclass(frozen=True)
class _Source:
    """A table as the database holds it now: the columns it has, in the platform's order."""

    table: Table
    columns: list[Column[Any]]


def create_archive(
    db: Database,
    path: Path,
    *,
    actor: str,
    credentials: bool = False,
    progress: Progress = no_progress,
) -> tuple[Manifest, str]:
    """Write the archive of ``db`` to ``path``; return its manifest and the manifest's hash.

    ``credentials``: include password hashes, API token hashes and webhook
    secrets (``format.CREDENTIAL_COLUMNS``); without them restored people need
    new passwords and tokens. The hash is recorded in ``db``'s audit trail.
    """
    partial = path.with_name(f".{path.name}.partial")
    try:
        with (
            db.snapshot() as conn,
            zipfile.ZipFile(
                partial, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL
            ) as archive,
        ):
            manifest = _write(conn, archive, credentials, progress)
            body = msgspec.json.format(msgspec.json.encode(manifest))
            archive.writestr(MANIFEST, body)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    manifest_hash = hashlib.sha256(body).hexdigest()
    with db.write() as conn:
        append(conn, [_created_event(actor, manifest, manifest_hash)])
    return manifest, manifest_hash


def _created_event(actor: str, manifest: Manifest, manifest_hash: str) -> AuditEntry:
    rows = {entry.name: entry.rows for entry in manifest.tables}
    return AuditEntry(
        actor=actor,
        action=CREATE_ACTION,
        details={
            "manifest_sha256": manifest_hash,
            "schema_revision": manifest.schema_revision,
            "credentials": manifest.credentials,
            "records": rows.get(record.name, 0),
            "events": manifest.chain.events,
            "blobs": manifest.blobs.count,
        },
    )


def _write(
    conn: Connection, archive: zipfile.ZipFile, credentials: bool, progress: Progress
) -> Manifest:
    moment = utc_now()  # the snapshot's first statement follows: the moment it holds
    sources = _sources(conn)
    totals = {source.table.name: _count(conn, source.table) for source in sources}
    blobs = _Blobs(archive)
    entries = []
    for source in sources:
        name = source.table.name
        entries.append(
            _write_table(conn, archive, source, credentials, blobs, totals[name], progress)
        )
    hashes = _write_record_hashes(conn, archive, totals.get(record.name, 0), progress)
    tips = [LaneTip(row.id, row.seq, row.hash) for row in conn.execute(select(audit_head))]
    return Manifest(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        platform_version=__version__,
        schema_revision=_revision(conn),
        source_database=conn.dialect.name,
        created_at=moment,
        credentials=credentials,
        tables=entries,
        record_hashes=hashes,
        blobs=BlobSummary(count=len(blobs.written), bytes=blobs.size),
        chain=ChainSummary(
            events=totals.get(audit_event.name, 0), tips=sorted(tips, key=lambda tip: tip.lane)
        ),
    )


def _revision(conn: Connection) -> str:
    revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if revision is None:
        raise ValidationFailed("The database has no schema revision: it was never set up.")
    return str(revision)


def _sources(conn: Connection) -> list[_Source]:
    """The platform's tables present in the database, parents before children.

    A database at an older revision lacks the newer tables and columns; a
    column this platform does not know would be lost, so it stops the archive.
    """
    present = inspect(conn)
    names = set(present.get_table_names())
    sources = []
    for table in TABLES:
        if table.name in TRANSIENT_TABLES or table.name not in names:
            continue
        stored = [column["name"] for column in present.get_columns(table.name)]
        unknown = [name for name in stored if name not in table.c]
        if unknown:
            raise ValidationFailed(
                f"Table {table.name} has columns this version of labledger does not know "
                f"({', '.join(unknown)}): archive it with the version that wrote them."
            )
        sources.append(_Source(table, [column for column in table.c if column.name in stored]))
    return sources


def _count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


class _Blobs:
    """Binary contents written once each, under their SHA-256."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.written: set[str] = set()
        self.size = 0

    def put(self, content: bytes) -> str:
        digest = hashlib.sha256(content).hexdigest()
        if digest not in self.written:
            self.archive.writestr(blob_member(digest), content)
            self.written.add(digest)
            self.size += len(content)
        return digest


class _HashedMember:
    """A member being written, hashed as it goes."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()
        self.rows = 0

    def write(self, line: bytes) -> None:
        self.stream.write(line)
        self.digest.update(line)
        self.rows += 1


def _write_table(
    conn: Connection,
    archive: zipfile.ZipFile,
    source: _Source,
    credentials: bool,
    blobs: _Blobs,
    total: int,
    progress: Progress,
) -> TableEntry:
    table = source.table
    withheld = (
        []
        if credentials
        else [str(c.name) for c in source.columns if (table.name, c.name) in CREDENTIAL_COLUMNS]
    )
    blob_columns = [c for c in source.columns if column_kind(c) == "blob"]
    # Binary contents are fetched row by row below, never a batch of them at once.
    streamed = [c for c in source.columns if c.name not in withheld and c not in blob_columns]
    member = table_member(table.name)
    # ZIP writes one member at a time: a table with binary contents writes those as
    # members while its rows wait in a temporary file, copied in at the end.
    with (
        tempfile.TemporaryFile() if blob_columns else archive.open(member, "w", force_zip64=True)
    ) as stream:
        out = _HashedMember(stream)
        # Where each archived column comes from: its place in the row read, or None
        # (a withheld credential, or a binary content fetched on its own).
        places = [streamed.index(c) if c in streamed else None for c in source.columns]
        whole = places == list(range(len(source.columns)))
        for row in _stream(conn, select(*streamed).order_by(*table.primary_key.columns)):
            if whole:
                out.write(encode_row(tuple(row)))
            else:
                contents = {c: blobs.put(_blob(conn, table, c, row)) for c in blob_columns}
                out.write(
                    encode_row(
                        [
                            row[place] if place is not None else contents.get(column)
                            for column, place in zip(source.columns, places, strict=True)
                        ]
                    )
                )
            if out.rows % BATCH == 0:
                progress(table.name, out.rows, total)
        if blob_columns:
            stream.seek(0)
            with archive.open(member, "w", force_zip64=True) as copy:
                shutil.copyfileobj(stream, copy)
        progress(table.name, out.rows, total)
    return TableEntry(
        name=str(table.name),
        member=member,
        columns=[
            ColumnSpec(str(c.name), column_kind(c), bool(c.nullable) or c.name in withheld)
            for c in source.columns
        ],
        rows=out.rows,
        sha256=out.digest.hexdigest(),
        withheld=withheld,
    )


def _blob(conn: Connection, table: Table, column: Column[Any], row: Any) -> bytes:
    key = [pk == row._mapping[pk.name] for pk in table.primary_key.columns]
    return bytes(conn.execute(select(column).where(*key)).scalar_one())


def _write_record_hashes(
    conn: Connection, archive: zipfile.ZipFile, total: int, progress: Progress
) -> MemberEntry:
    """Every record's content hash (``audit.results.record_result``), by id."""
    with archive.open(RECORD_HASHES, "w", force_zip64=True) as stream:
        out = _HashedMember(stream)
        for row in _stream(conn, select(record).order_by(record.c.id)):
            out.write(encode_row([row.id, record_result(row._mapping)]))
            if out.rows % BATCH == 0:
                progress("record hashes", out.rows, total)
        progress("record hashes", out.rows, total)
    return MemberEntry(member=RECORD_HASHES, rows=out.rows, sha256=out.digest.hexdigest())


def _stream(conn: Connection, statement: Any) -> Iterator[Any]:
    yield from conn.execution_options(yield_per=BATCH).execute(statement)
