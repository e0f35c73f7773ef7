"""Archive and restore of a large installation: time and peak memory, against plain SQL.

Goal: 100,000 records with 1,000,000 audit events and 1 GB of attachments on
PostgreSQL, archived and restored with proof, in memory that does not grow
with the installation.

The installation: ``-n`` records of the 12-field benchmark type created
through the service layer, record events up to ``--events`` in all (each
proving its record, as after real updates; see ``verify.py``), and
``--attachment-mb`` MiB of attachments of ``--attachment-kb`` KiB each, of
random (incompressible) bytes, stored through the service layer. Setting up
is not measured.

Measured, each command in a process of its own (its peak resident memory
read from the operating system when it ends):

- **archive create**: ``labledger archive create`` of the installation;
- **archive verify --quick**: reading the archive whole, every hash checked;
- **archive restore**: into an empty database of the same kind, then the proof
  (counts, record and attachment hashes, chain tips, all of ``audit verify``);
- **start-up**: ``labledger --help``, what each of those processes costs before it
  does any work (interpreter, imports);
- **plain-SQL floor**: the same tables copied out to files and back into an
  empty migrated database of the same kind: ``COPY TO`` / ``COPY FROM`` on
  PostgreSQL, ``SELECT *`` to CSV and ``executemany`` on SQLite; no hashing,
  no compression, no proof.

    .venv/bin/python bench/archive.py [--database URL] [-n 100000] [--events 1000000]
        [--attachment-mb 1024] [--attachment-kb 1024]
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from time import perf_counter

from sqlalchemy import create_engine, inspect, select, text

from common import (
    add_record_events,
    admin_principal,
    bench_database,
    bench_type,
    create_bench_records,
    describe,
    parse_args,
    print_table,
    publish,
)
from labledger.archive.format import TABLES, TRANSIENT_TABLES
from labledger.db.engine import Database, normalise_url, open_database
from labledger.db.migrate import upgrade
from labledger.db.tables import record
from labledger.records.attachments import store_attachment

#: Attachments stored per transaction while setting up.
ATTACHMENT_BATCH = 16
ROOT = Path(__file__).resolve().parents[1]
#: Rows per batch of the SQLite floor's copy.
FLOOR_BATCH = 5000


def url_of(db: Database) -> str:
    """A URL the command line can use for ``db`` (a PostgreSQL schema named in it)."""
    url = db.engine.url
    if db.dialect == "postgresql":
        with db.read() as conn:
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
        url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@contextmanager
def empty_target(source: Database, folder: Path) -> Iterator[str]:
    """The URL of a new empty database of the source's kind, removed afterwards."""
    if source.dialect != "postgresql":
        path = folder / f"target-{uuid.uuid4().hex[:8]}.db"
        yield f"sqlite:///{path}"
        path.unlink(missing_ok=True)
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(source.engine.url.render_as_string(hide_password=False)))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield source.engine.url.update_query_dict(
            {"options": f"-csearch_path={schema}"}
        ).render_as_string(hide_password=False)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


#: What each measured process runs: the command, then its own peak resident memory
#: (VmHWM: the high-water mark of this program's memory, not of the benchmark that
#: started it, whose pages a freshly started process briefly shares) into a file.
DRIVER = """
import sys
from labledger.cli import main
try:
    code = main(sys.argv[2:])
except SystemExit as stop:  # --help
    code = stop.code
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
open(sys.argv[1], "w").write(peak.split()[1])
sys.exit(code)
"""


def command(url: str | None, *argv: str) -> tuple[float, float]:
    """Run ``labledger [--database url] argv`` in a process of its own: (seconds, peak MiB)."""
    with tempfile.NamedTemporaryFile("r") as peak:
        args = [sys.executable, "-c", DRIVER, peak.name]
        args += ["--database", url] if url else []
        env = {**os.environ, "PYTHONPATH": str(ROOT / "platform")}
        started = perf_counter()
        finished = subprocess.run([*args, *argv], env=env, stdout=subprocess.DEVNULL, check=False)  # noqa: S603
        took = perf_counter() - started
        if finished.returncode != 0:
            raise SystemExit(f"labledger {' '.join(argv)} failed with status {finished.returncode}")
        return took, int(peak.read()) / 1024


def add_attachments(db: Database, total_mb: int, each_kb: int) -> int:
    actor = admin_principal(db)
    count = total_mb * 1024 // each_kb
    for start in range(0, count, ATTACHMENT_BATCH):
        with db.write() as conn:
            for _ in range(start, min(count, start + ATTACHMENT_BATCH)):
                store_attachment(
                    conn,
                    actor,
                    filename="scan.pdf",
                    content_type="application/pdf",
                    content=os.urandom(each_kb * 1024),
                    max_bytes=each_kb * 1024,
                )
    return count


def archived_tables(db: Database) -> list[str]:
    with db.read() as conn:
        present = set(inspect(conn).get_table_names())
    return [t.name for t in TABLES if t.name in present and t.name not in TRANSIENT_TABLES]


def floor(db: Database, target_url: str, folder: Path) -> tuple[float, float]:
    """The same tables copied out to files and into an empty migrated database: seconds."""
    tables = archived_tables(db)
    target = open_database(target_url)
    upgrade(target.engine)
    try:
        started = perf_counter()
        _copy_out(db, tables, folder)
        out = perf_counter() - started
        started = perf_counter()
        _copy_in(target, tables, folder)
        return out, perf_counter() - started
    finally:
        target.dispose()


def _copy_out(db: Database, tables: list[str], folder: Path) -> None:
    with db.snapshot() as conn:
        for table in tables:
            path = folder / f"{table}.copy"
            if db.dialect == "postgresql":
                cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                with path.open("wb") as out, cursor.copy(f'COPY "{table}" TO STDOUT') as copy:
                    for chunk in copy:
                        out.write(chunk)
                continue
            rows = conn.execution_options(yield_per=FLOOR_BATCH).exec_driver_sql(
                f'SELECT * FROM "{table}"'
            )
            with path.open("wb") as out:
                for batch in rows.partitions():
                    pickle.dump([tuple(row) for row in batch], out)


def _copy_in(db: Database, tables: list[str], folder: Path) -> None:
    with db.write() as conn:
        for table in ("audit_head", "outbox_lane"):  # what the migrations put there
            conn.exec_driver_sql(f'DELETE FROM "{table}"')
        for table in tables:
            path = folder / f"{table}.copy"
            if db.dialect == "postgresql":
                cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                with path.open("rb") as source, cursor.copy(f'COPY "{table}" FROM STDIN') as copy:
                    while chunk := source.read(1 << 20):
                        copy.write(chunk)
                continue
            with path.open("rb") as source:
                while True:
                    try:
                        batch = pickle.load(source)  # noqa: S301 (the file it just wrote)
                    except EOFError:
                        break
                    marks = ", ".join("?" * len(batch[0]))
                    conn.exec_driver_sql(f'INSERT INTO "{table}" VALUES ({marks})', batch)


def main() -> None:
    parser = parse_args(__doc__.splitlines()[0], default_n=100_000)
    parser.add_argument("--events", type=int, default=1_000_000, help="audit events in all")
    parser.add_argument("--attachment-mb", type=int, default=1024, help="MiB of attachments")
    parser.add_argument("--attachment-kb", type=int, default=1024, help="KiB per attachment")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="labledger-bench-archive-"))
    try:
        with bench_database(args.database) as db:
            publish(db, bench_type())
            started = perf_counter()
            create_bench_records(db, args.n)
            with db.read() as conn:
                rows = [dict(r) for r in conn.execute(select(record)).mappings()]
            add_record_events(db, rows, max(0, args.events - args.n))
            files = add_attachments(db, args.attachment_mb, args.attachment_kb)
            print(f"database: {describe(db)}")
            print(
                f"set up {args.n:,} records, {args.events:,} events and {files:,} attachments "
                f"({args.attachment_mb:,} MiB) in {perf_counter() - started:.0f} s"
            )
            url = url_of(db)
            path = folder / "site.zip"
            start_up = command(None, "--help")
            create = command(url, "archive", "create", str(path))
            size = path.stat().st_size / 1024 / 1024
            check = command(None, "archive", "verify", "--quick", str(path))
            with empty_target(db, folder) as target:
                restore = command(target, "archive", "restore", str(path))
            with empty_target(db, folder) as target:
                copy_out, copy_in = floor(db, target, folder)
        print_table(
            f"archive of {args.n:,} records, {args.events:,} events, "
            f"{args.attachment_mb:,} MiB of attachments (archive {size:,.0f} MiB)",
            ["step", "time (s)", "peak memory (MiB)", "plain-SQL floor (s)", "/ floor"],
            [
                ["start-up (labledger --help)", f"{start_up[0]:.1f}", f"{start_up[1]:.0f}", "", ""],
                [
                    "archive create",
                    f"{create[0]:.1f}",
                    f"{create[1]:.0f}",
                    f"{copy_out:.1f}",
                    f"{create[0] / copy_out:.1f}x",
                ],
                ["archive verify --quick", f"{check[0]:.1f}", f"{check[1]:.0f}", "", ""],
                [
                    "archive restore (with proof)",
                    f"{restore[0]:.1f}",
                    f"{restore[1]:.0f}",
                    f"{copy_in:.1f}",
                    f"{restore[0] / copy_in:.1f}x",
                ],
            ],
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
