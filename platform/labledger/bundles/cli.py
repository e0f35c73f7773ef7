"""``labledger config export`` and ``labledger config import``.

The commands act as the system (like every ``labledger`` administration
command: whoever runs them has the database in hand). Problems reach the
operator as one readable message and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from labledger.bundles.export import DEFAULT_NAME, DEFAULT_VERSION, export_bundle
from labledger.bundles.format import dump_bundle
from labledger.bundles.importer import ImportConflict, apply_bundle, preview_bundle
from labledger.bundles.report import count_of
from labledger.cli_support import EXIT_FAILED, CliError, command_database, read_input
from labledger.identity.principal import SYSTEM


def add_config_commands(commands: Any) -> None:
    """Add ``config export`` and ``config import`` to the ``labledger`` subcommands."""
    config = commands.add_parser(
        "config", help="export and import configuration bundles"
    ).add_subparsers(dest="config_command", required=True, metavar="ACTION")

    export = config.add_parser(
        "export", help="write the configuration (or some types and what they need) as a bundle"
    )
    export.add_argument("--types", help="comma-separated type keys (default: all of them)")
    export.add_argument("--out", help="the file to write (default: standard output)")
    export.add_argument("--name", default=DEFAULT_NAME, help="the bundle's name")
    export.add_argument(
        "--bundle-version", default=DEFAULT_VERSION, help="the bundle's version (text)"
    )
    export.add_argument("--description", default="", help="the bundle's description")
    export.set_defaults(handler=cmd_config_export)

    load = config.add_parser("import", help="import a bundle from a JSON file (- for stdin)")
    load.add_argument("file")
    load.add_argument(
        "--dry-run", action="store_true", help="report what would change and change nothing"
    )
    load.add_argument(
        "--force",
        action="store_true",
        help="overwrite items changed here since they were imported",
    )
    load.add_argument(
        "--migrate",
        action="store_true",
        help="bring records with their history: they keep their state and system-set fields, "
        "are marked as migrated, and the import ends with a reconciliation",
    )
    load.set_defaults(handler=cmd_config_import)


def cmd_config_export(args: argparse.Namespace) -> int:
    types = [t.strip() for t in args.types.split(",") if t.strip()] if args.types else None
    with command_database(args) as db, db.read() as conn:
        bundle = export_bundle(
            conn,
            SYSTEM,
            types=types,
            name=args.name,
            version=args.bundle_version,
            description=args.description,
        )
    data = dump_bundle(bundle)
    if not args.out:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    try:
        Path(args.out).write_bytes(data)
    except OSError as exc:
        raise CliError(f"Cannot write {args.out}: {exc.strerror}") from None
    counts = ", ".join(
        count_of(len(bundle[section]), noun)
        for section, noun in (("roles", "role"), ("workflows", "workflow"), ("types", "type"))
    )
    print(f"Wrote {args.out} ({len(data):,} bytes): {counts}.")
    return 0


def cmd_config_import(args: argparse.Namespace) -> int:
    raw = read_input(args.file)
    run = preview_bundle if args.dry_run else apply_bundle
    try:
        with command_database(args) as db:
            report = run(db, SYSTEM, raw, force=args.force, migrate=args.migrate)
    except ImportConflict as exc:
        print("\n".join(exc.report.lines()))
        raise
    print("\n".join(report.lines()))
    if report.conflicts:
        print(
            "error: the import would be refused; run it with --force to overwrite the "
            "local changes listed above.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return 0
