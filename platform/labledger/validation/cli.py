"""``labledger validate --out DIR``: qualify the installed configuration, write the report.

Exits non-zero when a case failed, so a site can run it in its own
pipeline; manual cases do not fail the run (the report lists them).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from labledger.cli_support import EXIT_FAILED, command_database
from labledger.printing.pdf import NO_PDF
from labledger.validation.cases import FAILED, MANUAL, PASSED
from labledger.validation.run import qualify
from labledger.validation.store import record_run


def add_validate_command(commands: Any) -> None:
    """Add ``labledger validate`` to the ``labledger`` subcommands."""
    validate = commands.add_parser(
        "validate",
        help="run tests generated from the installed configuration on a scratch copy of it",
    )
    validate.add_argument("--out", required=True, help="folder for the report (JSON and HTML)")
    validate.add_argument(
        "--change",
        type=int,
        metavar="N",
        help="qualify the configuration as change request N would leave it",
    )
    validate.add_argument(
        "--no-pdf",
        action="store_true",
        help="write the JSON and HTML report only (a pipeline reading the JSON needs no PDF)",
    )
    validate.add_argument(
        "--record",
        action="store_true",
        help="also keep the run in the installation, for a validation reviewer to sign",
    )
    validate.set_defaults(handler=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    with command_database(args) as db:
        report = qualify(db, args.change)
        counts = report.counts
        print(
            f"{len(report.cases)} cases in {time.perf_counter() - started:.1f} s: "
            f"{counts[PASSED]} passed, {counts[FAILED]} failed, "
            f"{counts[MANUAL]} need a manual test."
        )
        written = report.write(Path(args.out), pdf=not args.no_pdf)
        for path in written:
            print(f"  {path}")
        if not args.no_pdf and not any(path.suffix == ".pdf" for path in written):
            print(f"  (no PDF: {NO_PDF})")
        if args.record:  # after the report is written: a refusal here loses nothing
            with db.write() as conn:
                number = record_run(conn, report, max_bytes=db.settings.attachment_max_bytes)
            print(f"Recorded as validation run {number}, for a validation reviewer to sign.")
    return 0 if report.ok else EXIT_FAILED
