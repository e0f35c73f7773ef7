"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import JSON, BigInteger, DateTime, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator


def load_json(text: str | bytes) -> Any:
    """Read a stored JSON document; the engines of both databases use it.

    msgspec reads JSON several times faster than the standard library, which
    matters when ``audit verify`` reads a million events; the standard
    library takes over for the rare number msgspec will not hold (an integer
    of hundreds of digits that PostgreSQL's JSONB keeps exactly).
    """
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return json.loads(text)


_ENCODER = msgspec.json.Encoder()


def dump_json(value: Any) -> str:
    """Write a JSON document to store; the engines of both databases use it.

    msgspec writes JSON several times faster than the standard library, which
    matters when an import writes four documents per row (the record, the audit
    event's changes and details, the outbox payload). The standard library
    takes over for the rare string msgspec will not write (one holding a lone
    surrogate). NaN and infinities, which msgspec would write as ``null``, never
    reach here: the canonical form every stored document is hashed in refuses
    them before the write commits.
    """
    try:
        return _ENCODER.encode(value).decode()
    except UnicodeEncodeError:
        return json.dumps(value)


#: JSON documents: JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JsonDocument = JSON().with_variant(JSONB(), "postgresql")

#: 64-bit keys; on SQLite an INTEGER PRIMARY KEY is the rowid, which autoincrements.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    SQLite has no time zones, so values are stored there as naive UTC; on the
    way out both databases give an aware UTC datetime, which keeps audit hashes
    identical whichever database wrote them.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if getattr(dialect, "name", "") == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utc_now() -> datetime:
    """The server's clock in UTC: the only source of time for records and audit."""
    return datetime.now(UTC)
