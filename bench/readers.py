"""Page readers and one writer: does a page wait while records are written?

Serves the real application with uvicorn in a subprocess on a loopback port
(one worker process, as ``labledger serve`` does by default; ``--workers``
for more), over a database
holding N records (default 10,000) of the benchmark type. Eight reader
threads, each signed in with a browser session of its own, ask as fast as
answers come for record pages (``GET /records/bench_item/{id}``) and list
pages of 50 rows (``GET /records/bench_item``, unfiltered or filtered on an
indexed field), in turn. They are timed alone, then while one more client
creates records through the API (``POST /api/v1/records/bench_item``) as fast
as it can. Each page is timed around the HTTP call, so the figures include
the loopback transport.

The floor is the same reads in plain SQL: the statements of sample pages,
recorded in-process, replayed by eight threads in one read transaction per
page, alone and with the same writer. Goal: on SQLite, p95 of page time with
the writer within 2x of the readers alone.

    .venv/bin/python bench/readers.py [-n 10000] [--database URL] [--requests 200] [--workers 1]
"""

from __future__ import annotations

import logging
import os
import random
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import httpx
from litestar.testing import TestClient

from common import (
    STATUSES,
    TYPE_KEY,
    StatementCounter,
    analyse,
    bench_database,
    bench_type,
    describe,
    median,
    parse_args,
    percentile,
    print_table,
    record_input,
)
from labledger.app import create_app
from labledger.db.engine import Database
from labledger.identity.principal import SYSTEM
from labledger.identity.sessions import SESSION_COOKIE, start_session
from labledger.identity.tokens import create_token
from labledger.identity.users import create_user, load_principal
from labledger.metadata.types import publish_type
from list import load

READERS = 8
GOAL_RATIO = 2.0
WARM_UP = 10
#: Sample pages whose statements make up the plain-SQL floor.
SAMPLES = 40
PASSWORD = "measure twice, cut once"
START_TIMEOUT = 60.0

#: One read: given the reader's number and its request's number, do it.
Read = Callable[[int, int], None]


@dataclass(frozen=True)
class Installation:
    """What the clients need: the records to read, a session per reader, an API token."""

    ids: list[int]
    sessions: list[str]
    token: str


def prepare(db: Database, n: int) -> Installation:
    """The benchmark type with N records, a bench user of the admin role, its sessions."""
    with db.write() as conn:
        create_user(
            conn,
            SYSTEM,
            username="bench",
            full_name="Bench Mark",
            roles=["admin"],
            password=PASSWORD,
            one_time=False,
        )
        publish_type(conn, SYSTEM, bench_type())
    rate = load(db, 0, n)
    print(f"bulk load of {n:,} records: {rate:,.0f} rows/s")
    analyse(db, "record")
    with db.write() as conn:
        bench = load_principal(conn, 2)
        assert bench is not None and bench.username == "bench"
        sessions = [start_session(conn, bench) for _ in range(READERS)]
        token = create_token(conn, SYSTEM, "bench")
        ids = [row[0] for row in conn.exec_driver_sql("SELECT id FROM record ORDER BY id")]
    return Installation(ids, sessions, token)


def page_path(ids: list[int], rng: random.Random, i: int) -> str:
    """The i-th page a reader asks for: a record page, then a list page, in turn."""
    if i % 2 == 0:
        return f"/records/{TYPE_KEY}/{rng.choice(ids)}"
    if i % 4 == 1:
        return f"/records/{TYPE_KEY}"
    return f"/records/{TYPE_KEY}?status={STATUSES[i % len(STATUSES)]}"


def server_url(db: Database, application_name: str | None = None) -> str:
    """The database URL for the server process (on PostgreSQL, with the bench schema, and
    ``application_name`` naming its connections in ``pg_stat_activity``)."""
    url = db.engine.url
    if db.dialect == "postgresql":
        with db.read() as conn:
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
        query = {"options": f"-csearch_path={schema}"}
        if application_name:
            query["application_name"] = application_name
        url = url.update_query_dict(query)
    return url.render_as_string(hide_password=False)


@contextmanager
def served(db: Database, workers: int, url: str | None = None) -> Iterator[str]:
    """The application served by uvicorn in a subprocess over ``url`` (by default
    ``server_url(db)``); yields its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "uvicorn", "labledger.app:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    command += ["--log-level", "warning"]
    env = {**os.environ, "LABLEDGER_DATABASE_URL": url or server_url(db)}
    server = subprocess.Popen(command, env=env)  # noqa: S603 (our own interpreter and module)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(server, base)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_until_up(server: subprocess.Popen[bytes], base: str) -> None:
    started = perf_counter()
    while perf_counter() - started < START_TIMEOUT:
        if server.poll() is not None:
            raise SystemExit("the server did not start")
        try:
            if httpx.get(f"{base}/login", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        threading.Event().wait(0.1)
    raise SystemExit(f"the server did not answer within {START_TIMEOUT:.0f} s")


class PageReaders:
    """The readers' HTTP clients, one per session."""

    def __init__(self, base: str, installation: Installation) -> None:
        self.ids = installation.ids
        self.clients = [
            httpx.Client(base_url=base, cookies={SESSION_COOKIE: session}, timeout=60)
            for session in installation.sessions
        ]
        self.rngs = [random.Random(reader) for reader in range(READERS)]

    def read(self, reader: int, i: int) -> None:
        path = page_path(self.ids, self.rngs[reader], i)
        answer = self.clients[reader].get(path)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])

    def close(self) -> None:
        for client in self.clients:
            client.close()


class PlainSql:
    """The floor: the statements of sample pages, replayed in a read transaction each."""

    def __init__(self, db: Database, installation: Installation) -> None:
        self.db = db
        self.pages = record_statements(db, installation)

    def read(self, reader: int, i: int) -> None:
        statements = self.pages[(reader * 7 + i) % len(self.pages)]
        with self.db.read() as conn:
            for statement, parameters in statements:
                conn.exec_driver_sql(statement, parameters).fetchall()


def record_statements(db: Database, installation: Installation) -> list[list[tuple[str, Any]]]:
    """The SELECTs of SAMPLES pages, as the application runs them in-process."""
    rng = random.Random(99)
    pages = []
    with TestClient(create_app(db)) as client, StatementCounter(db) as counter:
        client.cookies[SESSION_COOKIE] = installation.sessions[0]
        for i in range(SAMPLES):
            counter.reset()
            path = page_path(installation.ids, rng, i)
            assert client.get(path).status_code == 200, path
            pages.append([(s, p) for s, p in counter.statements if _is_select(s)])
    return pages


def _is_select(statement: str) -> bool:
    return statement.lstrip().split(None, 1)[0].upper() == "SELECT"


class Writer:
    """One client creating records through the API, as fast as answers come."""

    def __init__(self, base: str, token: str, first: int) -> None:
        self.client = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        self.next = first
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = perf_counter()
            answer = self.client.post(
                f"/api/v1/records/{TYPE_KEY}", json={"data": record_input(self.next)}
            )
            assert answer.status_code == 201, answer.text[:300]
            self.times.append((perf_counter() - started) * 1000)
            self.next += 1

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.client.close()


@dataclass(frozen=True)
class Run:
    """Milliseconds of each timed read, and how long the whole run took."""

    times: list[float]
    seconds: float


def run_readers(read: Read, requests: int) -> Run:
    """READERS threads, each making WARM_UP reads, then ``requests`` timed ones, all
    starting together."""
    times: list[list[float]] = [[] for _ in range(READERS)]
    ready = threading.Barrier(READERS + 1)
    failures: list[BaseException] = []

    def reader(number: int) -> None:
        try:
            for i in range(WARM_UP):
                read(number, i)
            ready.wait()
            for i in range(WARM_UP, WARM_UP + requests):
                started = perf_counter()
                read(number, i)
                times[number].append((perf_counter() - started) * 1000)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
            ready.abort()

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(READERS)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = perf_counter()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return Run([t for reader_times in times for t in reader_times], perf_counter() - started)


def row(name: str, run: Run, writer: Writer | None) -> list[object]:
    writes = f"{len(writer.times) / run.seconds:.0f}" if writer else "-"
    return [
        name,
        f"{median(run.times):.1f}",
        f"{percentile(run.times, 0.95):.1f}",
        f"{len(run.times) / run.seconds:.0f}",
        writes,
    ]


def main() -> None:
    parser = parse_args(__doc__.split("\n\n")[0], default_n=10_000)
    parser.add_argument("--requests", type=int, default=200, help="timed pages per reader")
    parser.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one log line per request otherwise
    with bench_database(args.database) as db:
        print(
            f"Readers benchmark on {describe(db)}: {args.n:,} records, {READERS} readers, "
            f"{args.workers} server process(es)"
        )
        installation = prepare(db, args.n)
        floor = PlainSql(db, installation)
        rows, p95 = [], {}
        with served(db, args.workers) as base:
            readers = PageReaders(base, installation)
            first_write = args.n
            for kind, read in (("pages", readers.read), ("plain SQL floor", floor.read)):
                alone = run_readers(read, args.requests)
                with Writer(base, installation.token, first_write) as writer:
                    busy = run_readers(read, args.requests)
                first_write = writer.next
                rows.append(row(f"{kind}, readers alone", alone, None))
                rows.append(row(f"{kind}, with one writer", busy, writer))
                p95[kind] = (percentile(alone.times, 0.95), percentile(busy.times, 0.95))
            readers.close()
        print_table(
            f"Time per read over {READERS} x {args.requests:,} reads (ms)",
            ["reads", "p50", "p95", "reads/s", "writes/s"],
            rows,
        )
        print()
        for kind, (alone_p95, busy_p95) in p95.items():
            print(f"{kind}: p95 with the writer / alone = {busy_p95 / alone_p95:.2f}x")
        ratio = p95["pages"][1] / p95["pages"][0]
        verdict = "meets" if ratio <= GOAL_RATIO else "MISSES"
        print(f"\npages: {verdict} the goal of {GOAL_RATIO:.0f}x")


if __name__ == "__main__":
    main()
