"""Finding records of a type by the start of their number or title, as a person types.

A reference box (in a form or a grid) asks after every few keystrokes, so
the answer must not grow with the table. The list's text search looks for
the text anywhere in a number or title, which reads every record of the
type; this reads an index range instead (``ix_record_number_prefix`` and
``ix_record_title_prefix``, migration 0009) and stops after ``limit``
matches, whatever the number of records. Titles are built from a type's
fields (``{identifier} {name}``), so what people call a record (``PH-01``)
starts its title. Case does not matter.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select

from labledger.db.jsonfields import type_key_literal
from labledger.db.tables import record
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
    conn: Connection, model: TypeModel, column: str, prefix: str, limit: int
) -> list[Any]:
    """Records of ``model`` whose ``column`` starts with ``prefix``, in its order."""
    lowered = _lowered(conn, column)
    return list(
        conn.execute(
            select(record)
            .where(
                record.c.type_key == type_key_literal(model.key),
                lowered >= prefix,
                lowered < prefix + _LAST,
            )
            .order_by(lowered, record.c.id)
            .limit(limit)
        ).mappings()
    )


def records_starting_with(
    conn: Connection, model: TypeModel, text: str, *, limit: int = MAX_MATCHES
) -> list[dict[str, Any]]:
    """Up to ``limit`` records of ``model`` whose number or title starts with ``text``:
    numbers first (an exact number leads), then titles; each record once."""
    prefix = text.strip().lower()
    if not prefix:
        return []
    rows = _starting_with(conn, model, "number", prefix, limit)
    rows += _starting_with(conn, model, "title", prefix, limit)
    found = {row["id"]: row for row in rows}
    return [record_view(row) for row in list(found.values())[:limit]]
