"""HTTP creates with 1, 2 and 4 server processes: do more workers write more?

Serves the real application with uvicorn in a subprocess (``--workers`` 1, 2
and 4 in turn) and has eight clients, each with its own connection, create
records of the benchmark type through ``POST /api/v1/records/bench_item`` as
fast as answers come, for a fixed time per worker count. Reported per worker
count: creates per second, p50 and p95 of the request time (around the HTTP
call, loopback included) and, on PostgreSQL, how many of the server's
connections were waiting for a lock, sampled from ``pg_stat_activity`` every
10 ms (the mean over the samples, and the lock wait it implies per request),
and how many of the machine's cores were busy (``/proc/stat``): the server,
the database and the clients share them, so a run that keeps every core busy
cannot go faster with more workers.

Before that, the statements and transactions of one create are counted
in-process (authentication included), and the floor is measured in the same
run: the same rows written in plain SQL (``bench/create.py``'s raw path: the
record, the audit head under lock, the event with its hash, the outbox row)
by eight threads of this process, one transaction per record.

Goals (issue "writes that scale with workers"): on PostgreSQL 2 workers at
least 1.7x one, 4 no worse than 2, p95 at most 2x p50 with 8 clients; on
SQLite p95 at most 3x p50.

    .venv/bin/python bench/http_writes.py [--database URL] [--seconds 10] [--workers 1,2,4]
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from time import perf_counter
from typing import Any

from common import (
    TYPE_KEY,
    bench_database,
    bench_type,
    cores_busy,
    cpu_times,
    describe,
    lock_sampler,
    median,
    parse_args,
    percentile,
    print_table,
    publish,
    record_input,
    statements_of_one_request,
)
from create import RawPath
from labledger.db.engine import Database
from labledger.identity.principal import SYSTEM
from labledger.identity.tokens import create_token
from labledger.identity.users import create_user
from lean_http import LeanClient
from readers import served, server_url

CLIENTS = 8
WARM_UP = 2.0
#: Seconds between two samples of pg_stat_activity.
SAMPLE_EVERY = 0.01
#: The server's connections name themselves so the sampler counts only them.
APPLICATION = "labledger-bench-server"


@dataclass
class Run:
    """What one load run saw: each request's seconds, and the lock samples."""

    seconds: float = 0.0
    times: list[float] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)
    active: list[int] = field(default_factory=list)
    errors: int = 0
    #: How many cores the whole machine kept busy while the run was timed.
    cores: str = "-"

    @property
    def rate(self) -> float:
        return len(self.times) / self.seconds

    def row(self, label: str) -> list[object]:
        mean_waiting = sum(self.waiting) / len(self.waiting) if self.waiting else None
        mean_active = sum(self.active) / len(self.active) if self.active else None
        wait_ms = (
            mean_waiting * self.seconds / len(self.times) * 1000
            if mean_waiting is not None
            else None
        )
        return [
            label,
            len(self.times),
            f"{self.rate:,.0f}",
            f"{median(self.times) * 1000:.1f}",
            f"{percentile(self.times, 0.95) * 1000:.1f}",
            f"{percentile(self.times, 0.95) / median(self.times):.1f}x",
            "-" if mean_active is None else f"{mean_active:.2f}",
            "-" if mean_waiting is None else f"{mean_waiting:.2f}",
            "-" if wait_ms is None else f"{wait_ms:.2f}",
            self.cores,
            self.errors,
        ]


def load(work: Callable[[int, int], None], seconds: float, sample: Callable[[], Any] | None) -> Run:
    """CLIENTS threads doing ``work(client, i)`` for WARM_UP + ``seconds``; the timed part."""
    run = Run()
    numbers = count()
    lock = threading.Lock()
    started = perf_counter()
    measuring_from, stop_at = started + WARM_UP, started + WARM_UP + seconds

    def client(who: int) -> None:
        while (now := perf_counter()) < stop_at:
            i = next(numbers)
            try:
                work(who, i)
            except AssertionError:
                with lock:
                    run.errors += 1
                continue
            if now >= measuring_from:
                with lock:
                    run.times.append(perf_counter() - now)

    def sampler() -> None:
        assert sample is not None
        while perf_counter() < stop_at:
            if perf_counter() >= measuring_from:
                waiting, active = sample()
                run.waiting.append(waiting)
                run.active.append(active)
            threading.Event().wait(SAMPLE_EVERY)

    threads = [threading.Thread(target=client, args=(who,)) for who in range(CLIENTS)]
    if sample is not None:
        threads.append(threading.Thread(target=sampler))
    for thread in threads:
        thread.start()
    threading.Event().wait(max(0.0, measuring_from - perf_counter()))
    before = cpu_times()
    for thread in threads:
        thread.join()
    run.cores = cores_busy(before, cpu_times())
    run.seconds = stop_at - measuring_from
    return run


class ApiClients:
    """One lean HTTP client per load thread (see ``lean_http``), each creating records
    with the bench token."""

    def __init__(self, base: str, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        self.clients = [LeanClient(base, headers) for _ in range(CLIENTS)]

    def create(self, who: int, i: int) -> None:
        body = json.dumps({"data": record_input(i)}).encode()
        status, answer = self.clients[who].post_json(f"/api/v1/records/{TYPE_KEY}", body)
        assert status == 201, answer[:300]

    def close(self) -> None:
        for client in self.clients:
            client.close()


def prepare(db: Database) -> tuple[str, int]:
    """The benchmark type and a user of the admin role with an API token."""
    version = publish(db, bench_type())
    with db.write() as conn:
        create_user(
            conn,
            SYSTEM,
            username="bench",
            full_name="Bench Mark",
            roles=["admin"],
            password="measure twice, cut once",
            one_time=False,
        )
        token = create_token(conn, SYSTEM, "bench")
    return token, version


def main() -> None:
    parser = parse_args(__doc__.split("\n\n")[0], default_n=0)
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per run")
    parser.add_argument("--workers", default="1,2,4", help="server process counts (default 1,2,4)")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the statement count's test client
    worker_counts = [int(w) for w in args.workers.split(",")]
    with bench_database(args.database) as db:
        postgres = db.dialect == "postgresql"
        print(f"HTTP writes on {describe(db)}: {CLIENTS} clients, {args.seconds:.0f} s per run")
        token, version = prepare(db)
        path = f"/api/v1/records/{TYPE_KEY}"
        statements, transactions, _ = statements_of_one_request(
            db,
            token,
            "POST",
            (path, {"data": record_input(10**8 + 1)}),
            warm_up=(path, {"data": record_input(10**8)}),
        )
        print(f"one API create: {statements} statements in {transactions} transaction(s)")
        sample = lock_sampler(db, APPLICATION) if postgres else None
        raw = RawPath(db, version)
        rows = [
            load(lambda _who, i: raw.create(10**7 + i), args.seconds, None).row(
                "plain SQL floor, 8 threads"
            )
        ]
        rates = {}
        url = server_url(db, application_name=APPLICATION)
        for workers in worker_counts:
            with served(db, workers, url=url) as base:
                clients = ApiClients(base, token)
                run = load(clients.create, args.seconds, sample)
                clients.close()
            rates[workers] = run.rate
            rows.append(run.row(f"API, {workers} worker(s)"))
        print_table(
            f"Creates with {CLIENTS} concurrent clients",
            [
                "path",
                "creates",
                "per s",
                "p50 ms",
                "p95 ms",
                "p95/p50",
                "active",
                "waiting",
                "wait ms/req",
                "cores busy",
                "errors",
            ],
            rows,
        )
        if 1 in rates:
            print()
            for workers, rate in rates.items():
                print(f"{workers} worker(s): {rate / rates[1]:.2f}x one worker")


if __name__ == "__main__":
    main()
