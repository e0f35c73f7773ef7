"""Proof that a restored database is the archive it came from, and an intact one.

Four checks, each naming what differs: the rows of every table counted
against the manifest; every record's content hash (``audit.results``)
against the hash the archive took from the source; every binary content
(attachment) hashed again against the archive's; the chain's tips against
the manifest's. Then all of ``audit verify``: the chain itself and every
record, signature, definition, role and change request against the events
that produced them. The outcome is recorded in the restored audit trail.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select

from labledger.archive.format import TABLE_NAMED, LaneTip, Manifest
from labledger.archive.reading import ArchiveReader
from labledger.audit.results import record_result
from labledger.audit.trail import AuditEntry, append
from labledger.audit.verify import VerifyReport, verify
from labledger.db.engine import Database
from labledger.db.tables import audit_head, record
from labledger.errors import WritesSuspended

#: Differences listed by name; beyond this they are counted.
MAX_LISTED = 200
RESTORE_ACTION = "archive.restored"


@dataclass(frozen=True)
class TableCount:
    name: str
    archived: int
    restored: int | None  # None: the table is not in the restored database


@dataclass
class Proof:
    """What the restored database was checked for, and every difference found."""

    manifest_sha256: str
    tables: list[TableCount] = field(default_factory=list)
    records: int = 0
    blobs: int = 0
    differences: list[str] = field(default_factory=list)
    unlisted: int = 0
    audit: VerifyReport | None = None

    @property
    def ok(self) -> bool:
        return not self.differences and not self.unlisted and (self.audit is None or self.audit.ok)

    def differ(self, message: str) -> None:
        if len(self.differences) < MAX_LISTED:
            self.differences.append(message)
        else:
            self.unlisted += 1

    def lines(self) -> list[str]:
        """The proof as a person reads it."""
        verdict = "PROVED" if self.ok else "FAILED"
        lines = [f"Restore {verdict}: the database holds the archive {self.manifest_sha256[:16]}…"]
        for count in self.tables:
            restored = "missing" if count.restored is None else f"{count.restored:,}"
            mark = "ok" if count.restored == count.archived else "DIFFERS"
            lines.append(
                f"  {count.name:<24} {count.archived:>12,} archived {restored:>12} restored  {mark}"
            )
        lines.append(f"  record content hashes checked: {self.records:,}")
        lines.append(f"  attachment contents checked:   {self.blobs:,}")
        if self.audit is not None:
            lines.append(f"  audit verify: {self.audit.summary()}")
            lines.extend(f"    - {d.message}" for d in self.audit.discrepancies)
            if self.audit.unlisted:
                lines.append(f"    ... and {self.audit.unlisted:,} more")
        lines.extend(f"  - {difference}" for difference in self.differences)
        if self.unlisted:
            lines.append(f"  ... and {self.unlisted:,} more differences")
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "manifest_sha256": self.manifest_sha256,
            "tables": [vars(count) for count in self.tables],
            "records_checked": self.records,
            "blobs_checked": self.blobs,
            "differences": self.differences,
            "unlisted": self.unlisted,
            "audit": self.audit.as_dict() if self.audit is not None else None,
        }


def prove(db: Database, reader: ArchiveReader) -> Proof:
    """Check ``db`` against ``reader``'s archive in one snapshot; never raises on a difference."""
    proof = Proof(reader.manifest_sha256)
    with db.snapshot() as conn:
        _count_tables(conn, reader.manifest, proof)
        _check_records(conn, reader, proof)
        _check_blobs(conn, reader, proof)
        _check_tips(conn, reader.manifest, proof)
        proof.audit = verify(conn)
    return proof


def record_proof(db: Database, actor: str, proof: Proof, manifest: Manifest) -> bool:
    """Record the restore and its outcome in the restored trail; False where the trail
    refuses new events (its tip is damaged, which the proof names)."""
    entry = AuditEntry(
        actor=actor,
        action=RESTORE_ACTION,
        details={
            "manifest_sha256": proof.manifest_sha256,
            "source_database": manifest.source_database,
            "platform_version": manifest.platform_version,
            "schema_revision": manifest.schema_revision,
            "archived_at": manifest.created_at.isoformat(),
            "proved": proof.ok,
            "differences": len(proof.differences) + proof.unlisted,
            "records": proof.records,
            "events": manifest.chain.events,
        },
    )
    try:
        with db.write() as conn:
            append(conn, [entry])
    except WritesSuspended:
        return False
    return True


def _count_tables(conn: Connection, manifest: Manifest, proof: Proof) -> None:
    for entry in manifest.tables:
        stored = TABLE_NAMED.get(entry.name)
        restored = (
            None
            if stored is None
            else int(conn.execute(select(func.count()).select_from(stored)).scalar_one())
        )
        proof.tables.append(TableCount(entry.name, entry.rows, restored))
        if restored != entry.rows:
            proof.differ(f"table {entry.name}: {entry.rows:,} rows archived, {restored} restored")


def _check_records(conn: Connection, reader: ArchiveReader, proof: Proof) -> None:
    """Both sides by record id, walked together: a missing, extra or changed record is named."""
    stored = iter(
        conn.execution_options(yield_per=2000).execute(select(record).order_by(record.c.id))
    )
    row = next(stored, None)
    for record_id, expected in reader.record_hashes():
        while row is not None and row.id < record_id:
            proof.differ(f"record {row.number} (id {row.id}) is not in the archive")
            row = next(stored, None)
        if row is None or row.id != record_id:
            proof.differ(f"record id {record_id} of the archive was not restored")
            continue
        proof.records += 1
        if record_result(row._mapping) != expected:
            proof.differ(f"record {row.number} differs from the archive's (content hash)")
        row = next(stored, None)
    while row is not None:
        proof.differ(f"record {row.number} (id {row.id}) is not in the archive")
        row = next(stored, None)


def _check_blobs(conn: Connection, reader: ArchiveReader, proof: Proof) -> None:
    """Every binary content of the archive hashed again as the database now holds it."""
    for entry in reader.manifest.tables:
        positions = [i for i, spec in enumerate(entry.columns) if spec.kind == "blob"]
        stored = TABLE_NAMED.get(entry.name)
        if not positions or stored is None:
            continue
        keys = [
            (i, stored.c[spec.name])
            for i, spec in enumerate(entry.columns)
            if stored.c[spec.name].primary_key
        ]
        for values in reader.rows(entry):
            where = [column == values[i] for i, column in keys]
            for index in positions:
                name = entry.columns[index].name
                content = conn.execute(select(stored.c[name]).where(*where)).scalar()
                proof.blobs += 1
                if content is None or hashlib.sha256(content).hexdigest() != values[index]:
                    key = ", ".join(str(values[i]) for i, _ in keys)
                    proof.differ(f"{entry.name} {key}: its {name} differs from the archive's")


def _check_tips(conn: Connection, manifest: Manifest, proof: Proof) -> None:
    tips = sorted(
        (LaneTip(row.id, row.seq, row.hash) for row in conn.execute(select(audit_head))),
        key=lambda tip: tip.lane,
    )
    if tips != manifest.chain.tips:
        proof.differ("the audit trail does not end where the archive's did (chain tips differ)")
