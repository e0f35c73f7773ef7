"""Bundle import and export: 50 object types of 40 fields each.

The bundle also carries 5 roles and 2 workflows; every field type appears,
a fifth of the fields are filterable (so the import creates expression
indexes), each type refers to the one before it, and half the types follow a
workflow. Timed, each on a new database, then on the loaded one:

- import into the empty database (everything is published, indexed, audited);
- dry run of the same bundle on the loaded database (rolled back);
- the same import again (nothing changes, nothing is written);
- export of everything (canonical bytes).

The raw-SQL floor is what the database itself must do for the import: the
statements of the import that write (inserts, updates, index and view DDL),
recorded with their parameters and replayed one by one in a transaction on
another empty database, without the platform's reads, checks and Python.
The ratio of the import to the floor shows what the platform adds.

Goal: well under a second each. Runs on a temporary SQLite file and, given
``--database`` or LABLEDGER_BENCH_DATABASE_URL / LABLEDGER_TEST_DATABASE_URL,
on PostgreSQL too (in a schema of its own, dropped at the end). ``--profile``
then prints where one more import spends its time (cProfile).

    .venv/bin/python bench/bundles.py [--repeat 3] [--database URL] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
from collections.abc import Callable
from time import perf_counter
from typing import Any

from common import WriteRecorder, bench_database, describe, print_table, replay
from labledger.bundles.export import export_bundle
from labledger.bundles.format import FORMAT, dump_bundle, parse_bundle
from labledger.bundles.importer import apply_bundle, preview_bundle
from labledger.db.engine import Database
from labledger.identity.principal import SYSTEM

TYPES = 50
FIELDS = 40
ROLES = ("analyst", "reviewer", "approver", "supervisor", "clerk")
GOAL_SECONDS = 1.0
DESCRIPTION = f"{TYPES} types of {FIELDS} fields"
FLOOR_STEP = "raw-SQL floor: the import's writes replayed"


def _field(type_index: int, n: int) -> dict[str, Any]:
    key = f"f{n:02d}"
    field: dict[str, Any] = {"key": key, "label": f"Field {n}"}
    kind = n % 12
    if kind == 0:
        field.update(type="text", max_length=80, required=n == 0, in_list=True)
    elif kind == 1:
        field.update(type="long_text")
    elif kind == 2:
        field.update(type="integer", min=0, max=1000000)
    elif kind == 3:
        field.update(type="decimal", precision=3, unit="mg/L", min=0)
    elif kind == 4:
        field.update(type="boolean", default=False)
    elif kind == 5:
        field.update(type="date")
    elif kind == 6:
        field.update(type="datetime")
    elif kind == 7:
        options = [{"value": f"o{i}", "label": f"Option {i}"} for i in range(6)]
        field.update(type="choice", options=options)
    elif kind == 8:
        options = [{"value": f"t{i}", "label": f"Tag {i}"} for i in range(4)]
        field.update(type="multi_choice", options=options)
    elif kind == 9:
        field.update(type="reference", to=f"type_{max(type_index - 1, 0):02d}")
    elif kind == 10:
        field.update(type="user")
    else:
        field.update(type="computed", result_type="number", expression="f02 * 2 + f03")
    if n % 5 == 0 and field["type"] not in ("long_text", "multi_choice", "computed"):
        field["filterable"] = True
    return field


def _workflow(key: str) -> dict[str, Any]:
    return {
        "key": key,
        "label": key.replace("_", " ").title(),
        "states": [
            {"key": "draft", "label": "Draft", "initial": True},
            {"key": "review", "label": "In review", "editable": "none"},
            {"key": "done", "label": "Done", "final": True, "editable": "none"},
        ],
        "transitions": [
            {"key": "submit", "label": "Submit", "from": ["draft"], "to": "review", "roles": ["*"]},
            {
                "key": "approve",
                "label": "Approve",
                "from": ["review"],
                "to": "done",
                "roles": ["approver"],
                "signature": {"meaning": "Approved"},
                "separation": {"creator": True},
            },
            {
                "key": "reject",
                "label": "Send back",
                "from": ["review"],
                "to": "draft",
                "roles": ["reviewer", "approver"],
                "reason_required": True,
            },
        ],
    }


def build_bundle() -> dict[str, Any]:
    types = []
    for t in range(TYPES):
        definition: dict[str, Any] = {
            "key": f"type_{t:02d}",
            "label": f"Type {t}",
            "plural": f"Types {t}",
            "numbering": f"T{t:02d}-{{YYYY}}-{{#####}}",
            "title": "{number} {f00}",
            "permissions": {
                "read": ["*"],
                "create": [ROLES[t % 5]],
                "edit": [ROLES[t % 5], ROLES[(t + 1) % 5]],
            },
            "fields": [_field(t, n) for n in range(FIELDS)],
        }
        if t % 2:
            definition["workflow"] = "flow_a" if t % 4 == 1 else "flow_b"
        types.append(definition)
    return {
        "format": FORMAT,
        "name": "bench",
        "version": "1",
        "description": DESCRIPTION,
        "roles": [
            {"key": r, "label": r.title(), "description": "", "permissions": []}
            for r in sorted(ROLES)
        ],
        "workflows": [_workflow("flow_a"), _workflow("flow_b")],
        "types": types,
        "mappings": [],
        "print_templates": [],
    }


def _timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = perf_counter()
    result = action()
    return perf_counter() - started, result


def _export(db: Database) -> bytes:
    with db.read() as conn:
        return dump_bundle(export_bundle(conn, SYSTEM, name="bench", description=DESCRIPTION))


def one_run(db: Database, floor_db: Database, raw: bytes) -> tuple[dict[str, float], WriteRecorder]:
    """Time each step once on ``db`` (empty at the start); check what each step did.

    The import's writes are recorded and replayed on ``floor_db`` (empty too).
    """
    seconds: dict[str, float] = {}
    seconds["read and check the document"], _ = _timed(lambda: parse_bundle(raw))
    seconds["dry run on the empty database"], preview = _timed(
        lambda: preview_bundle(db, SYSTEM, raw)
    )
    with WriteRecorder(db) as recorder:
        seconds["import into the empty database"], report = _timed(
            lambda: apply_bundle(db, SYSTEM, raw)
        )
    seconds[FLOOR_STEP] = replay(floor_db, recorder.transactions)
    seconds["import again (nothing changes)"], again = _timed(lambda: apply_bundle(db, SYSTEM, raw))
    seconds["export everything"], exported = _timed(lambda: _export(db))
    assert preview.changed and report.changed and not again.changed
    assert {i.action for i in report.items} == {"added"}
    assert exported == raw, "the export differs from the imported bundle"
    return seconds, recorder


def profile(url: str | None, raw: bytes) -> None:
    """Where the import into an empty database spends its time, by function (cProfile)."""
    with bench_database(url) as db:
        preview_bundle(db, SYSTEM, raw)  # warm-up: compiled schemas, statement caches
        profiler = cProfile.Profile()
        profiler.enable()
        apply_bundle(db, SYSTEM, raw)
        profiler.disable()
        print(f"\nProfile of the import on {describe(db)} (cumulative time, top 30):")
    stats = pstats.Stats(profiler, stream=sys.stdout).strip_dirs()
    stats.sort_stats("cumulative").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median shown)")
    parser.add_argument("--database", help="a PostgreSQL URL to run on as well")
    parser.add_argument(
        "--profile", action="store_true", help="afterwards, profile one more import (cProfile)"
    )
    args = parser.parse_args()
    postgres = (
        args.database
        or os.environ.get("LABLEDGER_BENCH_DATABASE_URL")
        or os.environ.get("LABLEDGER_TEST_DATABASE_URL")
    )
    raw = dump_bundle(build_bundle())
    print(f"Bundle: {TYPES} types x {FIELDS} fields, {len(raw):,} bytes")
    for url in [None] + ([postgres] if postgres else []):
        runs = []
        for _ in range(args.repeat):
            with bench_database(url) as db, bench_database(url) as floor_db:
                name = describe(db)
                seconds, recorder = one_run(db, floor_db, raw)
                runs.append(seconds)
        rows = [
            (
                step,
                f"{statistics.median(r[step] for r in runs):.3f}",
                f"{max(r[step] for r in runs):.3f}",
            )
            for step in runs[0]
        ]
        print_table(f"{name} (seconds, {args.repeat} runs)", ("step", "median", "max"), rows)
        ratio = statistics.median(r["import into the empty database"] / r[FLOOR_STEP] for r in runs)
        print(
            f"  import / raw-SQL floor: {ratio:.1f}x (median); the import ran "
            f"{recorder.statements:,} SQL statements, {recorder.write_count:,} of them writes"
        )
        if args.profile:
            profile(url, raw)
    print(f"\nGoal: each well under {GOAL_SECONDS:.0f} s.")


if __name__ == "__main__":
    main()
