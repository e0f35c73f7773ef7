"""Pooled PostgreSQL connections the server dropped are replaced, not handed to a request.

Every checkout used to ask the server first (a round trip per transaction);
now only a connection idle for ``PING_AFTER_IDLE`` seconds is asked. A
connection the server ended (a restart, an idle timeout) has by then always
sat idle, so it is still caught.
"""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.exc import SQLAlchemyError

from labledger.db import engine as engine_module


def _backend_pid(db) -> int:
    with db.read() as conn:
        return conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


def _end_backend(db, pid: int) -> None:
    """End one server process from outside the pool, as a restart would."""
    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as outside:
        outside.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,))


def test_a_dropped_idle_connection_is_replaced_before_use(db, monkeypatch):
    if db.dialect != "postgresql":
        pytest.skip("SQLite has no server to drop a connection")
    # Without the check, the request that draws the dropped connection fails.
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE", float("inf"))
    _end_backend(db, _backend_pid(db))
    with pytest.raises(SQLAlchemyError):
        _backend_pid(db)
    # With it (the connection idle long enough), the pool opens a fresh one instead.
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE", 0.0)
    dropped = _backend_pid(db)
    _end_backend(db, dropped)
    assert _backend_pid(db) != dropped
