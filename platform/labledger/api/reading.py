"""The one way a JSON handler answers with a list: read it, then shape it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from labledger.api.schemas.base import Body, shaped
from labledger.db.engine import Database


def read_items(db: Database, kind: type[Body], read: Callable[[Connection], list[Any]]) -> Body:
    """``{"items": read(conn)}`` as the response struct ``kind``, read in one read-only
    transaction (so a list never waits for a writer)."""
    with db.read() as conn:
        return shaped({"items": read(conn)}, kind)
