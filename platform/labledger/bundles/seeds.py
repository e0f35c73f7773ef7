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
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection

from labledger.bundles.demo import load_demo, read_demo
from labledger.bundles.format import Bundle, parse_bundle
from labledger.bundles.importer import import_bundle
from labledger.db.engine import Database
from labledger.errors import ServiceError
from labledger.identity.principal import SYSTEM
from labledger.metadata.spec import DemoSpec
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


@dataclass(frozen=True)
class Seed:
    """A shipped bundle, with its demo data when ``init --demo`` asked for it."""

    folder: Path
    bundle: Bundle
    demo: DemoSpec | None

    @property
    def label(self) -> str:
        return f"{self.bundle.name} {self.bundle.version}"


def read_seeds(*, max_bytes: int, demo: bool, root: Path | None = None) -> list[Seed]:
    """Every seed bundle in ``root`` (default: the shipped ``seeds/``), checked, by name."""
    seeds = []
    for folder in seed_folders(root):
        bundle_file, demo_file = folder / BUNDLE_FILE, folder / DEMO_FILE
        with _about(bundle_file):
            bundle = parse_bundle(bundle_file.read_bytes(), max_bytes=max_bytes)
        demo_body = None
        if demo and demo_file.is_file():
            with _about(demo_file):
                demo_body = read_demo(demo_file.read_bytes())
        seeds.append(Seed(folder, bundle, demo_body))
    return seeds


def load_demo_data(conn: Connection, seed: Seed) -> dict[str, str]:
    """Create the seed's demo users and records, once; returns new users' passwords."""
    if seed.demo is None:
        return {}
    with _about(seed.folder / DEMO_FILE):
        return load_demo(conn, seed.bundle.name, seed.demo)


def load_seed_bundles(
    db: Database, *, demo: bool, root: Path | None = None
) -> tuple[list[str], dict[str, str]]:
    """Import every seed bundle in ``root`` (default: the shipped ``seeds/``) and, when
    ``demo``, its demo data: see ``import_seeds``."""
    seeds = read_seeds(max_bytes=db.settings.bundle_max_bytes, demo=demo, root=root)
    return [seed.label for seed in seeds], import_seeds(db, seeds)


def import_seeds(db: Database, seeds: list[Seed]) -> dict[str, str]:
    """Import each seed bundle with its demo data, one transaction each.

    Returns the passwords of demo users created now (users who already exist
    keep theirs, which is not known). With change control on an import that
    changes anything is refused: ``labledger init`` proposes the shipped
    changes as a change request instead.
    """
    passwords: dict[str, str] = {}
    for seed in seeds:
        with db.write(numbers_in_transaction=True) as conn:
            with _about(seed.folder / BUNDLE_FILE):
                import_bundle(conn, SYSTEM, seed.bundle)
            passwords.update(load_demo_data(conn, seed))
    return passwords


@contextmanager
def _about(path: Path) -> Iterator[None]:
    """A refusal names the seed file it is about."""
    try:
        yield
    except ServiceError as exc:
        exc.detail = f"seed {path.parent.name}/{path.name}: {exc.detail}"
        raise
