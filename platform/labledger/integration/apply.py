"""Applying an import: the write transaction, row by row through the record service.

Each row is written through the record service (a ``RecordBatch`` for new
records, ``update_record`` for updates, which validate it as they would for
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
from labledger.canonical import content_hash
from labledger.db.engine import Database
from labledger.db.integration_tables import import_run
from labledger.db.types import utc_now
from labledger.errors import ServiceError
from labledger.identity.principal import Principal
from labledger.integration.dryrun import RowCheck, check_rows, prepare, record_errors
from labledger.integration.report import ImportReport
from labledger.integration.resolve import CHUNK, already_imported, previous_import
from labledger.integration.rows import Row
from labledger.records.service import RecordBatch, update_record


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

    New records go through a ``RecordBatch`` flushed every ``CHUNK`` rows, so
    a large file costs a few statements per chunk instead of a counter and
    chain-tip update per row; the batch is flushed before each update, which
    keeps the audit trail in the order of the file's lines. The rows' audit
    events are written together at the end (``written_together``): updates
    append one each, and on PostgreSQL moving the chain tip once per row of a
    long transaction slows every later move down.
    """

    def __init__(self, actor: Principal, report: ImportReport, reason: str | None) -> None:
        self.actor = actor
        self.report = report
        self.mapping = report.mapping
        self.reason = reason
        self.written: list[tuple[Row, dict[str, Any]]] = []
        self._batch: RecordBatch | None = None
        self._batched: list[Row] = []

    def _reason(self, row: Row) -> str:
        return self.reason or (
            f"Import of {self.report.filename}, line {row.line} "
            f"(mapping {self.mapping.key} version {self.mapping.version})"
        )

    def _write_row(self, conn: Connection, row: Row, run_id: int) -> None:
        details = {"import": run_id, "line": row.line}
        if row.target is None:
            if self._batch is None:
                self._batch = RecordBatch(
                    conn, self.actor, self.mapping.target, attachments_allowed=False
                )
            self._batch.add(row.data, audit_details=details)
            self._batched.append(row)
            if len(self._batched) >= CHUNK:
                self._flush()
            return
        self._flush()
        view = update_record(
            conn,
            self.actor,
            self.mapping.target,
            row.target["id"],
            row.data,
            expected_version=row.target["version"],
            reason=self._reason(row),
            audit_details=details,
            attachments_allowed=False,
        )
        row.unchanged = view["version"] == row.target["version"]
        self.written.append((row, view))

    def _flush(self) -> None:
        """Store the new records checked so far."""
        if self._batch is None or not self._batched:
            return
        self.written.extend(zip(self._batched, self._batch.store(), strict=True))
        self._batched = []

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
                try:
                    self._write_row(conn, row, run_id)
                except ServiceError as exc:
                    if exc.errors:
                        record_errors(row, mapping, exc.errors)
                    else:
                        row.fail(exc.detail)
                    failed = True
            if not failed or not mapping.atomic:
                self._flush()
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
                        "produced_sha256": content_hash(produced),
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
