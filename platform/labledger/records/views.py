"""A stored record as readers see it: the view the API and UI read, and the outbox payload.

Every writer (create, update, a workflow step) returns this view and emits
this payload, so they are defined once, below all of them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from labledger.db.tables import record
from labledger.errors import NotFound


def record_view(row: Any) -> dict[str, Any]:
    """A record as the API and the UI read it."""
    return {
        "id": row["id"],
        "type": row["type_key"],
        "type_version": row["type_version"],
        "number": row["number"],
        "title": row["title"],
        "state": row["state"],
        "version": row["version"],
        "data": row["data"],
        "created_at": row["created_at"],
        "created_by": row["created_by"],
        "updated_at": row["updated_at"],
        "updated_by": row["updated_by"],
    }


def outbox_payload(view: dict[str, Any]) -> dict[str, Any]:
    """What a record event tells subscribers about the record."""
    return {
        "id": view["id"],
        "number": view["number"],
        "state": view["state"],
        "version": view["version"],
        "data": view["data"],
    }


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
