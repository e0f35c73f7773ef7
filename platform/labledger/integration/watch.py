"""A watched folder for instruments: files dropped there are imported once.

Each file in the folder is imported through one mapping and then moved:
to ``done/`` when the import was applied (with ``<name>.errors.txt`` beside
it if a row-by-row mapping skipped rows), or to ``failed/`` with
``<name>.errors.txt`` saying why nothing was written. A file already
imported through the mapping (same SHA-256, whatever its name) is never
imported again: it goes to ``failed/`` with a note naming the earlier import.

Files whose names start with a dot or end in ``.tmp`` or ``.part`` are left
alone: an instrument that writes slowly should write under such a name and
rename the file when it is complete, so a half-written file is never read.
When the database cannot be reached the file stays where it is and is tried
again on the next pass.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from labledger.db.engine import Database
from labledger.errors import ServiceError
from labledger.identity.principal import Principal
from labledger.integration.importer import apply_import

DONE, FAILED = "done", "failed"
IGNORED_SUFFIXES = (".tmp", ".part")
REPORT_SUFFIX = ".errors.txt"

log = logging.getLogger("labledger.watch")


@dataclass(frozen=True)
class WatchResult:
    """What became of one file: where it went and the report written beside it."""

    name: str
    outcome: str
    moved_to: Path
    lines: tuple[str, ...]


def pending_files(folder: Path) -> list[Path]:
    """Complete files waiting in ``folder``, oldest first."""
    found = [
        path
        for path in folder.iterdir()
        if path.is_file()
        and not path.name.startswith(".")
        and not path.name.endswith(IGNORED_SUFFIXES)
    ]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


def _free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/stem-2.ext`` ... when that is taken."""
    candidate = folder / name
    stem, suffix = Path(name).stem, Path(name).suffix
    number = 1
    while candidate.exists() or candidate.with_name(candidate.name + REPORT_SUFFIX).exists():
        number += 1
        candidate = folder / f"{stem}-{number}{suffix}"
    return candidate


def _settle(path: Path, outcome: str, lines: list[str]) -> WatchResult:
    folder = path.parent / outcome
    destination = _free_name(folder, path.name)
    path.replace(destination)
    if lines and (outcome == FAILED or len(lines) > 1):
        report = destination.with_name(destination.name + REPORT_SUFFIX)
        report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return WatchResult(path.name, outcome, destination, tuple(lines))


def _refusal(name: str, exc: ServiceError) -> list[str]:
    """Why a file was refused as a whole: one line, or a line per problem."""
    if len(exc.errors) == 1:
        return [f"{name}: {exc.detail} {exc.errors[0].field}: {exc.errors[0].message}"]
    return [f"{name}: {exc.detail}", *(f"{e.field}: {e.message}" for e in exc.errors)]


def import_file(db: Database, actor: Principal, mapping_key: str, path: Path) -> WatchResult:
    """Import one file and move it to ``done/`` or ``failed/`` with its report."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return _settle(path, FAILED, [f"{path.name}: cannot be read: {exc.strerror}"])
    try:
        report = apply_import(db, actor, mapping_key, raw, path.name)
    except ServiceError as exc:
        return _settle(path, FAILED, _refusal(path.name, exc))
    return _settle(path, DONE if report.applied else FAILED, report.lines())


def watch_pass(db: Database, folder: Path, mapping_key: str, actor: Principal) -> list[WatchResult]:
    """Import every file waiting in ``folder`` once; returns what became of each."""
    for sub in (DONE, FAILED):
        (folder / sub).mkdir(exist_ok=True)
    results = []
    for path in pending_files(folder):
        try:
            result = import_file(db, actor, mapping_key, path)
        except DBAPIError as exc:
            log.warning("database unavailable; %s stays for the next pass: %s", path.name, exc)
            break
        log.info("%s -> %s/ (%s)", result.name, result.outcome, result.lines[0])
        results.append(result)
    return results


def watch_folder(
    db: Database,
    folder: Path,
    mapping_key: str,
    actor: Principal,
    *,
    interval: float = 5.0,
    stop: threading.Event,
) -> None:
    """Run a pass every ``interval`` seconds until ``stop`` is set."""
    while not stop.is_set():
        watch_pass(db, folder, mapping_key, actor)
        stop.wait(interval)
