"""What the benchmarks share: a private database, the benchmark type, the raw-SQL floor, printing.

A benchmark never touches data it did not create: by default it works in a
new temporary SQLite file; given a PostgreSQL URL it creates its own schema
and drops it at the end; given an SQLite URL, the file must not exist yet.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from time import perf_counter
from typing import Any

from litestar.testing import TestClient
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from labledger.app import create_app
from labledger.audit.results import record_result
from labledger.audit.trail import AuditEntry, append, written_together
from labledger.bootstrap import initialise
from labledger.db.engine import Database, normalise_url, open_database
from labledger.identity.principal import SYSTEM, Principal
from labledger.identity.users import load_principal
from labledger.metadata.types import publish_type
from labledger.records.service import RecordBatch

#: First words of the statements that write (``WITH``: an insert with a CTE); a
#: query taking ids from a sequence counts as a write too.
WRITES = frozenset({"INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "WITH"})
TYPE_KEY = "bench_item"
STATUSES = ("received", "in_test", "passed", "failed", "archived")
TAGS = ("urgent", "repeat", "external", "stability")


def parse_args(description: str, default_n: int) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--database",
        help="database URL (default: a new temporary SQLite file); on PostgreSQL the "
        "benchmark works in a schema of its own and drops it at the end",
    )
    parser.add_argument("-n", type=int, default=default_n, help=f"records (default {default_n})")
    return parser


@contextmanager
def bench_database(url: str | None) -> Iterator[Database]:
    """A migrated database with the admin user, private to this run."""
    if url and make_url(normalise_url(url)).get_backend_name() == "postgresql":
        yield from _postgres(url)
    elif url:
        path = make_url(url).database
        if not path or Path(path).exists():
            raise SystemExit(f"give the path of a new SQLite file, not {url!r}")
        yield from _sqlite(url)
    else:
        folder = tempfile.mkdtemp(prefix="labledger-bench-")
        try:
            yield from _sqlite(f"sqlite:///{folder}/bench.db")
        finally:
            shutil.rmtree(folder)


def _prepare(db: Database) -> Database:
    """An empty installation whose benchmarks publish their own types: change control off."""
    initialise(db, with_seeds=False, change_control=False)
    return db


def _sqlite(url: str) -> Iterator[Database]:
    db = _prepare(open_database(url))
    try:
        yield db
    finally:
        db.dispose()


def _postgres(url: str) -> Iterator[Database]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = open_database(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield _prepare(db)
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


#: The columns of a record row as ``insert_records`` takes its values.
RECORD_COLUMNS = (
    "type_key, type_version, number, title, state, data, version, "
    "created_at, created_by, updated_at, updated_by"
)
#: Rows per transaction of ``insert_records``.
BULK_BATCH = 20000


def insert_records(db: Database, rows: Iterable[tuple[Any, ...]]) -> None:
    """Write record rows (values of ``RECORD_COLUMNS``) straight into ``record``,
    ``BULK_BATCH`` to a transaction: COPY on PostgreSQL, executemany on SQLite.

    This bypasses the platform (no checks, numbering, audit events): it is for
    loading a benchmark's fixture of a million records in seconds, never for
    what a benchmark measures.
    """
    rows = iter(rows)
    while batch := list(islice(rows, BULK_BATCH)):
        with db.write() as conn:
            if db.dialect == "postgresql":
                cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                with cursor.copy(f"COPY record ({RECORD_COLUMNS}) FROM STDIN") as copy:
                    for row in batch:
                        copy.write_row(row)
            else:
                insert = f"INSERT INTO record ({RECORD_COLUMNS}) VALUES ({', '.join('?' * 11)})"
                conn.exec_driver_sql(insert, batch)


def record_stamp(moment: datetime, postgres: bool) -> Any:
    """A creation or change time as ``insert_records`` writes it: SQLite keeps naive UTC
    text, as the platform's UtcDateTime column does."""
    return moment if postgres else moment.replace(tzinfo=None).isoformat(" ")


def analyse(db: Database, *tables: str, vacuum: bool = False) -> None:
    """Refresh PostgreSQL's planner statistics of ``tables`` (and with ``vacuum``, clean
    them up), as autovacuum does after a bulk load: the test clusters run without it."""
    if db.dialect != "postgresql":
        return
    command = "VACUUM ANALYZE" if vacuum else "ANALYZE"
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in tables:
            conn.exec_driver_sql(f"{command} {table}")


def describe(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=True)


def admin_principal(db: Database) -> Principal:
    with db.read() as conn:
        principal = load_principal(conn, 1)
    assert principal is not None
    return principal


def bench_type(key: str = TYPE_KEY) -> dict[str, Any]:
    """A 12-field type with mixed field types; three fields are filterable."""
    return {
        "key": key,
        "label": "Bench item",
        "plural": "Bench items",
        "numbering": "BEN-{YYYY}-{#######}",
        "title": "{number} {name}",
        "permissions": {"read": ["*"], "create": ["admin"], "edit": ["admin"]},
        "fields": [
            {"key": "name", "label": "Name", "type": "text", "required": True, "in_list": True},
            {
                "key": "lot",
                "label": "Lot",
                "type": "text",
                "max_length": 20,
                "pattern": "^[A-Z0-9-]+$",
                "filterable": True,
                "in_list": True,
            },
            {"key": "notes", "label": "Notes", "type": "long_text"},
            {"key": "quantity", "label": "Quantity", "type": "integer", "min": 0, "max": 100000},
            {
                "key": "concentration",
                "label": "Concentration",
                "type": "decimal",
                "precision": 3,
                "unit": "mg/L",
                "min": 0,
                "max": 1000,
            },
            {"key": "passed", "label": "Passed", "type": "boolean", "default": False},
            {"key": "received_on", "label": "Received on", "type": "date", "filterable": True},
            {"key": "measured_at", "label": "Measured at", "type": "datetime"},
            {
                "key": "status",
                "label": "Status",
                "type": "choice",
                "filterable": True,
                "options": [{"value": s, "label": s.replace("_", " ").title()} for s in STATUSES],
            },
            {
                "key": "tags",
                "label": "Tags",
                "type": "multi_choice",
                "options": [{"value": t, "label": t.title()} for t in TAGS],
            },
            {
                "key": "temperature",
                "label": "Temperature",
                "type": "decimal",
                "precision": 1,
                "unit": "°C",
                "min": -80,
                "max": 40,
            },
            {
                "key": "out_of_spec",
                "label": "Out of specification",
                "type": "computed",
                "result_type": "boolean",
                "expression": "concentration > 500",
            },
        ],
    }


def publish(db: Database, definition: dict[str, Any]) -> int:
    with db.write() as conn:
        return publish_type(conn, SYSTEM, definition).version


def lot_of(i: int, lots: int) -> str:
    return f"LOT-{i % lots:06d}"


def record_input(i: int, lots: int = 10000, moment: datetime | None = None) -> dict[str, Any]:
    """The data a client submits for record ``i`` (deterministic, varied, valid)."""
    rng = random.Random(i)
    moment = moment or datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i)
    data = {
        "name": f"Item {i} of lot {i % lots}",
        "lot": lot_of(i, lots),
        "quantity": rng.randint(0, 100000),
        "concentration": _decimal(rng.uniform(0, 999), 3),
        "passed": rng.random() < 0.8,
        "received_on": moment.date().isoformat(),
        "measured_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": STATUSES[rng.randrange(len(STATUSES))],
        "tags": sorted(rng.sample(TAGS, rng.randint(0, 2))),
        "temperature": _decimal(rng.uniform(-20, 30), 1),
    }
    if i % 3:
        data["notes"] = "Received in good condition; stored at 4 °C until testing."
    return data


def _decimal(value: float, places: int) -> float:
    """A value with a fractional part, as a measured decimal usually has.

    Whole-number floats would be stored as integers by PostgreSQL's JSONB and
    hashed as integers; avoiding them keeps the hand-written audit hashes of
    the raw-SQL floor identical to the platform's.
    """
    value = round(value, places)
    return round(value + 10**-places, places) if value.is_integer() else value


def stored_form(data: dict[str, Any]) -> dict[str, Any]:
    """What the platform stores for ``data``: the values plus the computed field."""
    return dict(sorted({**data, "out_of_spec": data["concentration"] > 500}.items()))


class StatementCounter:
    """Counts the SQL statements a database runs (its autocommit pool's too) and the
    time spent executing them."""

    def __init__(self, db: Database) -> None:
        self.engines = db.engines
        self.count = 0
        self.seconds = 0.0
        self.statements: list[tuple[str, Any]] = []
        self._started = 0.0

    def __enter__(self) -> StatementCounter:
        for engine in self.engines:
            event.listen(engine, "before_cursor_execute", self._before)
            event.listen(engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *_exc: object) -> None:
        for engine in self.engines:
            event.remove(engine, "before_cursor_execute", self._before)
            event.remove(engine, "after_cursor_execute", self._after)

    def _before(self, _conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        self.count += 1
        self.statements.append((statement, parameters))
        self._started = perf_counter()

    def _after(self, *_args: object) -> None:
        self.seconds += perf_counter() - self._started

    def reset(self) -> None:
        self.count, self.seconds, self.statements = 0, 0.0, []


def statements_of_one_request(
    db: Database,
    token: str,
    method: str,
    request: tuple[str, dict[str, Any]],
    warm_up: tuple[str, dict[str, Any]],
) -> tuple[int, int, list[str]]:
    """(statements, transactions, the statements' SQL) of one in-process API request
    (path, JSON body), authentication included. The ``warm_up`` request is sent
    first, so caches are filled as on a server that has been running."""
    with TestClient(create_app(db)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        client.request(method, warm_up[0], json=warm_up[1], headers=headers).raise_for_status()
        begins = [0]

        def began(_conn: Any) -> None:
            begins[0] += 1

        for engine in db.engines:
            event.listen(engine, "begin", began)
        with StatementCounter(db) as counter:
            answer = client.request(method, request[0], json=request[1], headers=headers)
        for engine in db.engines:
            event.remove(engine, "begin", began)
        answer.raise_for_status()
    return counter.count, begins[0], [statement for statement, _ in counter.statements]


def cpu_times() -> tuple[float, float] | None:
    """(busy, all) processor time of the whole machine so far, in clock ticks, from
    ``/proc/stat`` (None where there is none): ``cores_busy`` of two readings says how
    much of the machine a run used, server, database and clients together."""
    try:
        fields = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return None
    idle = fields[3] + fields[4]  # idle and waiting for I/O
    return sum(fields) - idle, sum(fields)


def cores_busy(before: tuple[float, float] | None, after: tuple[float, float] | None) -> str:
    """How many of the machine's cores were busy between two ``cpu_times`` readings."""
    if before is None or after is None or after[1] == before[1]:
        return "-"
    share = (after[0] - before[0]) / (after[1] - before[1])
    return f"{share * (os.cpu_count() or 1):.2f} of {os.cpu_count()}"


_WAITING = """
SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'), count(*) FILTER (WHERE state = 'active')
FROM pg_stat_activity WHERE application_name = %s
"""


def lock_sampler(db: Database, application: str) -> Callable[[], tuple[int, int]]:
    """A function counting the PostgreSQL connections named ``application`` that wait on
    a lock and that are active, from ``pg_stat_activity``, on a connection of its own."""
    # Autocommit: pg_stat_activity is read once per transaction. The connection leaves the
    # pool first, or it would go back in autocommit and turn a writer's locks off.
    pooled = db.engine.raw_connection()
    raw = pooled.driver_connection
    pooled.detach()
    raw.autocommit = True  # type: ignore[union-attr]
    cursor = raw.cursor()  # type: ignore[union-attr]

    def sample() -> tuple[int, int]:
        cursor.execute(_WAITING, (application,))
        waiting, active = cursor.fetchone()
        return int(waiting), int(active)

    return sample


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` 0.95 gives p95)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    print(f"\n{title}")
    for index, row in enumerate(cells):
        print(
            "  "
            + "  ".join(
                c.rjust(w) if j else c.ljust(w)
                for j, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if index == 0:
            print("  " + "  ".join("-" * w for w in widths))


class WriteRecorder:
    """The statements that write (with their parameters) an engine runs, grouped by
    transaction, and a count of all statements: the raw-SQL floor of a run is
    these writes replayed (``replay``) on a database in the same starting state."""

    def __init__(self, db: Database) -> None:
        self.engine = db.engine
        self.statements = 0
        self.transactions: list[list[tuple[str, Any]]] = [[]]

    @property
    def write_count(self) -> int:
        return sum(len(writes) for writes in self.transactions)

    def __enter__(self) -> WriteRecorder:
        event.listen(self.engine, "before_cursor_execute", self._record)
        event.listen(self.engine, "commit", self._commit)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)
        event.remove(self.engine, "commit", self._commit)

    def _record(self, _conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        self.statements += 1
        if statement.lstrip().split(None, 1)[0].upper() in WRITES or "nextval(" in statement:
            self.transactions[-1].append((statement, parameters))

    def _commit(self, _conn) -> None:  # type: ignore[no-untyped-def]
        if self.transactions[-1]:
            self.transactions.append([])


def replay(db: Database, transactions: list[list[tuple[str, Any]]]) -> float:
    """The raw-SQL floor: recorded writes, one by one, each transaction committed as it
    was; returns the seconds taken."""
    started = perf_counter()
    for writes in transactions:
        if writes:
            with db.write() as conn:
                for statement, parameters in writes:
                    conn.exec_driver_sql(statement, parameters)
    return perf_counter() - started


#: Records per transaction of ``create_bench_records``.
SERVICE_BATCH = 1000


def create_bench_records(db: Database, count: int) -> list[dict[str, Any]]:
    """``count`` records of the benchmark type through the service layer, in batches."""
    actor = admin_principal(db)
    views: list[dict[str, Any]] = []
    for start in range(0, count, SERVICE_BATCH):
        with db.write() as conn:
            batch = RecordBatch(conn, actor, TYPE_KEY)
            for i in range(start, min(count, start + SERVICE_BATCH)):
                batch.add(record_input(i))
            views += batch.store()
    return views


def add_record_events(db: Database, rows: list[dict[str, Any]], count: int) -> None:
    """``count`` record events, round-robin over the records, each proving its row as
    stored (``rows``), as after real updates."""
    hashes = [record_result(row) for row in rows]
    for start in range(0, count, SERVICE_BATCH * 10):
        with db.write() as conn, written_together(conn):
            entries = []
            for i in range(start, min(count, start + SERVICE_BATCH * 10)):
                index = i % len(rows)
                row = rows[index]
                entries.append(
                    AuditEntry(
                        actor="admin",
                        action="record.update",
                        type_key=TYPE_KEY,
                        record_id=row["id"],
                        record_number=row["number"],
                        changes={"notes": {"old": f"reading {i}", "new": f"reading {i + 1}"}},
                        reason="Transcription corrected from the instrument printout.",
                        config_version=row["type_version"],
                        result_hash=hashes[index],
                    )
                )
            append(conn, entries)
