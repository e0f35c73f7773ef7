"""``labledger report periodic`` and ``labledger report access``: the reviews as files.

Both read the database as the system (whoever runs them has it in hand).
``report access --record`` also keeps the review as a record, for an access
reviewer to sign in the browser; the file is written first, so a refusal
there (the ``reviews`` bundle not loaded) loses nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from labledger.cli_support import CliError, command_database, command_group
from labledger.errors import ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.reviews.access import UNUSED_DAYS, access_review, checked_unused_days
from labledger.reviews.documents import FORMATS, document, review_json
from labledger.reviews.period import parse_period
from labledger.reviews.periodic import periodic_review
from labledger.reviews.store import compare_with_last_signed, record_review


def add_report_commands(commands: Any) -> None:
    """Add ``labledger report ...`` to the ``labledger`` subcommands."""
    report = command_group(commands, "report", "periodic and access reviews")
    periodic = report.add_parser(
        "periodic", help="what happened in a period: changes, refusals, signatures, accounts"
    )
    periodic.add_argument(
        "--from",
        dest="first",
        required=True,
        metavar="YYYY-MM-DD",
        help="first day of the period (UTC, included)",
    )
    periodic.add_argument(
        "--to",
        dest="last",
        required=True,
        metavar="YYYY-MM-DD",
        help="last day of the period (UTC, included)",
    )
    periodic.add_argument("--format", choices=FORMATS, default="html")
    periodic.add_argument("--out", required=True, help="the file to write")
    periodic.set_defaults(handler=cmd_report_periodic)
    access = report.add_parser(
        "access", help="users, roles, tokens, unused accounts and red flags, as of now"
    )
    access.add_argument(
        "--unused-days",
        type=int,
        default=UNUSED_DAYS,
        metavar="N",
        help=f"list active accounts unused for N days (default {UNUSED_DAYS})",
    )
    access.add_argument("--format", choices=(*FORMATS, "json"), default="html")
    access.add_argument("--out", required=True, help="the file to write")
    access.add_argument(
        "--record",
        action="store_true",
        help="also keep the review as a record, for an access reviewer to sign",
    )
    access.set_defaults(handler=cmd_report_access)


def _one_line(exc: ValidationFailed) -> CliError:
    """A refused input as one line naming the option at fault."""
    return CliError("; ".join(f"--{e.field.replace('_', '-')}: {e.message}" for e in exc.errors))


def _write(path: str, content: bytes) -> None:
    try:
        Path(path).write_bytes(content)
    except OSError as exc:
        raise CliError(f"Cannot write {path}: {exc.strerror}") from None


def cmd_report_periodic(args: argparse.Namespace) -> int:
    try:
        period = parse_period(args.first, args.last)
    except ValidationFailed as exc:
        raise _one_line(exc) from None
    with command_database(args) as db, db.snapshot() as conn:
        review = periodic_review(conn, period)
    _write(args.out, document(review, args.format))
    print(f"Periodic review of {period.text}: {review.events:,} audit events. {args.out}")
    return 0


def cmd_report_access(args: argparse.Namespace) -> int:
    try:
        days = checked_unused_days(args.unused_days)
    except ValidationFailed as exc:
        raise _one_line(exc) from None
    with command_database(args) as db:
        with db.snapshot() as conn:
            review = access_review(conn, days)
            compare_with_last_signed(conn, review)
        if args.format == "json":
            content = json.dumps(review_json(review), indent=2).encode("utf-8")
        else:
            content = document(review, args.format)
        _write(args.out, content)
        print(
            f"Access review: {len(review.accounts)} users, {len(review.unused)} unused for "
            f"{days} days, {len(review.flags)} passwords set by an administrator then a "
            f"signature, {len(review.changes)} changes since "
            f"{review.compared_with or 'no signed review'}. {args.out}"
        )
        if args.record:  # after the file is written: a refusal here loses nothing
            with db.write() as conn:
                _, number = record_review(
                    conn, SYSTEM, review, max_bytes=db.settings.attachment_max_bytes
                )
            print(f"Recorded as access review {number}, for an access reviewer to sign.")
    return 0
