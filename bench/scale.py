"""A lab's day over the API on top of years of released samples: does it hold at scale?

Set-up: the shipped LIMS configuration (``seeds/lims``), a lab manager, a lab
technician, a reviewer and a QA user (each with an API token, and with a
password: reviews and releases are signed), ``--analyses`` K analyses and a
sample type that gets all of them.

Bulk load (not the platform's work, not what is measured): ``--samples`` N
released samples spread over the past ten years (over more when a year would
pass 99,999 samples, the limit of the numbering ``SMP-{YYYY}-{#####}``), each
with K reviewed results (e.g. ``SMP-2016-00001-R01``), written straight into
the tables (COPY on PostgreSQL, executemany on SQLite) in batches: the record
rows, their reference rows (result to sample and analysis, sample to sample
type), one ``record.create`` audit event per record, hashed and chained onto
the existing trail with the platform's own hash functions, the chain tip
moved on, and number counters set after the loaded numbers (no outbox rows).
The load rate is printed with the time the default size (1,000,000 samples:
11,000,000 records and as many events with 10 analyses) would take at that
rate; the tables are then vacuumed and analysed as autovacuum would.

Load: for each ``--workers`` count, the application served by uvicorn with
that many processes, and ``--clients`` concurrent clients (lean keep-alive
HTTP clients, ``lean_http.py``, one thread each) taking one sample after
another through the lab's day for ``--seconds``: register it and receive it
(which creates its K results), start testing, list its results, give each
result its value (PATCH with If-Match) and submit it (``enter``), all as the
technician; review each result, signed, as the reviewer; read the sample and
send it to review if the last review has not (the workflow moves it on by
itself once every result is reviewed); release it, signed, as QA. Reported
per step: requests, requests per second, p50 and p95 of the time around the
HTTP call, and errors (any answer but 2xx; the first few are printed); samples
released per second; on PostgreSQL the deadlocks the database detected during
the run (``pg_stat_database``, database-wide).

Afterwards: record numbers used twice (SQL), and ``audit verify`` over the
whole database, timed.

Goals: 0 errors, 0 deadlocks, 0 duplicate numbers, audit trail intact;
throughput and p50/p95 per step with 1, 2 and 4 workers reported.

    .venv/bin/python bench/scale.py [--database URL] [--samples 1000000] [--analyses 10]
        [--clients 50] [--seconds 300] [--workers 1,2,4]
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from queue import Queue
from time import perf_counter, sleep
from typing import Any

from litestar.testing import TestClient
from sqlalchemy import Connection, bindparam, select, update

from common import (
    analyse,
    bench_database,
    describe,
    median,
    parse_args,
    percentile,
    print_table,
    record_stamp,
)
from labledger.app import create_app
from labledger.audit.results import record_result
from labledger.audit.trail import (
    EVENT_HASH_VERSION,
    HASHED_COLUMNS,
    Tip,
    body_hash,
    lane_link,
    lane_of,
)
from labledger.audit.verify import verify
from labledger.db.engine import Database
from labledger.db.tables import audit_head, record
from labledger.db.types import dump_json, utc_now
from labledger.expressions.errors import EvaluationError
from labledger.metadata.fieldtypes import computed_result
from labledger.metadata.model import TypeModel
from labledger.metadata.types import type_model
from labledger.records.relations import related_functions
from lean_http import LeanClient
from lims_receive import ANALYSES, API, account, bearer, load_lims, setup
from readers import served, server_url

SAMPLES = 1_000_000
CLIENTS = 50
SECONDS = 300.0
#: The users of the lab's day; reviews and releases are signed with PASSWORD.
TECHNICIAN, REVIEWER, QA = "bench.tech", "bench.reviewer", "bench.qa"
ROLES = {TECHNICIAN: "lab_technician", REVIEWER: "reviewer", QA: "qa"}
PASSWORD = "seven samples before lunch"

#: The loaded samples span this many past years at least, at most PER_YEAR in one.
YEARS = 10
PER_YEAR = 99_999
#: The numbering the loader writes by hand, checked against the published types.
SAMPLE_NUMBERING = "SMP-{YYYY}-{#####}"
RESULT_NUMBERING = "{parent}-R{##}"
#: Samples per load transaction, each with its results, references and events.
LOAD_BATCH = 1000
PRIORITIES = ("routine",) * 8 + ("urgent", "stat")
DUE_DAYS = {"routine": 10, "urgent": 3, "stat": 0}

#: The record table's columns, in its order.
RECORD_FIELDS = tuple(column.name for column in record.c)
#: An event's columns but its place in the chain, as the platform hashes them
#: (seq first; prev_hash, hash, hash_version and result_hash last).
EVENT_BODY = tuple(name for name in HASHED_COLUMNS if name not in ("seq", "prev_hash"))
RECORD_COLUMNS = ", ".join(RECORD_FIELDS)
EVENT_COLUMNS = (
    f"seq, {', '.join(EVENT_BODY)}, prev_hash, hash, hash_version, result_hash, lane, lane_seq"
)
REFERENCE_COLUMNS = "source_id, field_key, target_id"
COUNTER_COLUMNS = "scope, last_value"

STEPS = (
    "register",
    "receive",
    "start_testing",
    "list results",
    "value (PATCH)",
    "enter",
    "review (signed)",
    "read sample",
    "to_review",
    "release (signed)",
)
#: Errors printed as they happen (all are counted).
SHOWN_ERRORS = 5
_DEADLOCKS = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
_SIZE = """
SELECT sum(pg_total_relation_size(oid)) FROM pg_class
WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'
"""
_TWICE = "SELECT count(*) FROM (SELECT number FROM record GROUP BY number HAVING count(*) > 1) t"


# --- set-up ---


@dataclass(frozen=True)
class Site:
    """What the loader and the clients need: API tokens by user, the sample type, analyses."""

    tokens: dict[str, str]
    sample_type: int
    analyses: list[int]


def prepare(db: Database, analyses: int) -> Site:
    """The LIMS bundle, the four users, ``analyses`` analyses and the sample type."""
    load_lims(db)
    manager = bearer(db, "bench.manager", "lab_manager")
    tokens = {username: account(db, username, role, PASSWORD) for username, role in ROLES.items()}
    with TestClient(create_app(db)) as client:
        sample_type = setup(client, manager, analyses)
    with db.read() as conn:
        data = conn.execute(select(record.c.data).where(record.c.id == sample_type)).scalar_one()
    return Site(tokens, sample_type, list(data["default_analyses"]))


# --- bulk load ---


def _text(moment: datetime) -> str:
    """A datetime field's value as the platform stores it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _copy(conn: Connection, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
    """Rows into ``table``: COPY on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join("?" * len(rows[0]))
        conn.exec_driver_sql(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


@dataclass
class Batch:
    """One load transaction's rows; events wait for their place in the chain."""

    records: list[tuple[Any, ...]] = field(default_factory=list)
    references: list[tuple[Any, ...]] = field(default_factory=list)
    #: (the event's ``EVENT_BODY`` columns, its body hash, its result hash, its record)
    events: list[tuple[tuple[Any, ...], str, str, int]] = field(default_factory=list)
    counters: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class LoadReport:
    samples: int
    records: int
    references: int
    seconds: float

    @property
    def rate(self) -> float:
        """Records per second, each with its audit event and reference rows."""
        return self.records / self.seconds


class BulkLoad:
    """Released samples with reviewed results, written straight into the tables."""

    def __init__(self, db: Database, site: Site, samples: int) -> None:
        self.db, self.site, self.samples = db, site, samples
        self.postgres = db.dialect == "postgresql"
        years = max(YEARS, math.ceil(samples / PER_YEAR))
        self.per_year = max(1, math.ceil(samples / years))
        self.first_year = utc_now().year - years
        #: Seconds between two registrations, and from registration to receipt.
        self.spacing = 365 * 86400 // self.per_year
        self.delay = min(3600, self.spacing // 2)
        self.rng = random.Random(2026)
        with db.read() as conn:
            self.sample_model = type_model(conn, "sample")
            self.result_model = type_model(conn, "result")
            self.copied = [self._copied(conn, analysis) for analysis in site.analyses]
        child = self.result_model.spec.child_numbering
        numbering = (self.sample_model.spec.numbering, getattr(child, "pattern", None))
        if numbering != (SAMPLE_NUMBERING, RESULT_NUMBERING):
            raise SystemExit(f"the LIMS bundle numbers samples and results {numbering}")
        self._computed: dict[tuple[int, float], dict[str, Any]] = {}

    def _copied(self, conn: Connection, analysis: int) -> dict[str, Any]:
        """What receiving copies into a result from its analysis: the result type's
        default expressions (``lookup(analysis).unit`` ...), run by the platform."""
        data = {"analysis": analysis}
        functions = related_functions(conn, None, data)
        copied = {}
        for key, expression in self.result_model.default_expressions.items():
            try:
                value = expression.evaluate(data, functions)
            except EvaluationError:
                continue
            if value is not None:
                copied[key] = value
        return copied

    def _computed_fields(self, index: int, data: dict[str, Any]) -> dict[str, Any]:
        """The result's computed fields (out of specification, warning, detection) as the
        platform computes them, once per analysis and value."""
        key = (index, data["value"])
        found = self._computed.get(key)
        if found is None:
            merged = dict(data)
            for name, expression in self.result_model.computed:
                try:
                    value = expression.evaluate(merged)
                except EvaluationError:
                    value = None
                merged[name] = computed_result(self.result_model.field_specs[name], value)
            names = [name for name, _ in self.result_model.computed]
            found = {name: merged[name] for name in names if merged[name] is not None}
            self._computed[key] = found
        return found

    def _value(self, precision: int) -> float:
        """A measured value: mostly within the limits, some in the warning band or out."""
        value = round(abs(self.rng.gauss(20, 9)), precision)
        return round(value + 10**-precision, precision) if value.is_integer() else value

    def _stored(self, row: dict[str, Any], names: tuple[str, ...]) -> tuple[Any, ...]:
        """The values of ``names`` as the bulk writer takes them: documents as JSON text,
        times as the database keeps them."""
        return tuple(
            dump_json(value)
            if isinstance(value := row[name], dict)
            else record_stamp(value, self.postgres)
            if isinstance(value, datetime)
            else value
            for name in names
        )

    def _add(
        self,
        batch: Batch,
        model: TypeModel,
        number: str,
        record_id: int,
        state: str,
        data: dict[str, Any],
        moment: datetime,
    ) -> None:
        """A record row, created by the technician at ``moment`` in ``state``, and its
        ``record.create`` event (not yet chained), hashed over the row as stored."""
        row = {
            "id": record_id,
            "type_key": model.key,
            "type_version": model.version,
            "number": number,
            "title": model.render_title(number, data),
            "state": state,
            "data": data,
            "version": 1,
            "created_at": moment,
            "created_by": TECHNICIAN,
            "updated_at": moment,
            "updated_by": TECHNICIAN,
        }
        result_hash = record_result(row)
        changes = {"state": {"old": None, "new": state}}
        changes.update({k: {"old": None, "new": v} for k, v in sorted(data.items())})
        event = {
            "occurred_at": moment,
            "actor": TECHNICIAN,
            "action": "record.create",
            "type_key": model.key,
            "record_id": record_id,
            "record_number": number,
            "changes": changes,
            "reason": None,
            "config_version": model.version,
            "details": None,
            "hash_version": EVENT_HASH_VERSION,
            "result_hash": result_hash,
        }
        batch.records.append(self._stored(row, RECORD_FIELDS))
        batch.events.append(
            (self._stored(event, EVENT_BODY), body_hash(event), result_hash, record_id)
        )

    def _sample(self, batch: Batch, i: int, sample_id: int) -> None:
        """Sample ``i`` (from 0), released, and its results, reviewed."""
        year, index = self.first_year + i // self.per_year, i % self.per_year + 1
        start_of_year = datetime(year, 1, 1, tzinfo=UTC)
        registered = start_of_year + timedelta(seconds=(index - 1) * self.spacing)
        received = registered + timedelta(seconds=self.delay)
        number = f"SMP-{year}-{index:05d}"
        priority = PRIORITIES[i % len(PRIORITIES)]
        data = {
            "sample_type": self.site.sample_type,
            "client": f"Client {i % 200:03d}",
            "sampling_point": f"Tap {i % 50 + 1}",
            "collected_at": _text(registered - timedelta(hours=2)),
            "priority": priority,
            "due_date": (registered.date() + timedelta(days=DUE_DAYS[priority])).isoformat(),
            "received_at": _text(received),
            "received_by": TECHNICIAN,
            "released_at": _text(received + timedelta(days=3)),
            "released_by": QA,
        }
        self._add(batch, self.sample_model, number, sample_id, "released", data, registered)
        batch.references.append((sample_id, "sample_type", self.site.sample_type))
        batch.counters.append((f"{number}-R{{##}}", len(self.site.analyses)))
        entered, reviewed = _text(received + timedelta(days=1)), _text(received + timedelta(days=2))
        for k, analysis in enumerate(self.site.analyses):
            copied = self.copied[k]
            data = {
                **copied,
                "sample": sample_id,
                "analysis": analysis,
                "value": self._value(copied.get("precision", 2)),
            }
            data.update(self._computed_fields(k, data))
            data.update(
                analyst=TECHNICIAN, entered_at=entered, reviewed_by=REVIEWER, reviewed_at=reviewed
            )
            result_id = sample_id + k + 1
            result_number = f"{number}-R{k + 1:02d}"
            self._add(
                batch, self.result_model, result_number, result_id, "reviewed", data, received
            )
            batch.references.append((result_id, "sample", sample_id))
            batch.references.append((result_id, "analysis", analysis))

    def batches(self, first_id: int) -> Iterator[Batch]:
        per_sample = len(self.site.analyses) + 1
        for start in range(0, self.samples, LOAD_BATCH):
            batch = Batch()
            for i in range(start, min(self.samples, start + LOAD_BATCH)):
                self._sample(batch, i, first_id + i * per_sample)
            yield batch

    def _first_id(self, conn: Connection) -> int:
        if self.postgres:
            return int(
                conn.exec_driver_sql(
                    "SELECT nextval(pg_get_serial_sequence('record', 'id'))"
                ).scalar_one()
            )
        return int(conn.exec_driver_sql("SELECT coalesce(max(id), 0) + 1 FROM record").scalar_one())

    def _last_seq(self, conn: Connection) -> int:
        if self.postgres:
            return int(conn.exec_driver_sql("SELECT nextval('audit_event_seq')").scalar_one()) - 1
        return int(
            conn.exec_driver_sql("SELECT coalesce(max(seq), 0) FROM audit_event").scalar_one()
        )

    def run(self) -> LoadReport:
        """Load every batch, each event chained in the lane of its record, as the platform
        would have chained it (the load writes alone, so it takes the sequence numbers
        and the lanes' tips once, at the start)."""
        started = perf_counter()
        with self.db.write() as conn:
            tips = {
                row.id: Tip(row.id, row.seq, row.hash)
                for row in conn.execute(
                    select(audit_head.c.id, audit_head.c.seq, audit_head.c.hash)
                )
            }
            first_id = self._first_id(conn)
            seq = self._last_seq(conn)
        records = references = 0
        for batch in _made_ahead(self.batches(first_id)):
            events = []
            for columns, body, result_hash, record_id in batch.events:
                seq += 1
                tip = tips[lane_of(record_id)]
                position = tip.position + 1
                link = lane_link(tip.hash, tip.lane, position, seq, body)
                events.append(
                    (
                        seq,
                        *columns,
                        tip.hash,
                        link,
                        EVENT_HASH_VERSION,
                        result_hash,
                        tip.lane,
                        position,
                    )
                )
                tips[tip.lane] = Tip(tip.lane, position, link)
            with self.db.write() as conn:
                _copy(conn, "record", RECORD_COLUMNS, batch.records)
                _copy(conn, "record_reference", REFERENCE_COLUMNS, batch.references)
                _copy(conn, "audit_event", EVENT_COLUMNS, events)
                _copy(conn, "number_counter", COUNTER_COLUMNS, batch.counters)
                conn.execute(
                    update(audit_head)
                    .where(audit_head.c.id == bindparam("lane"))
                    .values(seq=bindparam("position"), hash=bindparam("tip_hash")),
                    [
                        {"lane": t.lane, "position": t.position, "tip_hash": t.hash}
                        for t in tips.values()
                    ],
                )
            records += len(batch.records)
            references += len(batch.references)
        if self.postgres and records:
            with self.db.write() as conn:
                conn.exec_driver_sql(f"SELECT setval('audit_event_seq', {seq})")
        with self.db.write() as conn:
            _copy(conn, "number_counter", COUNTER_COLUMNS, list(self.year_counters()))
            if self.postgres and records:
                last = first_id + records - 1
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('record', 'id'), {last})"
                )
        return LoadReport(self.samples, records, references, perf_counter() - started)

    def year_counters(self) -> Iterable[tuple[str, int]]:
        """Each loaded year's sample counter (scope), at its last loaded number."""
        for year_index in range(math.ceil(self.samples / self.per_year)):
            count = min(self.per_year, self.samples - year_index * self.per_year)
            yield f"SMP-{self.first_year + year_index}-{{#####}}", count


def _made_ahead(batches: Iterator[Batch]) -> Iterator[Batch]:
    """``batches``, each made by a thread of its own while the one before is written:
    making them (hashing) is Python's work, writing them mostly the database's."""
    ready: Queue[Batch | None] = Queue(maxsize=2)
    failed: list[BaseException] = []

    def make() -> None:
        try:
            for batch in batches:
                ready.put(batch)
        except BaseException as exc:  # raised again by the consumer
            failed.append(exc)
        finally:
            ready.put(None)

    maker = threading.Thread(target=make, daemon=True)
    maker.start()
    while (batch := ready.get()) is not None:
        yield batch
    maker.join()
    if failed:
        raise failed[0]


# --- the lab's day over HTTP ---


class Stop(Exception):
    """The run's time is up: no new request."""


class Refused(Exception):
    """A request failed (counted and reported already): the client drops this sample."""


class Http(LeanClient):
    """``LeanClient`` for any method, with headers per request (the user's token, If-Match)."""

    def send(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> tuple[int, bytes]:
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        payload = b"" if body is None else json.dumps(body).encode()
        if body is not None:
            lines += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self._fixed + lines.encode() + b"\r\n"
        self._sock.sendall(head + payload)
        return self._answer()


@dataclass
class Tally:
    """One client's requests: seconds of each answered one by step, errors, samples."""

    times: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STEPS, 0))
    released: int = 0
    #: Samples the last review had already sent to review (no to_review request needed).
    moved_by_review: int = 0

    def merge(self, other: Tally) -> None:
        for step in STEPS:
            self.times[step] += other.times[step]
            self.errors[step] += other.errors[step]
        self.released += other.released
        self.moved_by_review += other.moved_by_review


@dataclass
class Run:
    workers: int
    seconds: float
    tally: Tally
    deadlocks: int | None

    @property
    def errors(self) -> int:
        return sum(self.tally.errors.values())

    @property
    def requests(self) -> int:
        return sum(len(times) for times in self.tally.times.values()) + self.errors


class Reporter:
    """Prints the first SHOWN_ERRORS errors of a run as they happen."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.shown = 0

    def error(self, step: str, what: str) -> None:
        with self.lock:
            self.shown += 1
            if self.shown <= SHOWN_ERRORS:
                print(f"  error in {step}: {what}", flush=True)


class LabClient:
    """One client taking sample after sample through the lab's day until the deadline."""

    def __init__(
        self, base: str, site: Site, deadline: float, reporter: Reporter, seed: int
    ) -> None:
        self.base, self.deadline, self.reporter = base, deadline, reporter
        self.auth = {user: f"Bearer {token}" for user, token in site.tokens.items()}
        self.site = site
        self.tally = Tally()
        self.rng = random.Random(seed)
        self.http: Http | None = None
        self.signed = {
            user: {"signature": {"username": user, "password": PASSWORD}} for user in (REVIEWER, QA)
        }

    def call(
        self,
        step: str,
        user: str,
        method: str,
        path: str,
        body: Any = None,
        if_match: int | None = None,
    ) -> Any:
        """The answer of one request, decoded; ``Refused`` for anything but 2xx."""
        if perf_counter() >= self.deadline:
            raise Stop
        headers = {"Authorization": self.auth[user]}
        if if_match is not None:
            headers["If-Match"] = str(if_match)
        started = perf_counter()
        try:
            if self.http is None:
                self.http = Http(self.base, {})
            status, answer = self.http.send(method, f"{API}{path}", headers, body)
        except (OSError, ValueError) as exc:  # no answer, or not HTTP
            if self.http is not None:
                self.http.close()
            self.http = None
            sleep(0.1)
            self.refused(step, f"no answer ({exc!r})")
        took = perf_counter() - started
        if not 200 <= status < 300:
            self.refused(step, f"{status} {method} {path}: {answer[:500].decode(errors='replace')}")
        self.tally.times[step].append(took)
        return json.loads(answer)

    def refused(self, step: str, what: str) -> None:
        self.tally.errors[step] += 1
        self.reporter.error(step, what)
        raise Refused

    def sample(self, n: int) -> None:
        """One sample from registration to release."""
        tech = TECHNICIAN
        now = utc_now()
        data = {
            "sample_type": self.site.sample_type,
            "client": f"Client {n % 200:03d}",
            "sampling_point": f"Tap {n % 50 + 1}",
            "collected_at": _text(now - timedelta(hours=1)),
        }
        sample = self.call("register", tech, "POST", "/records/sample", {"data": data})
        path = f"/records/sample/{sample['id']}"
        self.call("receive", tech, "POST", f"{path}/transitions/receive", {})
        self.call("start_testing", tech, "POST", f"{path}/transitions/start_testing", {})
        wanted = len(self.site.analyses)
        listed = f"/records/result?sample={sample['id']}&limit={wanted}"
        results = self.call("list results", tech, "GET", listed)["items"]
        if len(results) != wanted:
            self.refused("list results", f"{len(results)} results instead of {wanted}")
        for result in results:
            value = round(abs(self.rng.gauss(20, 9)), 2) or 0.01
            at = f"/records/result/{result['id']}"
            change = {"data": {"value": value}}
            self.call("value (PATCH)", tech, "PATCH", at, change, if_match=result["version"])
            self.call("enter", tech, "POST", f"{at}/transitions/enter", {})
        for result in results:
            at = f"/records/result/{result['id']}/transitions/review"
            self.call("review (signed)", REVIEWER, "POST", at, self.signed[REVIEWER])
        state = self.call("read sample", tech, "GET", path)["state"]
        if state == "in_testing":
            self.call("to_review", tech, "POST", f"{path}/transitions/to_review", {})
        elif state == "awaiting_review":
            self.tally.moved_by_review += 1
        else:
            self.refused("read sample", f"sample {sample['number']} is {state!r}")
        self.call("release (signed)", QA, "POST", f"{path}/transitions/release", self.signed[QA])
        self.tally.released += 1

    def work(self) -> None:
        n = 0
        while True:
            try:
                self.sample(n)
            except Stop:
                break
            except Refused:
                pass
            n += 1
        if self.http is not None:
            self.http.close()


def deadlocks(db: Database) -> int | None:
    """Deadlocks PostgreSQL has detected in this database so far (None on SQLite)."""
    if db.dialect != "postgresql":
        return None
    with db.engine.connect() as conn:
        return int(conn.exec_driver_sql(_DEADLOCKS).scalar_one())


def lab_day(db: Database, site: Site, workers: int, clients: int, seconds: float) -> Run:
    before = deadlocks(db)
    reporter = Reporter()
    with served(db, workers, url=server_url(db)) as base:
        started = perf_counter()
        lab = [
            LabClient(base, site, started + seconds, reporter, seed)
            for seed in range(workers * 1000, workers * 1000 + clients)
        ]
        threads = [threading.Thread(target=client.work) for client in lab]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = perf_counter() - started
    tally = Tally()
    for client in lab:
        tally.merge(client.tally)
    found = None
    if before is not None:
        sleep(1.0)  # the server's connections report their statistics as they close
        found = (deadlocks(db) or 0) - before
    return Run(workers, elapsed, tally, found)


def step_rows(run: Run) -> list[list[object]]:
    rows: list[list[object]] = []
    for step in STEPS:
        times = run.tally.times[step]
        ms = [t * 1000 for t in times]
        rows.append(
            [
                step,
                f"{len(times):,}",
                f"{len(times) / run.seconds:,.1f}",
                f"{median(ms):.1f}" if ms else "-",
                f"{percentile(ms, 0.95):.1f}" if ms else "-",
                run.tally.errors[step],
            ]
        )
    return rows


# --- afterwards ---


def duplicate_numbers(db: Database) -> int:
    with db.read() as conn:
        return int(conn.exec_driver_sql(_TWICE).scalar_one())


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = parse_args(__doc__.split("\n\n")[0], default_n=SAMPLES)
    parser.add_argument(
        "--samples",
        dest="n",
        type=int,
        default=SAMPLES,
        help=f"samples to load, each with its results, the same as -n (default {SAMPLES:,})",
    )
    parser.add_argument(
        "--analyses", type=int, default=ANALYSES, help=f"analyses per sample (default {ANALYSES})"
    )
    parser.add_argument(
        "--clients", type=int, default=CLIENTS, help=f"concurrent clients (default {CLIENTS})"
    )
    parser.add_argument(
        "--seconds", type=float, default=SECONDS, help=f"seconds per run (default {SECONDS:.0f})"
    )
    parser.add_argument("--workers", default="1,2,4", help="server process counts (default 1,2,4)")
    args = parser.parse_args()
    if not 1 <= args.analyses <= 99:
        parser.error("--analyses must be 1 to 99 (results are numbered -R01 to -R99)")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the set-up's test client
    worker_counts = [int(w) for w in args.workers.split(",")]
    with bench_database(args.database) as db:
        print(
            f"Scale benchmark on {describe(db)}: {args.n:,} samples with {args.analyses} "
            f"analyses each, {args.clients} clients, {args.seconds:.0f} s per run with "
            f"{', '.join(map(str, worker_counts))} worker(s)"
        )
        site = prepare(db, args.analyses)
        loader = BulkLoad(db, site, args.n)
        load = loader.run()
        per_sample = args.analyses + 1
        print(
            f"\nbulk load: {load.samples:,} samples and {load.samples * args.analyses:,} results "
            f"({load.records:,} records, as many audit events, {load.references:,} references) "
            f"in {load.seconds:.1f} s: {load.rate:,.0f} records/s"
        )
        counters = list(loader.year_counters())
        if counters:
            last_scope, last_value = counters[-1]
            print(
                f"  numbered SMP-{loader.first_year}-00001 to "
                f"{last_scope.replace('{#####}', f'{last_value:05d}')}, {len(counters)} years "
                f"of at most {loader.per_year:,} samples"
            )
        full = SAMPLES * per_sample
        print(
            f"  at this rate {SAMPLES:,} samples with {args.analyses} analyses ({full:,} records "
            f"and as many events) would load in {full / load.rate / 60:.0f} min (linear)"
        )
        started = perf_counter()
        analyse(db, "record", "record_reference", "audit_event", "number_counter", vacuum=True)
        if db.dialect == "postgresql":
            with db.read() as conn:
                size = int(conn.exec_driver_sql(_SIZE).scalar_one())
            print(f"  VACUUM ANALYZE afterwards: {perf_counter() - started:.1f} s")
            print(f"  tables with their indexes: {size / 2**30:.1f} GiB")

        runs = []
        for workers in worker_counts:
            print(f"\n{workers} worker(s): {args.clients} clients for {args.seconds:.0f} s ...")
            run = lab_day(db, site, workers, args.clients, args.seconds)
            runs.append(run)
            print_table(
                f"The lab's day with {workers} worker(s), {args.clients} clients, "
                f"{run.seconds:.0f} s ({describe(db)})",
                ["step", "requests", "per s", "p50 ms", "p95 ms", "errors"],
                step_rows(run),
            )
            released = run.tally.released
            print(
                f"  samples released: {released:,} ({released / run.seconds:.2f}/s); sent to "
                f"review by their last review (no to_review needed): {run.tally.moved_by_review:,}"
            )
        print_table(
            "Per worker count",
            ["workers", "requests/s", "samples/s", "released", "errors", "deadlocks"],
            [
                [
                    run.workers,
                    f"{run.requests / run.seconds:,.1f}",
                    f"{run.tally.released / run.seconds:.2f}",
                    f"{run.tally.released:,}",
                    run.errors,
                    "-" if run.deadlocks is None else run.deadlocks,
                ]
                for run in runs
            ],
        )

        twice = duplicate_numbers(db)
        started = perf_counter()
        with db.snapshot() as conn:
            report = verify(conn)
        verify_seconds = perf_counter() - started
        print(f"\nrecord numbers used twice: {twice:,}")
        print(f"audit verify ({verify_seconds:.1f} s): {report.summary()}")
        for discrepancy in report.discrepancies[:10]:
            print(f"  {discrepancy.kind}: {discrepancy.message}")

        errors = sum(run.errors for run in runs)
        print("\nGoals:")
        print(f"  0 errors: {errors:,} ({_verdict(errors == 0)})")
        if db.dialect == "postgresql":
            found = sum(run.deadlocks or 0 for run in runs)
            print(f"  0 deadlocks: {found:,} ({_verdict(found == 0)})")
        else:
            print("  0 deadlocks: not counted on SQLite")
        print(f"  0 duplicate numbers: {twice:,} ({_verdict(twice == 0)})")
        print(f"  audit verify intact: {'yes' if report.ok else 'NO'} ({_verdict(report.ok)})")


if __name__ == "__main__":
    main()
