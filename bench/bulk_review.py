"""One step on many records with one signing: server time of a bulk review and a bulk release.

Loads ``seeds/lims`` (configuration only) the way ``labledger init`` does, with
the ten analyses and the sample type of ``lims_receive.py``. Each run sets up
fresh data through the REST API, not measured: N samples (default 5) received,
each result's value entered (one out of specification) and every result
submitted by a technician. Then it measures two requests, as a reviewer and a
QA person would send them after ticking "select all" in a list:

- review: ``POST /api/v1/records/result/transitions/review`` with the N x 10
  results and one signature;
- release: ``POST /api/v1/records/sample/transitions/release`` with the N
  samples, one signature and the justification the out-of-specification
  result asks for.

The API runs in-process (Litestar's TestClient): the figures are the server's
time, the platform's and the database's, without network. Each request checks
the password once, with the production argon2id cost, then each record takes
its own step with its own signature and audit events in its own transaction.
The raw-SQL floor is each request's writes (state changes, signatures, audit
events with their chain, outbox rows), recorded with their parameters and
replayed transaction by transaction on a second database set up the same way;
it has no password check, whose cost the script prints apart.

    .venv/bin/python bench/bulk_review.py [--runs 5] [-n 5] [--database URL]
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from litestar.testing import TestClient

from common import (
    WriteRecorder,
    bench_database,
    describe,
    median,
    parse_args,
    print_table,
    replay,
)
from labledger.app import create_app
from labledger.audit.verify import verify
from labledger.db.engine import Database
from labledger.identity.passwords import hash_password, verify_password
from lims_receive import ANALYSES, API, account, bearer, created, load_lims, setup

PASSWORD = "one signing for fifty"
REVIEWER, QA = "bench.reviewer", "bench.qa"
REVIEW, RELEASE = "review", "release"
#: A value inside the specification of ``lims_receive.setup``'s analyses (1 to 50), one outside.
IN_SPEC, OUT_OF_SPEC = 12.5, 75.25
JUSTIFICATION = "Confirmed by a repeat measurement; the customer is informed."


@dataclass(frozen=True)
class Lab:
    """One database's LIMS site: its API client, a sample type and the people's headers."""

    db: Database
    client: TestClient[Any]
    sample_type: int
    technician: dict[str, str]
    reviewer: dict[str, str]
    qa: dict[str, str]


@contextmanager
def lims_lab(db: Database) -> Iterator[Lab]:
    """The same site on every database, so the floor's database starts where the
    measured one did (the same ids, the same number of audit events)."""
    load_lims(db)
    manager = bearer(db, "bench.manager", "lab_manager")
    technician = bearer(db, "bench.tech", "lab_technician")
    reviewer = {"Authorization": f"Bearer {account(db, REVIEWER, 'reviewer', PASSWORD)}"}
    qa = {"Authorization": f"Bearer {account(db, QA, 'qa', PASSWORD)}"}
    with TestClient(create_app(db)) as client:
        yield Lab(db, client, setup(client, manager), technician, reviewer, qa)


def entered_samples(lab: Lab, samples: int, run: int) -> tuple[list[int], list[int]]:
    """``samples`` fresh samples whose results are all submitted; (sample ids, result ids)."""
    client, tech = lab.client, lab.technician
    sample_ids, result_ids = [], []
    for i in range(samples):
        sample = created(
            client.post(
                f"{API}/records/sample",
                headers=tech,
                json={"data": {"sample_type": lab.sample_type, "client": f"Client {run}"}},
            )
        )
        path = f"{API}/records/sample/{sample['id']}/transitions/receive"
        created(client.post(path, headers=tech, json={}))
        results = created(
            client.get(f"{API}/records/result", headers=tech, params={"sample": sample["id"]})
        )["items"]
        for j, result in enumerate(results):
            created(
                client.patch(
                    f"{API}/records/result/{result['id']}",
                    headers={**tech, "If-Match": str(result["version"])},
                    json={"data": {"value": OUT_OF_SPEC if (i, j) == (0, 0) else IN_SPEC}},
                )
            )
        sample_ids.append(sample["id"])
        result_ids.extend(r["id"] for r in results)
    step_on_many(lab, tech, "result", "enter", {"ids": result_ids})
    return sample_ids, result_ids


def step_on_many(
    lab: Lab, headers: dict[str, str], type_key: str, step: str, body: dict[str, Any]
) -> float:
    """Seconds one request running ``step`` on many records took; every record must move."""
    started = perf_counter()
    response = lab.client.post(
        f"{API}/records/{type_key}/transitions/{step}", headers=headers, json=body
    )
    seconds = perf_counter() - started
    answer = created(response)
    if answer["refused"]:
        refusals = {i["id"]: i["refusal"]["detail"] for i in answer["items"] if not i["ok"]}
        raise SystemExit(f"{step}: {answer['refused']} refused: {refusals}")
    return seconds


def signed(username: str, **body: Any) -> dict[str, Any]:
    return {**body, "signature": {"username": username, "password": PASSWORD}}


@dataclass(frozen=True)
class Measure:
    """One request of one run: its time, its floor's, and the SQL statements it ran."""

    seconds: float
    floor: float
    statements: int


def one_run(lab: Lab, floor: Lab, samples: int, run: int) -> dict[str, Measure]:
    """Each measured request, by name, on fresh samples."""
    sample_ids, result_ids = entered_samples(lab, samples, run)
    if entered_samples(floor, samples, run) != (sample_ids, result_ids):
        raise SystemExit("the floor's database is not in the state of the measured one")
    requests = (
        (REVIEW, lab.reviewer, "result", "review", signed(REVIEWER, ids=result_ids)),
        (
            RELEASE,
            lab.qa,
            "sample",
            "release",
            signed(QA, ids=sample_ids, justification=JUSTIFICATION),
        ),
    )
    measures = {}
    for name, headers, type_key, step, body in requests:
        with WriteRecorder(lab.db) as writes:
            seconds = step_on_many(lab, headers, type_key, step, body)
        floor_seconds = replay(floor.db, writes.transactions)
        measures[name] = Measure(seconds, floor_seconds, writes.statements)
    return measures


def password_check_ms(rounds: int = 5) -> float:
    """Median milliseconds of one argon2id password check at the production cost."""
    hashed = hash_password(PASSWORD)
    times = []
    for _ in range(rounds):
        started = perf_counter()
        verify_password(hashed, PASSWORD)
        times.append(perf_counter() - started)
    return median(times) * 1000


def main() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    parser = parse_args(__doc__.splitlines()[0], 5)
    parser.add_argument("--runs", type=int, default=5, help="repetitions (default 5)")
    args = parser.parse_args()
    runs: list[dict[str, Measure]] = []
    with (
        bench_database(args.database) as db,
        bench_database(args.database) as floor_db,
        lims_lab(db) as lab,
        lims_lab(floor_db) as floor,
    ):
        for run in range(args.runs):
            runs.append(one_run(lab, floor, args.n, run))
        with db.read() as conn:
            chain = verify(conn)
        where = describe(db)
    rows = []
    for name, records in ((REVIEW, args.n * ANALYSES), (RELEASE, args.n)):
        times = [r[name].seconds for r in runs]
        floor = median([r[name].floor for r in runs])
        rows.append(
            [
                f"{name} ({records} records)",
                f"{median(times) * 1000:.0f}",
                f"{max(times) * 1000:.0f}",
                f"{median(times) / records * 1000:.1f}",
                f"{runs[-1][name].statements / records:.0f}",
                f"{floor * 1000:.0f}",
                f"{median(times) / floor:.1f}x",
            ]
        )
    print_table(
        f"One signing, {args.n} samples with {ANALYSES} results each, {args.runs} runs ({where})",
        [
            "request",
            "median ms",
            "max ms",
            "ms/record",
            "statements/record",
            "floor ms (median)",
            "median / floor",
        ],
        rows,
    )
    print(
        f"\nOne password check (argon2id, in each request, not in the floor): "
        f"{password_check_ms():.0f} ms"
    )
    print(
        f"Audit chain after the runs: "
        f"{'intact, ' + format(chain.events, ',') + ' events' if chain.ok else chain.summary()}"
    )


if __name__ == "__main__":
    main()
