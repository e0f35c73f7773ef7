"""Engine set-up and the two kinds of transaction the services use.

SQLite is configured for a multi-process server: WAL so readers never block
the writer, a busy timeout instead of instant "database is locked" errors, and
write transactions that start with ``BEGIN IMMEDIATE`` so two writers queue
up front instead of deadlocking when both try to upgrade a read lock. Within
one process, writers take turns in a queue of their own (``WriterQueue``)
before they begin: SQLite's busy handler makes a waiting writer sleep and
retry with growing pauses, so writers colliding there wait far longer than
the write they wait for (a p95 many times the p50); the queue hands the
turn over the moment the writer before commits.

Reads never join that queue. ``Database.read`` opens a plain deferred
transaction on SQLite (with ``query_only`` on, so a read that tried to write
would fail instead of quietly taking the write lock) and a ``READ ONLY``
transaction on PostgreSQL. Bookkeeping that may be skipped, such as a
session's last-seen time, uses ``Database.write_unless_busy``, which gives up
at once rather than wait for a lock.

PostgreSQL runs writers side by side and may abort one of them to resolve a
deadlock or a serialisation failure. ``Database.write_retrying`` runs a unit
of work again, in a fresh transaction, when that happens, so a person's
request sees the outcome of their change rather than the database's choice of
victim.

Every connection a ``Database`` opens carries its ``Settings`` as an execution
option, so code deep in the write path (a record's attachment check) reads
them with ``settings_of(conn)`` instead of every caller passing them down.

On PostgreSQL a ``Database`` also keeps a small second pool of autocommit
connections for writes that must not wait for the caller's transaction to
end: a record number is reserved there (``records.numbering``), so the
counter row is locked for one statement rather than until the create
commits. It is a pool of its own so that requests holding a connection of
the main pool can never exhaust it waiting for a second one.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError

from labledger.db.txcache import install_transaction_cache
from labledger.db.types import dump_json, load_json
from labledger.errors import Conflict
from labledger.settings import Settings

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

#: How long, in milliseconds, an SQLite transaction waits for the write lock.
SQLITE_BUSY_TIMEOUT = 30000
_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
)
#: The per-transaction SQLite settings and their values outside ``read`` and
#: ``write_unless_busy`` (the connection's state is remembered in its ``info``).
_SQLITE_DEFAULTS = {"busy_timeout": SQLITE_BUSY_TIMEOUT, "query_only": 0}
_PRAGMA_STATE = "labledger.sqlite_pragmas"
#: SQLite's primary result codes for "another connection holds the lock".
_SQLITE_BUSY_CODES = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED
#: PostgreSQL's SQLSTATE lock_not_available: ``lock_timeout`` ran out.
_LOCK_NOT_AVAILABLE = "55P03"
#: On PostgreSQL ``write_unless_busy`` waits at most this long for a lock.
_PG_NO_WAIT = "SET LOCAL lock_timeout = '1ms'"
#: A pooled PostgreSQL connection idle this many seconds is checked before use.
PING_AFTER_IDLE = 5.0
#: Where a pooled connection remembers when it was last returned.
_IDLE_SINCE = "labledger.idle_since"
#: The execution option that carries a connection's ``Settings``.
_SETTINGS_OPTION = "labledger_settings"
#: Where a connection counts the ``numbers_kept_inside`` blocks it is inside.
_NUMBERS_INSIDE = "labledger.numbers_in_transaction"
#: The execution option that carries the autocommit engine (``autonomous_engine``).
_AUTONOMOUS_OPTION = "labledger_autonomous"
#: Connections of the autocommit pool: each is held for one short statement.
_AUTONOMOUS_POOL = {"isolation_level": "AUTOCOMMIT"}


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # Take transaction control away from the sqlite3 module so that the
        # "begin" hook below decides how each transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
        for name, value in _SQLITE_DEFAULTS.items():
            cursor.execute(f"PRAGMA {name}={value}")
        cursor.close()
        _record.info[_PRAGMA_STATE] = dict(_SQLITE_DEFAULTS)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        _set_pragmas(
            conn,
            busy_timeout=0 if options.get("unless_busy") else SQLITE_BUSY_TIMEOUT,
            query_only=1 if options.get("read_only") else 0,
        )
        mode = "IMMEDIATE" if options.get("write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


def _set_pragmas(conn: Connection, **wanted: int) -> None:
    """Bring the connection's SQLite settings to ``wanted``, running only the PRAGMAs that
    change something (most transactions need none). They run on the driver's connection,
    out of sight of statement events, so a page's statement count does not depend on
    what the pooled connection did before."""
    state: dict[str, int] = conn.info[_PRAGMA_STATE]
    for name, value in wanted.items():
        if state[name] != value:
            conn.connection.driver_connection.execute(f"PRAGMA {name}={value}")  # type: ignore[union-attr]
            state[name] = value


def _ping_when_idle(engine: Engine) -> None:
    """Check that a pooled PostgreSQL connection still works before it is handed out,
    if it has been idle for ``PING_AFTER_IDLE`` seconds or more.

    A connection the server dropped (a restart, an idle timeout) is then
    replaced instead of failing the request that draws it. SQLAlchemy's
    ``pool_pre_ping`` does the same for every checkout, which costs a round
    trip per transaction: under load, when connections are never idle for
    long, that was a sixth of a create's time.
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection, record):  # type: ignore[no-untyped-def]
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection, record, _proxy):  # type: ignore[no-untyped-def]
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(str(exc)) from exc  # the pool replaces the connection


def _read_only(conn: Connection) -> Connection:
    """``conn`` with its transactions read-only: ``query_only`` on SQLite (see
    ``_on_begin``), ``BEGIN READ ONLY`` on PostgreSQL."""
    return conn.execution_options(read_only=True, postgresql_readonly=True)


def settings_of(conn: Connection) -> Settings:
    """The settings of the ``Database`` that opened ``conn`` (the defaults for a bare one)."""
    settings = conn.get_execution_options().get(_SETTINGS_OPTION)
    return settings if isinstance(settings, Settings) else Settings()


def autonomous_engine(conn: Connection) -> Engine | None:
    """The autocommit engine for writes that commit on their own at once, or None:
    on SQLite, whose single writer gains nothing from it, and inside
    ``numbers_kept_inside``."""
    if conn.info.get(_NUMBERS_INSIDE):
        return None
    engine = conn.get_execution_options().get(_AUTONOMOUS_OPTION)
    return engine if isinstance(engine, Engine) else None


@contextmanager
def numbers_kept_inside(conn: Connection) -> Iterator[None]:
    """Inside the block, record numbers are reserved in ``conn``'s transaction rather
    than on their own (see ``records.numbering``), so that rolling it back gives
    them back: for work that is all or nothing or always rolled back (an import, a
    dry run, a rehearsal in a savepoint), where a failure must leave no gaps."""
    depth = conn.info.get(_NUMBERS_INSIDE, 0)
    conn.info[_NUMBERS_INSIDE] = depth + 1
    try:
        yield
    finally:
        conn.info[_NUMBERS_INSIDE] = depth


def aborted_by_concurrency(exc: DBAPIError) -> bool:
    """True when the database aborted the transaction for a deadlock or serialisation failure."""
    return getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def lock_was_busy(exc: DBAPIError) -> bool:
    """True when a statement gave up because another transaction held a lock it needed."""
    sqlite_code = getattr(exc.orig, "sqlite_errorcode", None)
    if sqlite_code is not None:
        return sqlite_code & 0xFF in _SQLITE_BUSY_CODES
    return getattr(exc.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use psycopg 3 for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def build_engine(url: str, **engine_options: object) -> Engine:
    """Create the engine for ``url`` with the per-database settings applied."""
    url = normalise_url(url)
    engine_options = {
        "json_deserializer": load_json,
        "json_serializer": dump_json,
        **engine_options,
    }
    if url.startswith("sqlite"):
        engine = create_engine(url, **engine_options)
        _configure_sqlite(engine)
    else:
        size = Settings.db_pool_size
        options: dict[str, object] = {"pool_size": size, "max_overflow": size}
        options.update(engine_options)
        engine = create_engine(url, **options)
        _ping_when_idle(engine)
    install_transaction_cache(engine)
    return engine


class WriterQueue:
    """SQLite: the turns of this process's writers, taken before ``BEGIN IMMEDIATE``.

    Writers of other processes still meet in SQLite's busy handler; those of
    one process never do. A writer that waits longer than the busy timeout
    goes on to the busy handler, which then gives the answer it always gave.
    Re-entrant, so a thread's nested write fails as it would without the queue.
    """

    def __init__(self) -> None:
        self._turn = threading.RLock()
        self._counting = threading.Lock()
        #: Writers waiting for their turn now (for tests and diagnostics).
        self.waiting = 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._counting:
            self.waiting += 1
        try:
            acquired = self._turn.acquire(timeout=SQLITE_BUSY_TIMEOUT / 1000)
        finally:
            with self._counting:
                self.waiting -= 1
        try:
            yield
        finally:
            if acquired:
                self._turn.release()

    def try_turn(self) -> bool:
        """Take the turn only if it is free now; ``release`` it after."""
        return self._turn.acquire(blocking=False)

    def release(self) -> None:
        self._turn.release()


@dataclass
class Database:
    """The engine, the installation's settings, and the transaction helpers every service uses."""

    engine: Engine
    #: What every connection opened here carries (``settings_of``).
    settings: Settings = field(default_factory=Settings)
    #: PostgreSQL: the autocommit pool (``autonomous_engine``); None on SQLite.
    autonomous: Engine | None = None
    #: SQLite: the turns of this process's writers (see ``WriterQueue``).
    writers: WriterQueue = field(default_factory=WriterQueue, repr=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def connect(self) -> Connection:
        """A connection carrying this database's settings; every transaction starts here."""
        return self.engine.connect().execution_options(
            **{_SETTINGS_OPTION: self.settings, _AUTONOMOUS_OPTION: self.autonomous}
        )

    @property
    def engines(self) -> list[Engine]:
        """Every engine this database sends statements through."""
        return [self.engine] + ([self.autonomous] if self.autonomous is not None else [])

    @contextmanager
    def write(self, *, numbers_in_transaction: bool = False) -> Iterator[Connection]:
        """One write transaction: everything inside commits together or not at all.

        ``numbers_in_transaction``: record numbers are reserved inside it (see
        ``numbers_kept_inside``), so that if it fails they are given back.
        For all-or-nothing work that may fail after creating many records (an
        import); a person's create is better served by not holding the counter.
        """
        queued = self.writers.turn() if self.dialect == "sqlite" else nullcontext()
        with queued, self.connect() as conn:
            conn = conn.execution_options(write=True)
            kept = numbers_kept_inside(conn) if numbers_in_transaction else nullcontext()
            with conn.begin(), kept:
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

    def write_unless_busy(self, work: Callable[[Connection], T]) -> T | None:
        """Run ``work`` in a write transaction, or not at all if that means waiting for a lock.

        For bookkeeping a request may skip and a later one will do (a
        session's last-seen time), so that it never queues a page behind a
        long write. On SQLite the transaction gives up when another writer of
        this process has its turn or another connection holds the write lock;
        on PostgreSQL a statement gives up when a row or table it needs is
        locked. Either way nothing is written and the result is None.
        """
        sqlite = self.dialect == "sqlite"
        if sqlite and not self.writers.try_turn():
            return None
        try:
            with self.connect() as conn:
                conn = conn.execution_options(write=True, unless_busy=True)
                with conn.begin():
                    if not sqlite:
                        conn.exec_driver_sql(_PG_NO_WAIT)
                    return work(conn)
        except DBAPIError as exc:
            if not lock_was_busy(exc):
                raise
            _log.debug("skipped a write that would have waited for a lock: %s", exc.orig)
            return None
        finally:
            if sqlite:
                self.writers.release()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction that takes no write lock, so it never waits for a writer.

        On PostgreSQL each statement sees the data committed when it starts; a
        reader comparing several tables uses ``snapshot``. A statement that
        writes fails on both databases.
        """
        with self.connect() as conn:
            conn = _read_only(conn)
            with conn.begin():
                yield conn

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read-only transaction whose statements all see one moment.

        ``audit verify`` walks the chain and then the records, signatures and
        definitions it vouches for; a change committed in between would look
        like tampering. PostgreSQL needs REPEATABLE READ for that; SQLite's read
        transaction keeps one snapshot from its first read.
        """
        with self.connect() as conn:
            conn = _read_only(conn)
            if self.dialect == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        for engine in self.engines:
            engine.dispose()


def open_database(
    url: str, *, settings: Settings | None = None, **engine_options: object
) -> Database:
    """The database at ``url``, its connections carrying ``settings`` (default: the defaults).

    On PostgreSQL each of its two pools keeps ``settings.db_pool_size`` connections
    and opens as many again under load.
    """
    settings = settings or Settings()
    if not normalise_url(url).startswith("sqlite"):
        pool = {"pool_size": settings.db_pool_size, "max_overflow": settings.db_pool_size}
        engine_options = {**pool, **engine_options}
    engine = build_engine(url, **engine_options)
    autonomous = None
    if engine.dialect.name == "postgresql":
        autonomous = build_engine(url, **{**engine_options, **_AUTONOMOUS_POOL})
        event.listen(autonomous, "connect", _commit_without_waiting_for_disk)
    return Database(engine, settings, autonomous)


def _commit_without_waiting_for_disk(dbapi_connection: Any, _record: Any) -> None:
    """An autonomous write commits without waiting for its WAL to reach the disk.

    Such a write only ever serves a transaction that follows it (a reserved
    number is stored by the create that reserved it), and the log is flushed
    in order: once that transaction's commit is on disk, so is the write.
    A crash can lose only a write that nothing durable uses yet. Not waiting
    for the flush is what keeps the counter row's lock as short as the
    statement itself.
    """
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    dbapi_connection.commit()


def database_named_by(settings: Settings) -> Database:
    """The database ``settings.database_url`` names, its connections carrying ``settings``:
    what the server and every command run on."""
    return open_database(settings.database_url, settings=settings)
