"""Registering and receiving samples through the API, with the shipped LIMS configuration.

Loads ``seeds/lims`` (configuration only) the way ``labledger init`` does,
creates ten analyses and a sample type that has all ten as default analyses,
then registers N samples and receives each one through the REST API as a lab
technician: ``POST /api/v1/records/sample`` and ``POST .../transitions/receive``,
which creates the sample's ten results with their limits copied from the
analyses, all in one transaction per request. The API runs in-process
(Litestar's TestClient), so the figures are the platform's and the
database's, without network or HTTP server costs. The raw-SQL floor is the
run's writes, recorded with their parameters and replayed transaction by
transaction on a second database set up the same way.

Goal: 1,000 samples with 10 analyses each in under 60 seconds on PostgreSQL.

    .venv/bin/python bench/lims_receive.py [-n 1000] [--database URL]
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from time import perf_counter
from typing import Any

from litestar.testing import TestClient

from common import (
    StatementCounter,
    WriteRecorder,
    bench_database,
    describe,
    median,
    parse_args,
    percentile,
    print_table,
    replay,
)
from labledger.app import create_app
from labledger.audit.verify import verify
from labledger.bundles.seeds import load_seed_bundles
from labledger.db.engine import Database
from labledger.identity.principal import SYSTEM
from labledger.identity.tokens import create_token
from labledger.identity.users import create_user
from labledger.resources import data_path

GOAL_SECONDS = 60.0
GOAL_SAMPLES = 1000
ANALYSES = 10
API = "/api/v1"
#: The password of users who only call the API with their token.
UNUSED_PASSWORD = "bench-password-not-used"


def load_lims(db: Database) -> None:
    """The shipped LIMS bundle, alone, as init loads it."""
    folder = Path(tempfile.mkdtemp(prefix="labledger-seeds-"))
    try:
        shutil.copytree(data_path("seeds", "lims"), folder / "lims")
        load_seed_bundles(db, demo=False, root=folder)
    finally:
        shutil.rmtree(folder)


def account(db: Database, username: str, role: str, password: str) -> str:
    """A user of ``role`` with ``password``; returns an API token of theirs."""
    with db.write() as conn:
        create_user(
            conn,
            SYSTEM,
            username=username,
            full_name=username.title(),
            roles=[role],
            password=password,
            one_time=False,
        )
        return create_token(conn, SYSTEM, username)


def bearer(db: Database, username: str, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {account(db, username, role, UNUSED_PASSWORD)}"}


def created(response: Any) -> dict[str, Any]:
    if response.status_code not in (200, 201):
        raise SystemExit(f"{response.request.url}: {response.status_code} {response.text}")
    return response.json()


def setup(client: TestClient[Any], manager: dict[str, str], analyses: int = ANALYSES) -> int:
    """``analyses`` analyses (ten by default) and a sample type that gets all of them;
    returns the sample type's id."""
    ids = [
        created(
            client.post(
                f"{API}/records/analysis",
                headers=manager,
                json={
                    "data": {
                        "keyword": f"BENCH{i}",
                        "name": f"Bench analysis {i}",
                        "unit": "mg/L",
                        "precision": 2,
                        "spec_low": 1,
                        "spec_high": 50,
                        "warn_low": 2,
                        "warn_high": 40,
                        "lod": 0.1,
                        "loq": 0.5,
                    }
                },
            )
        )["id"]
        for i in range(analyses)
    ]
    sample_type = created(
        client.post(
            f"{API}/records/sample_type",
            headers=manager,
            json={
                "data": {
                    "name": "Bench water",
                    "matrix": "drinking_water",
                    "default_analyses": ids,
                }
            },
        )
    )
    return sample_type["id"]


@contextmanager
def lims_site(
    db: Database,
) -> Iterator[tuple[dict[str, str], dict[str, str], TestClient[Any], int]]:
    """The LIMS bundle, a manager and a technician, ten analyses and a sample type.

    The same on every database, so the raw-SQL floor's database starts where
    the measured one did (the same ids and the same audit chain length).
    """
    load_lims(db)
    manager = bearer(db, "bench.manager", "lab_manager")
    technician = bearer(db, "bench.tech", "lab_technician")
    with TestClient(create_app(db)) as client:
        yield manager, technician, client, setup(client, manager)


def register_and_receive(
    client: TestClient[Any], technician: dict[str, str], sample_type: int, i: int
) -> None:
    sample = created(
        client.post(
            f"{API}/records/sample",
            headers=technician,
            json={
                "data": {
                    "sample_type": sample_type,
                    "client": f"Bench client {i % 20}",
                    "sampling_point": f"Tap {i}",
                    "collected_at": "2026-11-20T08:00:00Z",
                }
            },
        )
    )
    received = created(
        client.post(
            f"{API}/records/sample/{sample['id']}/transitions/receive",
            headers=technician,
            json={},
        )
    )
    assert received["state"] == "received"


def run(db: Database, floor_db: Database, n: int) -> None:
    with lims_site(db) as (manager, technician, client, sample_type), lims_site(floor_db):
        per_sample: list[float] = []
        recorder = WriteRecorder(db)
        counter = StatementCounter(db)
        started = perf_counter()
        with counter, recorder:
            for i in range(n):
                begin = perf_counter()
                register_and_receive(client, technician, sample_type, i)
                per_sample.append(perf_counter() - begin)
        total = perf_counter() - started
        floor = replay(floor_db, recorder.transactions)
        results = created(client.get(f"{API}/records/result", headers=manager, params={"limit": 1}))
    with db.read() as conn:
        chain = verify(conn)
    print_table(
        f"Registering and receiving {n:,} samples with {ANALYSES} analyses each ({describe(db)})",
        ["measure", "value"],
        [
            ("total", f"{total:.1f} s"),
            ("per sample (register + receive)", f"{total / n * 1000:.1f} ms mean"),
            ("per sample, median", f"{median(per_sample) * 1000:.1f} ms"),
            ("per sample, p95", f"{percentile(per_sample, 0.95) * 1000:.1f} ms"),
            ("SQL statements per sample", f"{counter.count / n:.0f}"),
            ("time in SQL", f"{counter.seconds:.1f} s ({counter.seconds / total:.0%})"),
            ("raw-SQL floor (the writes replayed)", f"{floor:.1f} s"),
            ("total / raw-SQL floor", f"{total / floor:.1f}x"),
            ("results created", f"{n * ANALYSES:,}"),
            ("audit chain", f"intact, {chain.events:,} events" if chain.ok else chain.summary()),
        ],
    )
    assert results["items"], "receiving created results"
    if n == GOAL_SAMPLES and db.dialect == "postgresql":
        verdict = "met" if total < GOAL_SECONDS else "NOT met"
        print(f"\nGoal (under {GOAL_SECONDS:.0f} s for {GOAL_SAMPLES:,} on PostgreSQL): {verdict}")


def main() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    args = parse_args(__doc__.splitlines()[0], GOAL_SAMPLES).parse_args()
    with bench_database(args.database) as db, bench_database(args.database) as floor_db:
        run(db, floor_db, args.n)


if __name__ == "__main__":
    main()
