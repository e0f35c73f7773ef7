"""The bundles shipped in ``seeds/``, loaded by ``labledger init``.

Each folder ``seeds/<name>/`` holds a ``bundle.json`` and, optionally, a
``demo.json`` with users and records for ``labledger init --demo``. Seeds go
through the normal importer, as the system, so they are validated, audited
and remembered like any other bundle: running init again changes nothing,
and local changes to seeded items are kept (or reported as conflicts when a
newer seed changes the same item).

Demo data is not imported: its records are created and moved through their
workflows by the demo users (see ``labledger.bundles.demo``), once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labledger.bundles.demo import load_demo, read_demo
from labledger.bundles.format import parse_bundle
from labledger.bundles.importer import import_bundle
from labledger.db.engine import Database
from labledger.errors import ServiceError
from labledger.identity.principal import SYSTEM
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
            bundle = parse_bundle(bundle_file.read_bytes(), max_bytes=db.settings.bundle_max_bytes)
        demo_body = None
        if demo and demo_file.is_file():
            with _about(demo_file):
                demo_body = read_demo(demo_file.read_bytes())
        with db.write() as conn:
            with _about(bundle_file):
                import_bundle(conn, SYSTEM, bundle)
            if demo_body is not None:
                with _about(demo_file):
                    passwords.update(load_demo(conn, bundle.name, demo_body))
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
