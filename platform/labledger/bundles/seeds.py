"""The bundles shipped in ``seeds/``, loaded by ``labledger init``.

Each folder ``seeds/<name>/`` holds a ``bundle.json`` and, optionally, a
``demo.json`` with users and records for ``labledger init --demo``. Seeds go
through the normal importer, as the system, so they are validated, audited
and remembered like any other bundle: running init again changes nothing,
and local changes to seeded items are kept (or reported as conflicts when a
newer seed changes the same item).

Demo records are imported as a bundle of their own, ``<name>-demo``, so that
they are remembered (and never duplicated) separately from the configuration.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from labledger.bundles.format import (
    FORMAT,
    Bundle,
    dump_bundle,
    invalid,
    load_json,
    parse_bundle,
    record_ref_errors,
    schema_errors,
)
from labledger.bundles.importer import import_bundle
from labledger.db.engine import Database
from labledger.db.tables import app_user
from labledger.errors import ServiceError
from labledger.identity.principal import SYSTEM
from labledger.identity.users import create_user
from labledger.resources import data_path

BUNDLE_FILE = "bundle.json"
DEMO_FILE = "demo.json"


def seed_folders(root: Path | None = None) -> list[Path]:
    """The folders in ``root`` (default: the shipped ``seeds/``) that hold a bundle, by name."""
    if root is None:
        try:
            root = data_path("seeds")
        except FileNotFoundError:
            return []
    return sorted(p for p in root.iterdir() if (p / BUNDLE_FILE).is_file())


def load_seed_bundles(
    db: Database, *, demo: bool, root: Path | None = None
) -> tuple[list[str], dict[str, str]]:
    """Import every seed bundle (and its demo data when ``demo``), one transaction each.

    Returns the bundles as "name version" and the passwords of demo users
    created now (users who already exist keep theirs, which is not known).
    ``root`` replaces the shipped ``seeds/`` folder.
    """
    loaded: list[str] = []
    passwords: dict[str, str] = {}
    for folder in seed_folders(root):
        bundle_file, demo_file = folder / BUNDLE_FILE, folder / DEMO_FILE
        with _about(bundle_file):
            bundle = parse_bundle(bundle_file.read_bytes())
        demo_body = None
        if demo and demo_file.is_file():
            with _about(demo_file):
                demo_body = _read_demo(demo_file)
        with db.write() as conn:
            with _about(bundle_file):
                import_bundle(conn, SYSTEM, bundle)
            if demo_body is not None:
                with _about(demo_file):
                    passwords.update(_load_demo(conn, bundle, demo_body))
        loaded.append(f"{bundle.name} {bundle.version}")
    return loaded, passwords


@contextmanager
def _about(path: Path) -> Iterator[None]:
    """A refusal names the seed file it is about."""
    try:
        yield
    except ServiceError as exc:
        exc.detail = f"seed {path.parent.name}/{path.name}: {exc.detail}"
        raise


def _read_demo(path: Path) -> dict[str, Any]:
    body = load_json(path.read_bytes())
    errors = schema_errors(body, "#/$defs/demo")
    if not errors:
        errors = record_ref_errors(body.get("records", []))
    if errors:
        raise invalid(errors)
    return body


def _load_demo(conn: Connection, bundle: Bundle, demo: dict[str, Any]) -> dict[str, str]:
    users = demo.get("users", [])
    taken = set(
        conn.execute(
            select(app_user.c.username).where(
                app_user.c.username.in_([u["username"] for u in users])
            )
        ).scalars()
    )
    passwords = {
        user["username"]: create_user(
            conn,
            SYSTEM,
            username=user["username"],
            full_name=user["full_name"],
            email=user.get("email", ""),
            roles=user.get("roles", []),
            password=user.get("password"),
            one_time=False,  # demo users sign in and sign straight away
        )
        for user in users
        if user["username"] not in taken
    }
    if demo.get("records"):
        demo_bundle = {
            "format": FORMAT,
            "name": f"{bundle.name}-demo",
            "version": bundle.version,
            "description": f"Demo records of {bundle.name}",
            "records": demo["records"],
        }
        # Demo records come in the states a working lab leaves them, with what its
        # steps recorded: a migration of history, and marked as one.
        import_bundle(conn, SYSTEM, parse_bundle(dump_bundle(demo_bundle)), migrate=True)
    return passwords
