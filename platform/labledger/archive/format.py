"""What an archive holds and how its rows are written: the one description both ends share.

Rows are JSON arrays, one per line, in the order of their table's columns as
the manifest lists them; timestamps are RFC 3339 in UTC, JSON documents are
embedded as they are, and a binary column holds the SHA-256 of its content,
which is a member of its own (``blobs/<sha256>``) written once however many
rows share it. The manifest is written last, when every count and hash is
known, and its own SHA-256 is what the source installation's audit trail
records, so an archive can be proved to be the one that was made.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
from sqlalchemy import JSON, BigInteger, Boolean, Column, Integer, LargeBinary, String, Text
from sqlalchemy.types import TypeEngine

from labledger.db import integration_tables
from labledger.db.tables import metadata
from labledger.db.types import JsonDocument, UtcDateTime

#: Every table of the platform, parents before children; the integration layer's
#: are among them once its module is imported (it adds them to the one ``metadata``).
assert integration_tables.import_run.metadata is metadata
TABLES = metadata.sorted_tables
TABLE_NAMED = {str(table.name): table for table in TABLES}

#: What the manifest's ``format`` says; a reader refuses anything else.
FORMAT = "labledger-archive"
#: The layout of this module's archives; a reader refuses a newer one it cannot know.
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: The member holding ``[record id, content hash]`` of every record, by id.
RECORD_HASHES = "hashes/record.jsonl"

#: Tables of a running installation's moment, not of its records: browser sessions,
#: sign-in throttles and Alembic's own bookkeeping (the manifest names the revision).
TRANSIENT_TABLES = frozenset({"web_session", "rate_limit", "alembic_version", "instance_setting"})
#: Columns holding credentials, archived only when asked: someone holding the archive
#: could otherwise try passwords offline, use a token, or forge webhook deliveries.
CREDENTIAL_COLUMNS = frozenset(
    {("app_user", "password_hash"), ("api_token", "token_hash"), ("webhook_subscription", "secret")}
)

Kind = Literal["int", "str", "bool", "datetime", "json", "blob"]


class ColumnSpec(msgspec.Struct, frozen=True):
    name: str
    kind: Kind
    nullable: bool


class TableEntry(msgspec.Struct, frozen=True):
    """One table's member: its columns in row order, its rows and the member's hash."""

    name: str
    member: str
    columns: list[ColumnSpec]
    rows: int
    sha256: str
    #: Credential columns written as null (``CREDENTIAL_COLUMNS``, archive made without them).
    withheld: list[str] = []


class MemberEntry(msgspec.Struct, frozen=True):
    member: str
    rows: int
    sha256: str


class BlobSummary(msgspec.Struct, frozen=True):
    """The binary contents: each a member named by its SHA-256, so each proves itself."""

    count: int
    bytes: int


class LaneTip(msgspec.Struct, frozen=True, array_like=True):
    lane: int
    position: int
    hash: str


class ChainSummary(msgspec.Struct, frozen=True):
    events: int
    #: Every lane's tip when the archive was made: a restored chain must end there.
    tips: list[LaneTip]


class Manifest(msgspec.Struct, frozen=True):
    format: str
    format_version: int
    platform_version: str
    #: The Alembic revision of the source's schema: a restore builds exactly this
    #: schema, loads the rows, then runs the migrations of its own, newer one.
    schema_revision: str
    source_database: str
    #: When the snapshot was taken: the archive holds what was committed by then.
    created_at: datetime
    credentials: bool
    tables: list[TableEntry]
    record_hashes: MemberEntry
    blobs: BlobSummary
    chain: ChainSummary

    def table(self, name: str) -> TableEntry | None:
        return next((entry for entry in self.tables if entry.name == name), None)


def table_member(name: str) -> str:
    return f"tables/{name}.jsonl"


def blob_member(sha256: str) -> str:
    return f"blobs/{sha256}"


def column_kind(column: Column[Any]) -> Kind:
    """How a column of the platform's tables is written in an archive."""
    kind = column.type
    if isinstance(kind, UtcDateTime):
        return "datetime"
    if isinstance(kind, LargeBinary):
        return "blob"
    if isinstance(kind, JSON):
        return "json"
    if isinstance(kind, Boolean):
        return "bool"
    if isinstance(kind, Integer):
        return "int"
    if isinstance(kind, String | Text):
        return "str"
    raise TypeError(f"column {column} has a type archives do not know: {kind!r}")


#: The column type a restore binds each kind with (the target may be either database).
BIND_TYPES: dict[Kind, TypeEngine[Any]] = {
    "int": BigInteger(),
    "str": Text(),
    "bool": Boolean(),
    "datetime": UtcDateTime(),
    "json": JsonDocument,
    "blob": LargeBinary(),
}
_PYTHON_TYPES: dict[Kind, Any] = {
    "int": int,
    "str": str,
    "bool": bool,
    "datetime": datetime,
    "json": Any,
    "blob": str,
}

_ENCODER = msgspec.json.Encoder()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    raise TypeError(f"cannot write {type(value).__name__} into an archive")


def encode_row(values: tuple[Any, ...] | list[Any]) -> bytes:
    """One row as a line of JSON (newline included)."""
    try:
        return _ENCODER.encode(values) + b"\n"
    except (UnicodeEncodeError, OverflowError):
        # A string holding a lone surrogate, or an integer past 64 bits inside a
        # JSON document: the standard library writes both as JSON can hold them.
        return json.dumps(list(values), default=_plain, ensure_ascii=True).encode() + b"\n"


class RowDecoder:
    """Reads one table's lines back into typed tuples, checking every value's kind."""

    def __init__(self, columns: list[ColumnSpec]) -> None:
        self._types = [
            _PYTHON_TYPES[spec.kind] | None if spec.nullable else _PYTHON_TYPES[spec.kind]
            for spec in columns
        ]
        self._decoder = msgspec.json.Decoder(tuple.__class_getitem__(tuple(self._types)))

    def decode(self, line: bytes) -> tuple[Any, ...]:
        """The row on ``line``; msgspec's DecodeError or ValidationError where it is not one."""
        try:
            return self._decoder.decode(line)  # type: ignore[no-any-return]
        except msgspec.ValidationError:
            # A number msgspec will not hold (hundreds of digits) inside a JSON
            # document: the standard library reads it, as ``db.types.load_json`` does,
            # and every other value is still checked against its column's kind.
            values = json.loads(line)
            if not isinstance(values, list) or len(values) != len(self._types):
                raise
            return tuple(
                msgspec.convert(value, kind, strict=False)
                for kind, value in zip(self._types, values, strict=True)
            )
