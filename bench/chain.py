"""The audit chain alone: how many appends a second it takes, and what its locks cost.

Every change appends an event to the chain, in the lane of its record, and a
writer holds its lane's tip from the append until its commit is on disk, so
writers of records in the same lane queue on it. This measures that queue
without the rest of a request: writer processes (1, 2, 4 and 8 in turn, each
with its own connection, no interpreter lock shared) append one event per
transaction through ``audit.trail.append`` as fast as they can, in one of
two ways: every writer about records of one lane (the single chain before
lanes), or each about records of its own lane. The floor, in the same run,
is the same events inserted in plain SQL with their sequence number from a
database sequence and no chain at all. On PostgreSQL the writers'
connections waiting on a lock are sampled from ``pg_stat_activity`` every
10 ms.

Read the appends per second next to ``http_writes.py``'s creates per second:
while the chain takes several times what the whole application writes, the
chain is not what limits it.

    .venv/bin/python bench/chain.py --database postgresql+psycopg://... [--seconds 10]
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from datetime import UTC, datetime
from time import perf_counter, sleep
from typing import Any

from sqlalchemy import text

from common import (
    bench_database,
    cores_busy,
    cpu_times,
    describe,
    lock_sampler,
    median,
    parse_args,
    percentile,
    print_table,
)
from labledger.audit.trail import LANES, AuditEntry, append
from labledger.db.engine import Database, open_database

WRITER_COUNTS = (1, 2, 4, 8)
APPLICATION = "labledger-bench-chain"
#: Seconds between two samples of pg_stat_activity.
SAMPLE_EVERY = 0.01
_UNCHAINED = (
    "INSERT INTO audit_event (seq, occurred_at, actor, action, details, prev_hash, hash, "
    "hash_version) VALUES (nextval('bench_event_seq'), %s, 'bench', 'bench.append', %s::jsonb, "
    "%s, %s, 3)"
)


#: The ways of appending: every writer in one lane, each in its own, or no chain at all.
ONE_LANE, OWN_LANES, NO_CHAIN = "one lane", "a lane each", "floor: no chain"


def _entry(way: str, writer: int, i: int) -> AuditEntry:
    """An event about a record of lane 1 or of the writer's own lane (record ids are
    not checked: the events are all the bench writes)."""
    record_id = LANES * (i + 1) + (writer if way == OWN_LANES else 0)
    return AuditEntry(
        actor="bench", action="bench.append", record_id=record_id, details={"writer": writer}
    )


def _writer(
    url: str, search_path: str, way: str, writer: int, seconds: float, start: Any, out: Any
) -> None:
    """One writer process: append for ``seconds`` once ``start`` is set; send the times."""
    options = f"-csearch_path={search_path} -capplication_name={APPLICATION}"
    db = open_database(url, connect_args={"options": options})
    times: list[float] = []
    start.wait()
    stop = perf_counter() + seconds
    i = 0
    while perf_counter() < stop:
        began = perf_counter()
        with db.write() as conn:
            if way != NO_CHAIN:
                append(conn, [_entry(way, writer, i)])
            else:
                details = f'{{"writer": {writer}, "n": {i}}}'
                conn.exec_driver_sql(_UNCHAINED, (datetime.now(UTC), details, "0" * 64, "1" * 64))
        times.append(perf_counter() - began)
        i += 1
    db.dispose()
    out.put(times)


def run(
    db: Database,
    url: str,
    way: str,
    writers: int,
    seconds: float,
    sample: Callable[[], tuple[int, int]],
) -> list[str]:
    """``writers`` processes appending for ``seconds``: the table row of the run."""
    with db.engine.connect() as conn:
        search_path = conn.exec_driver_sql("SHOW search_path").scalar_one()
    context = multiprocessing.get_context("spawn")
    start, out = context.Event(), context.Queue()
    processes = [
        context.Process(target=_writer, args=(url, search_path, way, w, seconds, start, out))
        for w in range(writers)
    ]
    for process in processes:
        process.start()
    waits: list[int] = []
    cpu = cpu_times()
    start.set()
    began = perf_counter()
    while perf_counter() - began < seconds:
        waits.append(sample()[0])
        sleep(SAMPLE_EVERY)
    times = [t for _ in processes for t in out.get()]
    busy = cores_busy(cpu, cpu_times())
    for process in processes:
        process.join()
    return [
        f"{way}, {writers} writer(s)",
        f"{len(times) / seconds:,.0f}",
        f"{median(times) * 1000:.1f}",
        f"{percentile(times, 0.95) * 1000:.1f}",
        f"{sum(waits) / max(len(waits), 1):.2f}",
        busy,
    ]


def main() -> None:
    parser = parse_args(__doc__.split("\n\n")[0], default_n=0)
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per run")
    args = parser.parse_args()
    if not args.database or not args.database.startswith("postgresql"):
        raise SystemExit("give a PostgreSQL URL: on SQLite writers take turns whatever the chain")
    with bench_database(args.database) as db:
        print(f"Audit chain appends on {describe(db)}, {args.seconds:.0f} s per run")
        with db.engine.begin() as conn:
            conn.execute(text("CREATE SEQUENCE bench_event_seq START 1000000000"))
        sample = lock_sampler(db, APPLICATION)
        rows = [
            run(db, args.database, way, writers, args.seconds, sample)
            for writers in WRITER_COUNTS
            for way in (ONE_LANE, OWN_LANES, NO_CHAIN)
        ]
        print_table(
            "One event per transaction",
            ["writers", "appends/s", "p50 ms", "p95 ms", "waiting on a lock", "cores busy"],
            rows,
        )


if __name__ == "__main__":
    main()
