"""Editing stored rows the way an intruder with database access would.

The platform's own statements cannot change audit events or signatures (the
append-only triggers refuse them), but whoever owns the database can switch
the triggers off. Tests of detection do exactly that, so they prove what
``audit verify`` and signature checks catch when every database-level control
has been bypassed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, bindparam, text

from labledger.db.engine import Database


@contextmanager
def bypassing_triggers(db: Database, *tables: str) -> Iterator[Connection]:
    """A write transaction in which ``tables`` have no triggers (restored afterwards)."""
    with db.write() as conn:
        if conn.dialect.name == "postgresql":
            for table in tables:
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            yield conn
            for table in tables:
                conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
            return
        triggers = conn.execute(
            text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN :t"
            ).bindparams(bindparam("t", expanding=True)),
            {"t": list(tables)},
        ).all()
        for name, _ in triggers:
            conn.execute(text(f'DROP TRIGGER "{name}"'))
        yield conn
        for _, sql in triggers:
            conn.execute(text(sql))
