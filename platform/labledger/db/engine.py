"""Engine set-up and the two kinds of transaction the services use.

SQLite is configured for a multi-process server: WAL so readers never block
the writer, a busy timeout instead of instant "database is locked" errors, and
write transactions that start with ``BEGIN IMMEDIATE`` so two writers queue
up front instead of deadlocking when both try to upgrade a read lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from labledger.db.txcache import install_transaction_cache

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # Take transaction control away from the sqlite3 module so that the
        # "begin" hook below decides how each transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get("write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use psycopg 3 for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def build_engine(url: str, **engine_options: object) -> Engine:
    """Create the engine for ``url`` with the per-database settings applied."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, **engine_options)
        _configure_sqlite(engine)
    else:
        options: dict[str, object] = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 10}
        options.update(engine_options)
        engine = create_engine(url, **options)
    install_transaction_cache(engine)
    return engine


@dataclass
class Database:
    """The engine plus the transaction helpers every service uses."""

    engine: Engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: everything inside commits together or not at all."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent snapshot on both databases)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str, **engine_options: object) -> Database:
    return Database(build_engine(url, **engine_options))
