"""A stored record as readers see it: the view the API and UI read, and the outbox payload.

Every writer (create, update, a workflow step) returns this view and emits
this payload, so they are defined once, below all of them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from labledger.db.tables import record
from labledger.errors import NotFound

#: A record's view, in order: each name and the column it is read from.
_VIEW_COLUMNS = {
    "id": "id",
    "type": "type_key",
    "type_version": "type_version",
    "number": "number",
    "title": "title",
    "state": "state",
    "version": "version",
    "data": "data",
    "created_at": "created_at",
    "created_by": "created_by",
    "updated_at": "updated_at",
    "updated_by": "updated_by",
}
#: What a record event tells subscribers, from the record's view.
_PAYLOAD = ("id", "number", "state", "version", "data")


def record_view(row: Any) -> dict[str, Any]:
    """A record as the API and the UI read it."""
    return {name: row[column] for name, column in _VIEW_COLUMNS.items()}


def row_of_view(view: dict[str, Any]) -> dict[str, Any]:
    """The stored row a view was read from (``record_view`` the other way round)."""
    return {column: view[name] for name, column in _VIEW_COLUMNS.items()}


def outbox_payload(view: dict[str, Any]) -> dict[str, Any]:
    """What a record event tells subscribers about the record."""
    return {name: view[name] for name in _PAYLOAD}


def load_row(conn: Connection, type_key: str, record_id: int) -> dict[str, Any]:
    """The stored row of record ``record_id`` of ``type_key``; NotFound if there is none."""
    row = (
        conn.execute(select(record).where(record.c.id == record_id, record.c.type_key == type_key))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"There is no {type_key} record {record_id}.")
    return dict(row)
