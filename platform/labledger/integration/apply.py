"""Applying an import: the write transaction, row by row through the record service.

Each row is written through the record service (a ``RecordBatch`` for new
records, ``RecordChanges`` for updates, which validate it as they would for
any user), each record's audit event carrying ``{"import": <id>, "line":
<n>}``, and the transaction ends with one ``import.apply`` event: the file's
SHA-256, the mapping and its version, the row counts and the SHA-256 of the
list of rows produced (that list is kept in ``import_run``). An atomic mapping
writes nothing when any row fails -- the transaction is rolled back and the
remaining rows are only checked, so the report is as complete as a dry run's;
a row-by-row mapping writes the good rows and reports the others.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, update
from sqlalchemy.exc import IntegrityError

from labledger.audit.trail import AuditEntry, append, written_together
from labledger.canonical import plain_content_hash
from labledger.collector import collector_paused
from labledger.db.engine import Database
from labledger.db.integration_tables import import_run
from labledger.db.types import utc_now
from labledger.errors import ServiceError
from labledger.identity.principal import Principal
from labledger.integration.dryrun import RowCheck, check_rows, prepare, record_errors
from labledger.integration.report import ImportReport
from labledger.integration.resolve import CHUNK, already_imported, previous_import
from labledger.integration.rows import Row
from labledger.records.service import RecordBatch, RecordChanges, load_row


def apply_import(
    db: Database,
    actor: Principal,
    mapping_key: str,
    raw: bytes,
    filename: str,
    *,
    reason: str | None = None,
) -> ImportReport:
    """Import the file; returns the report (``applied`` tells whether anything was written).

    ``reason`` is the reason for change given to updated records (types may
    require one); without it each update says which import and line it came from.
    """
    with collector_paused():
        return _apply(db, actor, mapping_key, raw, filename, reason)


def _apply(
    db: Database, actor: Principal, mapping_key: str, raw: bytes, filename: str, reason: str | None
) -> ImportReport:
    with db.read() as conn:
        report = prepare(conn, actor, mapping_key, raw, filename, validate=False)
        if report.errors and report.mapping.atomic:  # nothing will be written: report it all
            check_rows(conn, actor, report.mapping, report.rows)
    report.dry_run = False
    writable = [row for row in report.rows if not row.errors]
    if not writable or (report.errors and report.mapping.atomic):
        return report
    writer = _Writer(actor, report, reason)
    try:
        with db.write(numbers_in_transaction=True) as conn:  # all or nothing, numbers too
            writer.write(conn)
    except _Rollback:
        return report
    except IntegrityError:  # another import of the same file committed first
        with db.read() as conn:
            run = previous_import(conn, mapping_key, report.sha256)
        if run is None:
            raise
        raise already_imported(mapping_key, run) from None
    return report


class _Rollback(Exception):
    """Ends the write transaction of an import that must leave no trace."""


class _Writer:
    """The write transaction of an apply.

    New records go through a ``RecordBatch`` and changes to existing ones
    through ``RecordChanges``, each stored every ``CHUNK`` rows, so a large
    file costs a few statements per chunk instead of a round trip (and a
    counter and chain-tip update) per row. The versions of the records a chunk
    of updates changes are read with one query before they are checked, so a
    record changed since the file was resolved is refused as stale, row by row;
    should one change in the moment between that query and the write, the
    whole import is refused (each update names the version it expects). One
    kind of batch is stored before a row of the other kind is added, which
    keeps the audit trail in the order of the file's lines. The rows' audit
    events are written together at the end (``written_together``): on
    PostgreSQL moving the chain tip once per chunk of a long transaction would
    slow every later move down.
    """

    def __init__(self, actor: Principal, report: ImportReport, reason: str | None) -> None:
        self.actor = actor
        self.report = report
        self.mapping = report.mapping
        self.reason = reason
        self.written: list[tuple[Row, dict[str, Any]]] = []
        self._new: RecordBatch | None = None
        self._new_rows: list[Row] = []
        self._changes: RecordChanges | None = None
        self._changed_rows: list[Row] = []
        #: The records the file updates, in file order, and where each one is in that list.
        self._targets = [row.target["id"] for row in report.rows if row.target and not row.errors]
        self._position = {record_id: index for index, record_id in enumerate(self._targets)}
        self._versions: dict[int, int] = {}

    def _reason(self, row: Row) -> str:
        return self.reason or (
            f"Import of {self.report.filename}, line {row.line} "
            f"(mapping {self.mapping.key} version {self.mapping.version})"
        )

    def _store_before(self, row: Row) -> None:
        """Store the batch of the other kind before ``row`` joins its own (the audit trail
        follows the file's lines), and its own batch when that is full."""
        if row.target is None:
            self._store_changes()
            if len(self._new_rows) >= CHUNK:
                self._store_new()
        else:
            self._store_new()
            if len(self._changed_rows) >= CHUNK:
                self._store_changes()

    def _add(self, conn: Connection, row: Row, run_id: int) -> None:
        """Check ``row`` into its batch; raises ``ServiceError`` (keeping nothing) if it is bad."""
        details = {"import": run_id, "line": row.line}
        if row.target is None:
            if self._new is None:
                self._new = RecordBatch(
                    conn, self.actor, self.mapping.target, attachments_allowed=False
                )
            self._new.add(row.data, audit_details=details)
            self._new_rows.append(row)
            return
        if self._changes is None:
            self._changes = RecordChanges(
                conn, self.actor, self.mapping.target, attachments_allowed=False
            )
        unchanged = self._changes.add(
            self._current_row(conn, self._changes, row.target),
            row.data,
            expected_version=row.target["version"],
            reason=self._reason(row),
            audit_details=details,
        )
        if unchanged is not None:
            row.unchanged = True
            self.written.append((row, unchanged))
        else:
            self._changed_rows.append(row)

    def _current_row(
        self, conn: Connection, changes: RecordChanges, target: dict[str, Any]
    ) -> dict[str, Any]:
        """The stored row of a record the file updates: the one read when the file was
        resolved, unless it has changed since. The versions of the next ``CHUNK``
        records to update are read together when this one's is not read yet."""
        record_id = target["id"]
        if record_id not in self._versions:
            start = self._position[record_id]
            self._versions = changes.versions(self._targets[start : start + CHUNK])
        if self._versions.pop(record_id, None) == target["version"]:
            return target
        return load_row(conn, self.mapping.target, record_id)  # changed (stale) or gone

    def _store_new(self) -> None:
        """Store the new records checked so far."""
        if self._new is None or not self._new_rows:
            return
        self.written.extend(zip(self._new_rows, self._new.store(), strict=True))
        self._new_rows = []

    def _store_changes(self) -> None:
        """Store the changes to existing records checked so far."""
        if self._changes is None or not self._changed_rows:
            return
        self.written.extend(zip(self._changed_rows, self._changes.store(), strict=True))
        self._changed_rows = []

    def _store(self) -> None:
        self._store_new()
        self._store_changes()

    def write(self, conn: Connection) -> None:
        report, mapping = self.report, self.mapping
        run_id: int = conn.execute(
            insert(import_run)
            .values(
                mapping_key=mapping.key,
                mapping_version=mapping.version,
                target_type=mapping.target,
                sha256=report.sha256,
                filename=report.filename[:255],
                size=report.size,
                mode=report.mode,
                actor=self.actor.username,
                started_at=utc_now(),
                counts={},
                produced=[],
                errors=[],
            )
            .returning(import_run.c.id)
        ).scalar_one()
        check = RowCheck(conn, self.actor, mapping)
        failed = False
        with written_together(conn):
            for row in report.rows:
                if row.errors:
                    continue
                if failed and mapping.atomic:
                    check(row)  # nothing will be kept: check the rest, for the report
                    continue
                self._store_before(row)  # a refusal here ends the whole import
                try:
                    self._add(conn, row, run_id)
                except ServiceError as exc:
                    if exc.errors:
                        record_errors(row, mapping, exc.errors)
                    else:
                        row.fail(exc.detail)
                    failed = True
            if not failed or not mapping.atomic:
                self._store()
        if not self.written or (failed and mapping.atomic):
            raise _Rollback
        for row, view in self.written:
            row.record = {"id": view["id"], "number": view["number"]}
        self._finish(conn, run_id)

    def _finish(self, conn: Connection, run_id: int) -> None:
        """The import's audit event, and its run completed with what it produced."""
        report, mapping = self.report, self.mapping
        produced = [
            [row.line, row.action, row.record["id"], row.record["number"]]
            for row in report.rows
            if row.record is not None and not row.errors
        ]
        counts = report.counts
        run: dict[str, Any] = {
            "import": run_id,
            "mapping": mapping.key,
            "mapping_version": mapping.version,
        }
        seq = append(
            conn,
            [
                AuditEntry(
                    actor=self.actor.username,
                    action="import.apply",
                    type_key=mapping.target,
                    config_version=mapping.version,
                    details={
                        **run,
                        "file": report.filename,
                        "sha256": report.sha256,
                        "size": report.size,
                        "mode": report.mode,
                        "rows": counts,
                        "produced_sha256": plain_content_hash(produced),
                    },
                    outbox_kind="import.applied",
                    outbox_payload={
                        **run,
                        "type": mapping.target,
                        "sha256": report.sha256,
                        "rows": counts,
                    },
                )
            ],
        )[0]
        conn.execute(
            update(import_run)
            .where(import_run.c.id == run_id)
            .values(
                finished_at=utc_now(),
                counts=counts,
                produced=produced,
                errors=[e.as_dict() for e in report.errors],
                audit_seq=seq,
            )
        )
        report.applied, report.import_id, report.audit_seq = True, run_id, seq
