"""``labledger record dossier``: a record's complete copy written to a file (PDF or JSON).

Like the other administration commands it reads as the system (whoever runs
it has the database in hand), so the dossier withholds nothing; the record is
named by its number (``LOT-0001``) or its id.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from labledger.cli_support import CliError, command_database, command_group
from labledger.dossier.assemble import DEFAULT_DEPTH, MAX_DEPTH, record_dossier
from labledger.dossier.document import dossier_json, dossier_pdf
from labledger.dossier.model import Dossier
from labledger.errors import NotFound
from labledger.identity.principal import SYSTEM
from labledger.records.lookup import record_id_by_number

#: How each format is written.
WRITERS = {"pdf": dossier_pdf, "json": dossier_json}


def add_dossier_commands(commands: Any) -> None:
    """Add ``labledger record dossier ...`` to the ``labledger`` subcommands."""
    record = command_group(commands, "record", "records")
    dossier = record.add_parser(
        "dossier", help="write a complete, readable copy of a record (PDF or JSON)"
    )
    dossier.add_argument("type", help="the record's type key")
    dossier.add_argument("record", metavar="NUMBER_OR_ID", help="the record's number or id")
    dossier.add_argument(
        "--depth",
        type=int,
        default=DEFAULT_DEPTH,
        help=f"copy related records this many references away (0 to {MAX_DEPTH}; "
        f"default {DEFAULT_DEPTH})",
    )
    dossier.add_argument("--format", choices=sorted(WRITERS), default="pdf")
    dossier.add_argument("--out", required=True, help="the file to write")
    dossier.set_defaults(handler=cmd_record_dossier)


def _record_id(conn: Connection, type_key: str, named: str) -> int:
    """The id of the record ``named`` by its number, or by its id."""
    found = record_id_by_number(conn, named)
    if found is not None:
        return found
    if named.isdigit() and len(named) <= 18:
        return int(named)
    raise NotFound(f"There is no record numbered '{named[:100]}' (type '{type_key[:64]}').")


def cmd_record_dossier(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.is_dir():
        raise CliError(f"{out} is a folder; give the file to write, e.g. {out / 'dossier.pdf'}")
    with command_database(args) as db, db.read() as conn:
        record_id = _record_id(conn, args.type, args.record)
        dossier: Dossier = record_dossier(conn, SYSTEM, args.type, record_id, depth=args.depth)
    document = WRITERS[args.format](dossier)
    try:
        out.write_bytes(document)
    except OSError as exc:
        raise CliError(f"Cannot write {out}: {exc.strerror}") from None
    print(
        f"{dossier.record.number}: dossier written to {out} ({args.format}, "
        f"{len(dossier.related)} related records to depth {dossier.depth})"
    )
    return 0
