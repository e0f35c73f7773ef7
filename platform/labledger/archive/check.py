"""``labledger archive verify``: test a backup without touching any installation.

Two levels. The quick one reads the whole archive once: every member
against the manifest's hash and row count, every row against its columns'
kinds, every binary content against its name. The full one (the default)
then restores the archive into a temporary SQLite database and proves it
there exactly as ``archive restore`` proves a real restore, all of ``audit
verify`` included: the only way to know a backup restores is to restore it.
The temporary database is removed afterwards.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labledger.archive.load import restore_archive
from labledger.archive.progress import Progress, no_progress
from labledger.archive.proof import Proof, prove
from labledger.archive.reading import ArchiveDamaged, ArchiveReader
from labledger.audit.trail import AuditEntry, append
from labledger.db.engine import Database, open_database
from labledger.settings import Settings

VERIFY_ACTION = "archive.verified"


@dataclass
class ArchiveCheck:
    """What was read of the archive, and the proof of its trial restore (None: quick check)."""

    manifest_sha256: str
    rows: dict[str, int] = field(default_factory=dict)
    blobs: int = 0
    damage: str | None = None
    proof: Proof | None = None

    @property
    def ok(self) -> bool:
        return self.damage is None and (self.proof is None or self.proof.ok)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "manifest_sha256": self.manifest_sha256,
            "rows": self.rows,
            "blobs_checked": self.blobs,
            "damage": self.damage,
            "trial_restore": self.proof.as_dict() if self.proof is not None else None,
        }

    def lines(self) -> list[str]:
        verdict = "intact" if self.ok else "NOT INTACT"
        lines = [f"Archive {verdict}: manifest {self.manifest_sha256}"]
        lines.append(
            f"  {sum(self.rows.values()):,} rows in {len(self.rows)} tables and "
            f"{self.blobs:,} attachment contents read and checked against the manifest"
        )
        if self.damage is not None:
            lines.append(f"  - {self.damage}")
        if self.proof is not None:
            lines.append("  Trial restore into a temporary SQLite database:")
            lines.extend(f"  {line}" for line in self.proof.lines())
        return lines


def check_archive(
    reader: ArchiveReader,
    *,
    trial_restore: bool = True,
    progress: Progress = no_progress,
    scratch: Path | None = None,
) -> ArchiveCheck:
    """Read and check the whole archive, then (``trial_restore``) restore and prove it.

    ``scratch``: the folder of the temporary database (the system's default
    temporary folder if None); it needs room for the restored installation.
    """
    check = ArchiveCheck(reader.manifest_sha256)
    try:
        _read_everything(reader, check, progress)
    except ArchiveDamaged as exc:
        check.damage = str(exc)
        return check
    if trial_restore:
        with tempfile.TemporaryDirectory(prefix="labledger-restore-", dir=scratch) as folder:
            db = open_database(f"sqlite:///{Path(folder) / 'trial.db'}", settings=Settings())
            try:
                restore_archive(db, reader, progress)
                check.proof = prove(db, reader)
            except ArchiveDamaged as exc:
                check.damage = str(exc)
            finally:
                db.dispose()
    return check


def _read_everything(reader: ArchiveReader, check: ArchiveCheck, progress: Progress) -> None:
    referenced: set[str] = set()
    for entry in reader.manifest.tables:
        blobs = [i for i, spec in enumerate(entry.columns) if spec.kind == "blob"]
        count = 0
        for values in reader.rows(entry):
            referenced.update(values[i] for i in blobs if values[i] is not None)
            count += 1
            if count % 5000 == 0:
                progress(f"reading {entry.name}", count, entry.rows)
        progress(f"reading {entry.name}", count, entry.rows)
        check.rows[entry.name] = count
    for _ in reader.record_hashes():
        pass
    for number, sha256 in enumerate(sorted(referenced), start=1):
        reader.check_blob(sha256)
        progress("reading attachments", number, len(referenced))
    check.blobs = len(referenced)


def record_check(db: Database, actor: str, check: ArchiveCheck) -> None:
    """Keep the outcome of a backup test in the installation's audit trail (Annex 11 §7.2)."""
    details = {
        "manifest_sha256": check.manifest_sha256,
        "intact": check.ok,
        "trial_restore": check.proof is not None,
        "rows": sum(check.rows.values()),
        "blobs": check.blobs,
    }
    if check.damage is not None:
        details["damage"] = check.damage[:500]
    with db.write() as conn:
        append(conn, [AuditEntry(actor=actor, action=VERIFY_ACTION, details=details)])
