"""Finding records of a type by the start of their number or title, as a person types.

A reference box (in a form or a grid) asks after every few keystrokes, so
the answer must not grow with the table. The list's text search looks for
the text anywhere in a number or title, which reads every record of the
type; this reads an index range instead (``ix_record_number_prefix`` and
``ix_record_title_prefix``, migration 0009) and stops after ``limit``
matches, whatever the number of records. Titles are built from a type's
fields (``{identifier} {name}``), so what people call a record (``PH-01``)
starts its title. Case does not matter.

A type's summary fields that are text and filterable (so indexed, per type,
by ``metadata.physical``) are searched the same way, as typed: on PostgreSQL
their index is in the database's collation, whose range for a prefix may hold
strings that do not start with it, so matches are checked once more here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from labledger.db.jsonfields import field_column, type_key_literal
from labledger.db.tables import record
from labledger.metadata.fieldtypes import sql_kind
from labledger.metadata.model import TypeModel
from labledger.records.views import record_view

#: Above every character: the end of the range of strings that start with a prefix.
_LAST = "\U0010ffff"
#: Most records one answer lists.
MAX_MATCHES = 20


def _lowered(conn: Connection, column: str) -> ColumnElement[str]:
    """``lower(column)`` as the prefix indexes hold it: in the "C" collation on PostgreSQL."""
    lowered = func.lower(record.c[column])
    return lowered.collate("C") if conn.dialect.name == "postgresql" else lowered


def _starting_with(
    conn: Connection, model: TypeModel, value: ColumnElement[Any], prefix: str, limit: int
) -> list[Any]:
    """Records of ``model`` whose ``value`` starts with ``prefix``, in its order."""
    return list(
        conn.execute(
            select(record)
            .where(
                record.c.type_key == type_key_literal(model.key),
                value >= prefix,
                value < prefix + _LAST,
            )
            .order_by(value, record.c.id)
            .limit(limit)
        ).mappings()
    )


def _summary_texts(model: TypeModel) -> list[str]:
    """The summary fields a prefix can be looked up in: text, filterable (indexed)."""
    return [
        key
        for key in model.summary_keys
        if model.field_specs[key].kind == "text" and model.field_specs[key].filterable
    ]


def records_starting_with(
    conn: Connection, model: TypeModel, text: str, *, limit: int = MAX_MATCHES
) -> list[dict[str, Any]]:
    """Up to ``limit`` records of ``model`` whose number or title starts with ``text`` in
    any case, or one of its text summary fields as typed: numbers first (an exact number
    leads), then titles, then summary fields; each record once."""
    typed = text.strip()
    prefix = typed.lower()
    if not prefix:
        return []
    rows = _starting_with(conn, model, _lowered(conn, "number"), prefix, limit)
    rows += _starting_with(conn, model, _lowered(conn, "title"), prefix, limit)
    for key in _summary_texts(model):
        value = field_column(conn.dialect.name, key, sql_kind(model.field_specs[key]))
        rows += [
            row
            for row in _starting_with(conn, model, value, typed, limit)
            if str(row["data"].get(key, "")).startswith(typed)
        ]
    found = {row["id"]: row for row in rows}
    return [record_view(row) for row in list(found.values())[:limit]]
