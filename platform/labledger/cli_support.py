"""What every ``labledger`` command module shares: its error, exit codes, database and input.

The top-level command (``labledger.cli``) and the command groups it adds
(``labledger.bundles.cli``, ``labledger.integration.cli``) all use these, so
they live below all of them and none imports another's internals.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from labledger.db.engine import Database, open_database
from labledger.limits import check_json_depth
from labledger.settings import Settings

#: The exit status of a command that failed for a reason it printed.
EXIT_FAILED = 1


class CliError(Exception):
    """A problem worth one line to the operator."""


def command_settings(args: argparse.Namespace) -> Settings:
    """The settings of one command: the environment's, with ``--database`` if given."""
    return Settings.from_env(**({"database_url": args.database} if args.database else {}))


@contextmanager
def command_database(args: argparse.Namespace) -> Iterator[Database]:
    """The database for one command, closed afterwards (commands also run in-process)."""
    settings = command_settings(args)
    db = open_database(settings.database_url, settings=settings)
    try:
        yield db
    finally:
        db.dispose()


def read_input(path: str) -> bytes:
    """The bytes of ``path``, or of standard input for ``-``."""
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"Cannot read {path}: {exc.strerror}") from None


def load_json(path: str) -> Any:
    """The JSON document in ``path`` (``-``: standard input), nesting depth checked."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"Cannot read {path}: {exc.strerror}") from None
    check_json_depth(text, path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
