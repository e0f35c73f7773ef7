"""``labledger archive``: create, verify and restore archives of an installation.

Each prints a readable report and exits 1 when anything is not as it
should be; ``--report FILE`` also writes the report as JSON for the site's
records. The audit trails name the command line as the actor
(``system:command-line``): whoever runs these holds the database already.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from labledger.archive.check import check_archive, record_check
from labledger.archive.create import create_archive
from labledger.archive.load import restore_archive
from labledger.archive.progress import ProgressBar
from labledger.archive.proof import prove, record_proof
from labledger.archive.reading import ArchiveReader
from labledger.cli_support import EXIT_FAILED, CliError, command_database, command_group
from labledger.identity.principal import COMMAND_LINE


def add_archive_commands(commands: Any) -> None:
    """Add ``labledger archive ...`` to the ``labledger`` subcommands."""
    archive = command_group(commands, "archive", "archives: backup, restore drill, retention")
    create = archive.add_parser(
        "create", help="write the whole installation into one archive file, from one snapshot"
    )
    create.add_argument("file", type=Path)
    create.add_argument(
        "--with-credentials",
        action="store_true",
        help="include password hashes, API token hashes and webhook secrets (left out by "
        "default: restored people then need new passwords and tokens)",
    )
    create.add_argument("--force", action="store_true", help="replace FILE if it exists")
    create.set_defaults(handler=cmd_archive_create)

    verify = archive.add_parser(
        "verify", help="check an archive offline: read it whole, restore it on trial, prove it"
    )
    verify.add_argument("file", type=Path)
    verify.add_argument(
        "--quick",
        action="store_true",
        help="only read and check every member, row and content (no trial restore)",
    )
    verify.add_argument(
        "--scratch", type=Path, help="folder for the trial restore's temporary database"
    )
    verify.add_argument(
        "--record",
        action="store_true",
        help="record the outcome in this installation's audit trail (--database)",
    )
    verify.add_argument("--report", type=Path, help="also write the report as JSON to this file")
    verify.set_defaults(handler=cmd_archive_verify)

    restore = archive.add_parser(
        "restore",
        help="restore an archive into an empty database (--database), then prove it",
    )
    restore.add_argument("file", type=Path)
    restore.add_argument("--report", type=Path, help="also write the report as JSON to this file")
    restore.set_defaults(handler=cmd_archive_restore)


def cmd_archive_create(args: argparse.Namespace) -> int:
    path: Path = args.file
    if path.exists() and not args.force:
        raise CliError(f"{path} exists; choose another name or add --force to replace it.")
    if not path.parent.is_dir():
        raise CliError(f"Cannot write {path}: there is no folder {path.parent}.")
    with command_database(args) as db:
        try:
            manifest, manifest_hash = create_archive(
                db,
                path,
                actor=COMMAND_LINE,
                credentials=args.with_credentials,
                progress=ProgressBar(),
            )
        except OSError as exc:
            raise CliError(f"Cannot write {path}: {exc.strerror or exc}") from None
    rows = {entry.name: entry.rows for entry in manifest.tables}
    print(f"Archive written: {path}")
    print(
        f"  {rows.get('record', 0):,} records, {manifest.chain.events:,} audit events, "
        f"{manifest.blobs.count:,} attachment contents ({manifest.blobs.bytes:,} bytes), "
        f"schema {manifest.schema_revision}, "
        + ("with credentials" if manifest.credentials else "without credentials")
    )
    print(f"  manifest SHA-256: {manifest_hash} (recorded in the audit trail)")
    return 0


def cmd_archive_verify(args: argparse.Namespace) -> int:
    with ArchiveReader(args.file) as reader:
        check = check_archive(
            reader, trial_restore=not args.quick, progress=ProgressBar(), scratch=args.scratch
        )
    _report(check.lines(), check.ok, args.report, check.as_dict())
    if args.record:
        with command_database(args) as db:
            record_check(db, COMMAND_LINE, check)
        print("The outcome is recorded in the audit trail (archive.verified).")
    return 0 if check.ok else EXIT_FAILED


def cmd_archive_restore(args: argparse.Namespace) -> int:
    with ArchiveReader(args.file) as reader, command_database(args) as db:
        restore_archive(db, reader, progress=ProgressBar())
        proof = prove(db, reader)
        recorded = record_proof(db, COMMAND_LINE, proof, reader.manifest)
    _report(proof.lines(), proof.ok, args.report, proof.as_dict())
    if recorded:
        print("The restore and its proof are recorded in the audit trail (archive.restored).")
    else:
        print("The restore could not be recorded: the audit trail refuses new events.")
    return 0 if proof.ok else EXIT_FAILED


def _report(lines: list[str], ok: bool, path: Path | None, body: dict[str, Any]) -> None:
    """The report on stdout (stderr when something is wrong), and as JSON where asked."""
    print("\n".join(lines), file=sys.stdout if ok else sys.stderr)
    if path is not None:
        try:
            path.write_text(json.dumps(body, indent=2, default=str) + "\n", encoding="utf-8")
        except OSError as exc:
            raise CliError(f"Cannot write the report to {path}: {exc.strerror}") from None
