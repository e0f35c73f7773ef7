"""Engine set-up and the two kinds of transaction the services use.

SQLite is configured for a multi-process server: WAL so readers never block
the writer, a busy timeout instead of instant "database is locked" errors, and
write transactions that start with ``BEGIN IMMEDIATE`` so two writers queue
up front instead of deadlocking when both try to upgrade a read lock.

PostgreSQL runs writers side by side and may abort one of them to resolve a
deadlock or a serialisation failure. ``Database.write_retrying`` runs a unit
of work again, in a fresh transaction, when that happens, so a person's
request sees the outcome of their change rather than the database's choice of
victim.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from labledger.db.txcache import install_transaction_cache
from labledger.db.types import load_json
from labledger.errors import Conflict

T = TypeVar("T")

_log = logging.getLogger(__name__)

#: PostgreSQL's SQLSTATEs for a transaction aborted only because of concurrent
#: ones: deadlock_detected and serialization_failure. Running it again is safe.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
#: How often one unit of work runs at most: the first try and three retries.
WRITE_ATTEMPTS = 4
#: Upper bound, in seconds, of the random pause before the first retry (doubles
#: with each retry), so that transactions that collided do not collide again.
RETRY_PAUSE = 0.02

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


def aborted_by_concurrency(exc: DBAPIError) -> bool:
    """True when the database aborted the transaction for a deadlock or serialisation failure."""
    return getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use psycopg 3 for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def build_engine(url: str, **engine_options: object) -> Engine:
    """Create the engine for ``url`` with the per-database settings applied."""
    url = normalise_url(url)
    engine_options = {"json_deserializer": load_json, **engine_options}
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

    def write_retrying(
        self, work: Callable[[Connection], T], *, attempts: int = WRITE_ATTEMPTS
    ) -> T:
        """Run ``work`` in one write transaction, again if concurrency aborted it.

        A transaction the database aborts for a deadlock or a serialisation
        failure is rolled back whole and ``work`` runs again in a fresh one, at
        most ``attempts`` times in all; any other error propagates at once.
        ``work`` may therefore run more than once: it must change nothing
        outside its transaction (a password check that must stay recorded runs
        before, in a transaction of its own). When every attempt was aborted
        the caller gets a Conflict asking to try again, never a database error.
        """
        attempt = 1
        while True:
            try:
                with self.write() as conn:
                    return work(conn)
            except DBAPIError as exc:
                if not aborted_by_concurrency(exc):
                    raise
                _log.info(
                    "write aborted by concurrency (try %d of %d): %s", attempt, attempts, exc.orig
                )
                if attempt >= attempts:
                    raise Conflict(
                        "Other changes made at the same moment kept interfering with this one, "
                        "so nothing was saved. Try again."
                    ) from exc
                time.sleep(random.uniform(0, RETRY_PAUSE * 2 ** (attempt - 1)))
                attempt += 1

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction. On PostgreSQL each statement sees the data committed when
        it starts; a reader comparing several tables uses ``snapshot``."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read-only transaction whose statements all see one moment.

        ``audit verify`` walks the chain and then the records, signatures and
        definitions it vouches for; a change committed in between would look
        like tampering. PostgreSQL needs REPEATABLE READ for that; SQLite's read
        transaction keeps one snapshot from its first read.
        """
        with self.engine.connect() as conn:
            if self.dialect == "postgresql":
                conn = conn.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str, **engine_options: object) -> Database:
    return Database(build_engine(url, **engine_options))
