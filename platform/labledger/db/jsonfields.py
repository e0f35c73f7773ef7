"""SQL expressions over record data fields, identical for queries and indexes.

An expression index is only used when the query contains the very same
expression, so filters, sorting, unique and filter indexes and reporting views
all build their SQL here. Keys are validated identifiers (``^[a-z][a-z0-9_]*$``)
and are written into the SQL literally, never as bound parameters: a
parameter inside an indexed expression would stop the database from matching
the index.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, literal_column
from sqlalchemy.sql.elements import ColumnClause

#: How a field's value compares in SQL: the metadata says which kind each field
#: kind's values are (``metadata.fieldtypes``), this module writes the SQL for it.
TEXT, NUMBER, BOOLEAN, JSON = "text", "number", "boolean", "json"

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


#: The message for text holding a NUL character (see ``nul_paths``).
NUL_MESSAGE = "must not contain the NUL character (\\u0000)"


def nul_paths(value: Any, path: str = "") -> list[str]:
    """JSON paths of the strings in ``value`` that hold a NUL character.

    PostgreSQL stores no NUL in text or JSONB, so such input must be refused
    as invalid before it reaches the database, on both databases alike.
    """
    if isinstance(value, str):
        return [path] if "\x00" in value else []
    if isinstance(value, dict):
        found = [path or "(document)"] if any("\x00" in str(key) for key in value) else []
        for key, item in value.items():
            found += nul_paths(item, f"{path}.{key}" if path else str(key))
        return found
    if isinstance(value, list | tuple):
        return [
            found
            for index, item in enumerate(value)
            for found in nul_paths(item, f"{path}[{index}]")
        ]
    return []


def safe_identifier(name: str) -> str:
    """Refuse anything that is not a plain lower-case identifier."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a safe identifier: {name!r}")
    return name


def field_sql(dialect: str, key: str, kind: str, table: str = "record") -> str:
    """The SQL text of the comparable value of field ``key`` in ``table.data``.

    ``table=""`` gives the unqualified form used inside ``CREATE INDEX``.
    """
    key = safe_identifier(key)
    data = f"{table}.data" if table else "data"
    if dialect == "postgresql":
        if kind == JSON:
            return f"({data} -> '{key}')"
        if kind == NUMBER:
            return f"(({data} ->> '{key}')::numeric)"
        if kind == BOOLEAN:
            return f"(({data} ->> '{key}')::boolean)"
        return f"({data} ->> '{key}')"
    return f"json_extract({data}, '$.{key}')"


def field_column(dialect: str, key: str, kind: str) -> ColumnElement[object]:
    return literal_column(field_sql(dialect, key, kind))


def type_key_literal(type_key: str) -> ColumnClause[object]:
    """The type key as a SQL literal, so partial indexes on it can be matched."""
    return literal_column(f"'{safe_identifier(type_key)}'")
