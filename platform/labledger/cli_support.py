"""What every ``labledger`` command module shares: its error, exit codes, database and input.

The top-level command (``labledger.cli``) and the command groups it adds
(``labledger.bundles.cli``, ``labledger.integration.cli``) all use these, so
they live below all of them and none imports another's internals.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection

from labledger.db.engine import Database, database_named_by
from labledger.limits import check_json_depth
from labledger.settings import Settings

Actor = TypeVar("Actor")

#: The exit status of a command that failed for a reason it printed.
EXIT_FAILED = 1


class CliError(Exception):
    """A problem worth one line to the operator."""


class Versioned(Protocol):
    """What publishing a definition reports (``metadata.versions.Published``)."""

    @property
    def version(self) -> int: ...

    @property
    def changed(self) -> bool: ...


def command_settings(args: argparse.Namespace) -> Settings:
    """The settings of one command: the environment's, with ``--database`` if given."""
    return Settings.from_env(**({"database_url": args.database} if args.database else {}))


@contextmanager
def command_database(args: argparse.Namespace) -> Iterator[Database]:
    """The database for one command, closed afterwards (commands also run in-process)."""
    db = database_named_by(command_settings(args))
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


def command_group(commands: Any, name: str, help: str) -> Any:
    """A command made of actions (``labledger user add``): the parsers of its actions.

    ``commands`` is the ``add_subparsers()`` object of the parent; the group
    requires an action and shows them as ``ACTION`` in its usage line.
    """
    group = commands.add_parser(name, help=help)
    return group.add_subparsers(dest=f"{name}_command", required=True, metavar="ACTION")


def publish_from_file(
    args: argparse.Namespace,
    publish: Callable[[Connection, Actor, Any], Versioned],
    actor: Actor,
) -> int:
    """Publish the definition in ``args.file`` (``-``: stdin) and print its version.

    ``publish`` is the definition kind's publishing service (``publish_type``,
    ``publish_mapping`` ...), called as ``actor`` in one write transaction.
    """
    definition = load_json(args.file)
    with command_database(args) as db, db.write() as conn:
        published = publish(conn, actor, definition)
    state = "published as version" if published.changed else "unchanged at version"
    print(f"{definition['key']}: {state} {published.version}")
    return 0
