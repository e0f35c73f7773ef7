"""Running an import mapping over a file: a dry run, or an audited apply.

Both read the file the same way (``rows``: size, encoding, header, cell
conversion, units), resolve lookups by human key in batches, find the
records an update ``match`` names, and catch what the file says twice (the
same row, the same record, the same unique value). Then:

- a **dry run** checks every row with the record service's own validation,
  in a read-only transaction, and reports row by row what an apply would do;
- an **apply** writes, in one transaction, each row through the record
  service (a ``RecordBatch`` for new records, ``update_record`` for updates,
  which validate it as they would for any user), each record's audit event
  carrying
  ``{"import": <id>, "line": <n>}``, and ends with one ``import.apply``
  event: the file's SHA-256, the mapping and its version, the row counts and
  the SHA-256 of the list of rows produced (that list is kept in
  ``import_run``). An atomic mapping writes nothing when any row fails — the
  transaction is rolled back and the remaining rows are only checked, so the
  report is as complete as a dry run's; a row-by-row mapping writes the good
  rows and reports the others.

Every problem is a row error with its line number, column and field. An
import run is unique per mapping and file hash: the same file is never
imported twice through the same mapping.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from labledger.audit.trail import AuditEntry, append, written_together
from labledger.canonical import canonical_json, content_hash, sha256_hex
from labledger.db.engine import Database
from labledger.db.integration_tables import import_run
from labledger.db.jsonfields import field_column, type_key_literal
from labledger.db.tables import record
from labledger.db.types import utc_now
from labledger.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ServiceError,
    ValidationFailed,
)
from labledger.identity.principal import Principal
from labledger.integration.mappings import BY_NUMBER, Mapping, load_mapping
from labledger.integration.mappings import mapping_errors as definition_errors
from labledger.integration.rows import (
    CREATE,
    ERROR,
    UNCHANGED,
    UPDATE,
    Row,
    RowError,
    blank,
    convert,
    convert_row,
    json_number,
    max_import_bytes,
    read_rows,
)
from labledger.metadata.fieldtypes import sql_kind
from labledger.metadata.model import TypeModel
from labledger.metadata.types import list_types, type_model
from labledger.records.service import (
    RecordBatch,
    StateRules,
    expression_context,
    field_check,
    state_rules,
    update_record,
)

#: Mappings cannot set attachment fields, so no upload limit applies to their rows.
NO_ATTACHMENTS = 0
#: Values per ``IN (...)`` when resolving lookups and matches.
CHUNK = 500
_DATA_FIELD = re.compile(r"^data\.([a-z][a-z0-9_]*)")


@dataclass
class ImportReport:
    """What an import did or would do, row by row."""

    mapping: Mapping
    filename: str
    sha256: str
    size: int
    rows: list[Row]
    dry_run: bool = True
    applied: bool = False
    import_id: int | None = None
    audit_seq: int | None = None

    @property
    def errors(self) -> list[RowError]:
        return [e for row in self.rows for e in row.errors]

    @property
    def counts(self) -> dict[str, int]:
        result = {"rows": len(self.rows), CREATE: 0, UPDATE: 0, UNCHANGED: 0, ERROR: 0}
        for row in self.rows:
            result[row.action] += 1
        return result

    def as_dict(self) -> dict[str, Any]:
        return {
            "mapping": self.mapping.key,
            "mapping_version": self.mapping.version,
            "type": self.mapping.target,
            "file": self.filename,
            "sha256": self.sha256,
            "size": self.size,
            "mode": self.mapping.get("mode", "atomic"),
            "dry_run": self.dry_run,
            "applied": self.applied,
            "import": self.import_id,
            "counts": self.counts,
            "errors": [e.as_dict() for e in self.errors],
            "rows": [
                {
                    "line": row.line,
                    "action": row.action,
                    "record": row.record,
                    "data": row.data,
                    "errors": [e.as_dict() for e in row.errors],
                }
                for row in self.rows
            ],
        }

    def summary(self) -> str:
        counts = self.counts
        parts = ", ".join(
            f"{counts[k]} {k}" for k in (CREATE, UPDATE, UNCHANGED, ERROR) if counts[k]
        )
        if self.applied:
            outcome = f"applied as import {self.import_id}"
        elif self.dry_run:
            outcome = "dry run, nothing written"
        else:
            outcome = "NOT applied, nothing written"
        return f"{self.filename}: {counts['rows']} rows ({parts or 'none'}); {outcome}"

    def lines(self, limit: int | None = None) -> list[str]:
        """The summary and each row error, one per line (the first ``limit`` errors)."""
        errors = self.errors
        shown = errors if limit is None else errors[:limit]
        result = [self.summary(), *(e.text() for e in shown)]
        if len(shown) < len(errors):
            result.append(f"... and {len(errors) - len(shown)} more errors")
        return result


# --- lookups and matches by human key ---


def _key(value: Any) -> Any:
    """A comparable form: numbers from the database and from the file compare as equal."""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return Decimal(str(value))
    return value


def _chunks(values: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def find_records(
    conn: Connection, type_key: str, by: str, values: list[Any]
) -> dict[Any, dict[str, Any]]:
    """Records of ``type_key`` whose number (``by="number"``) or unique field ``by`` is
    one of ``values``, keyed by that value."""
    found: dict[Any, dict[str, Any]] = {}
    if not values:
        return found
    if by == BY_NUMBER:
        key_column: Any = record.c.number
    else:
        fdef = type_model(conn, type_key).fields[by]
        key_column = field_column(conn.dialect.name, by, sql_kind(fdef))
    for chunk in _chunks(values):
        rows = conn.execute(
            select(record, key_column.label("_key")).where(
                record.c.type_key == type_key_literal(type_key),
                key_column.in_([json_number(v) for v in chunk]),
            )
        ).mappings()
        for row in rows:
            found[_key(row["_key"])] = dict(row)
    return found


def _human_key(fdef: dict[str, Any] | None, value: Any, mapping: Mapping) -> Any:
    """A record number (``fdef`` None) or a value of the unique field ``fdef``."""
    return str(value).strip() if fdef is None else convert(fdef, value, mapping)


def _resolve_lookups(conn: Connection, model: TypeModel, mapping: Mapping, rows: list[Row]) -> None:
    """Replace human keys in lookup columns by record ids, one query per batch of keys.

    Every lookup column is resolved for every row that could be read, so a
    row with two unknown keys reports both.
    """
    readable = [not row.errors for row in rows]
    for column in mapping.columns:
        if not column.get("lookup"):
            continue
        source, key, by = column["source"], column["field"], column["lookup"]["by"]
        fdef = model.fields[key]
        # A key is converted like the field it is compared with (a unique integer code ...).
        by_field = None if by == BY_NUMBER else type_model(conn, fdef["to"]).fields[by]
        wanted: dict[int, list[Any]] = {}
        for index, row in enumerate(rows):
            cell = row.cells.get(source)
            if not readable[index] or blank(cell):
                continue
            cells = row.data[key] if fdef.get("multiple") else [cell]
            try:
                wanted[index] = [_human_key(by_field, c, mapping) for c in cells]
            except ValueError as exc:
                row.fail(str(exc), source, key)
        keys = sorted({_key(v) for values in wanted.values() for v in values}, key=str)
        found = find_records(conn, fdef["to"], by, keys)
        label = "number" if by == BY_NUMBER else by
        for index, values in wanted.items():
            ids = []
            for value in values:
                target = found.get(_key(value))
                if target is None:
                    rows[index].fail(
                        f"there is no {fdef['to']} record with {label} '{value}'", source, key
                    )
                else:
                    ids.append(target["id"])
            rows[index].data[key] = ids if fdef.get("multiple") else ids[0] if ids else None


def _resolve_matches(conn: Connection, model: TypeModel, mapping: Mapping, rows: list[Row]) -> None:
    match = mapping.match
    if not match:
        return
    source, by = match["source"], match["by"]
    keys: dict[int, Any] = {}
    for index, row in enumerate(rows):
        value = row.cells.get(source)
        if row.errors or blank(value):
            if not row.errors and not match.get("create", True):
                row.fail("is empty; the mapping updates records named in this column", source)
            continue
        try:
            keys[index] = row.match_key = _human_key(
                None if by == BY_NUMBER else model.fields[by], value, mapping
            )
        except ValueError as exc:
            row.fail(str(exc), source, None if by == BY_NUMBER else by)
    found = find_records(conn, model.key, by, sorted({_key(v) for v in keys.values()}, key=str))
    for index, value in keys.items():
        target = found.get(_key(value))
        row = rows[index]
        if target is not None:
            row.target = target
            row.record = {"id": target["id"], "number": target["number"]}
        elif not match.get("create", True):
            label = "number" if by == BY_NUMBER else by
            row.fail(f"there is no {model.key} record with {label} '{value}'", source)


# --- repeats inside the file ---


def _check_repeats(model: TypeModel, mapping: Mapping, rows: list[Row]) -> None:
    """Refuse what the file says twice: the same row, the same record, the same unique value."""
    seen_rows: dict[bytes, int] = {}
    seen_targets: dict[Any, int] = {}
    unique = [k for k, f in model.fields.items() if f.get("unique")]
    seen_values: dict[tuple[str, Any], int] = {}
    source_of = {c["field"]: c["source"] for c in mapping.columns}
    match = mapping.match
    for row in rows:
        fingerprint = canonical_json(row.cells)
        if fingerprint in seen_rows:
            row.fail(f"repeats line {seen_rows[fingerprint]}")
            continue
        seen_rows[fingerprint] = row.line
        if row.errors:
            continue
        if match and row.match_key is not None:
            named = ("record", row.target["id"]) if row.target else ("new", _key(row.match_key))
            if named in seen_targets:
                row.fail(f"line {seen_targets[named]} already names this record", match["source"])
                continue
            seen_targets[named] = row.line
        for key in unique:
            value = row.data.get(key)
            if value is None or (row.target and row.target["data"].get(key) == value):
                continue
            if (key, _key(value)) in seen_values:
                row.fail(
                    f"line {seen_values[(key, _key(value))]} already uses the value {value!r}; "
                    "it must be unique",
                    source_of.get(key),
                    key,
                )
            else:
                seen_values[(key, _key(value))] = row.line


# --- validation by the record service's rules ---


def _column_of(mapping: Mapping, key: str | None) -> str | None:
    for column in mapping.columns:
        if column["field"] == key:
            return column["source"]
    return "(constant)" if key in mapping.constants else None


def _record_errors(row: Row, mapping: Mapping, errors: list[FieldError]) -> None:
    for error in errors:
        found = _DATA_FIELD.match(error.field)
        key = found.group(1) if found else None
        row.fail(error.message, _column_of(mapping, key), key or error.field)


class _RowCheck:
    """Checks rows as ``create_record`` / ``update_record`` would, writing nothing."""

    def __init__(self, conn: Connection, actor: Principal, model: TypeModel, mapping: Mapping):
        self.conn, self.actor, self.model, self.mapping = conn, actor, model, mapping
        self.rules: dict[str | None, StateRules] = {}

    def __call__(self, row: Row) -> None:
        current = row.target
        state = None if current is None else current["state"]
        if state not in self.rules:
            self.rules[state] = state_rules(self.conn, self.model, state)
        check = field_check(
            self.conn,
            self.actor,
            self.model,
            current,
            rules=self.rules[state],
            attachment_limit=NO_ATTACHMENTS,
        )
        stored = check.build(row.data, expression_context(self.actor, current))
        _record_errors(row, self.mapping, check.errors)
        if not row.errors and current is not None:
            row.unchanged = stored == current["data"]


# --- dry run and apply ---


def _check_permissions(actor: Principal, model: TypeModel, mapping: Mapping) -> None:
    match = mapping.match
    if (not match or match.get("create", True)) and not model.allows(actor, "create"):
        raise Forbidden(f"You may not create {model.definition['plural']}.")
    if match and not model.allows(actor, "edit"):
        raise Forbidden(f"You may not edit {model.definition['plural']}.")


def previous_import(conn: Connection, mapping_key: str, sha256: str) -> dict[str, Any] | None:
    """The import run that already applied these bytes through this mapping, if any."""
    found = (
        conn.execute(
            select(import_run).where(
                import_run.c.mapping_key == mapping_key, import_run.c.sha256 == sha256
            )
        )
        .mappings()
        .first()
    )
    return None if found is None else dict(found)


def _already(mapping_key: str, run: dict[str, Any]) -> Conflict:
    return Conflict(
        f"This file was already imported through mapping '{mapping_key}' as import "
        f"{run['id']} on {run['started_at']:%Y-%m-%d %H:%M} UTC; the same file is never "
        "imported twice.",
        extra={"import": run["id"]},
    )


def _prepare(
    conn: Connection,
    actor: Principal,
    mapping_key: str,
    raw: bytes,
    filename: str,
    *,
    validate: bool,
) -> ImportReport:
    """Read and check the file; ``validate`` adds the record service's checks of each row
    (a dry run needs them; an apply gets them from the service as it writes)."""
    mapping = load_mapping(conn, mapping_key)
    problems = definition_errors(conn, mapping.definition)
    if problems:
        raise ValidationFailed(
            f"Import mapping '{mapping_key}' no longer fits type '{mapping.target}'; "
            "publish a corrected version first.",
            problems,
        )
    model = type_model(conn, mapping.target)
    _check_permissions(actor, model, mapping)
    limit = min(mapping.get("max_bytes", max_import_bytes()), max_import_bytes())
    if len(raw) > limit:
        raise PayloadTooLarge(
            f"The file is {len(raw):,} bytes; mapping '{mapping_key}' takes at most {limit:,}.",
            [FieldError("file", f"must be at most {limit} bytes")],
        )
    sha256 = sha256_hex(raw)
    run = previous_import(conn, mapping_key, sha256)
    if run is not None:
        raise _already(mapping_key, run)
    rows = read_rows(mapping, raw)
    for row in rows:
        if not row.errors:
            convert_row(model, mapping, row)
    _resolve_lookups(conn, model, mapping, rows)
    _resolve_matches(conn, model, mapping, rows)
    _check_repeats(model, mapping, rows)
    if validate:
        _check_rows(conn, actor, model, mapping, rows)
    return ImportReport(mapping, filename, sha256, len(raw), rows)


def _check_rows(
    conn: Connection, actor: Principal, model: TypeModel, mapping: Mapping, rows: list[Row]
) -> None:
    check = _RowCheck(conn, actor, model, mapping)
    for row in rows:
        if not row.errors:
            check(row)


def preview_import(
    db: Database, actor: Principal, mapping_key: str, raw: bytes, filename: str
) -> ImportReport:
    """A dry run: the row-by-row report of what an apply would do; writes nothing."""
    with db.read() as conn:
        return _prepare(conn, actor, mapping_key, raw, filename, validate=True)


class _Rollback(Exception):
    """Ends the write transaction of an import that must leave no trace."""


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
        report = _prepare(conn, actor, mapping_key, raw, filename, validate=False)
        if report.errors and report.mapping.atomic:  # nothing will be written: report it all
            model = type_model(conn, report.mapping.target)
            _check_rows(conn, actor, model, report.mapping, report.rows)
    report.dry_run = False
    writable = [row for row in report.rows if not row.errors]
    if not writable or (report.errors and report.mapping.atomic):
        return report
    writer = _Writer(actor, report, reason)
    try:
        with db.write() as conn:
            writer.write(conn)
    except _Rollback:
        return report
    except IntegrityError:  # another import of the same file committed first
        with db.read() as conn:
            run = previous_import(conn, mapping_key, report.sha256)
        if run is None:
            raise
        raise _already(mapping_key, run) from None
    return report


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
                    conn, self.actor, self.mapping.target, attachment_limit=NO_ATTACHMENTS
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
            attachment_limit=NO_ATTACHMENTS,
            audit_details=details,
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
        started = utc_now()
        run_id = conn.execute(
            insert(import_run)
            .values(
                mapping_key=mapping.key,
                mapping_version=mapping.version,
                target_type=mapping.target,
                sha256=report.sha256,
                filename=report.filename[:255],
                size=report.size,
                mode=mapping.get("mode", "atomic"),
                actor=self.actor.username,
                started_at=started,
                counts={},
                produced=[],
                errors=[],
            )
            .returning(import_run.c.id)
        ).scalar_one()
        check = _RowCheck(conn, self.actor, type_model(conn, mapping.target), mapping)
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
                        _record_errors(row, mapping, exc.errors)
                    else:
                        row.fail(exc.detail)
                    failed = True
            if not failed or not mapping.atomic:
                self._flush()
        written = self.written
        if not written or (failed and mapping.atomic):
            raise _Rollback
        for row, view in written:
            row.record = {"id": view["id"], "number": view["number"]}
        produced = [
            [row.line, row.action, row.record["id"], row.record["number"]]
            for row in report.rows
            if row.record is not None and not row.errors
        ]
        counts = report.counts
        errors = [e.as_dict() for e in report.errors]
        seq = append(
            conn,
            [
                AuditEntry(
                    actor=self.actor.username,
                    action="import.apply",
                    type_key=mapping.target,
                    config_version=mapping.version,
                    details={
                        "import": run_id,
                        "mapping": mapping.key,
                        "mapping_version": mapping.version,
                        "file": report.filename,
                        "sha256": report.sha256,
                        "size": report.size,
                        "mode": mapping.get("mode", "atomic"),
                        "rows": counts,
                        "produced_sha256": content_hash(produced),
                    },
                    outbox_kind="import.applied",
                    outbox_payload={
                        "import": run_id,
                        "mapping": mapping.key,
                        "mapping_version": mapping.version,
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
                errors=errors,
                audit_seq=seq,
            )
        )
        report.applied, report.import_id, report.audit_seq = True, run_id, seq


def import_view(row: Any, *, details: bool = False) -> dict[str, Any]:
    """An import run as the API lists it; ``details`` adds produced rows and errors."""
    view = {
        "id": row["id"],
        "mapping": row["mapping_key"],
        "mapping_version": row["mapping_version"],
        "type": row["target_type"],
        "file": row["filename"],
        "sha256": row["sha256"],
        "size": row["size"],
        "mode": row["mode"],
        "actor": row["actor"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "counts": row["counts"],
        "audit_seq": row["audit_seq"],
    }
    if details:
        view["produced"] = [
            {"line": line, "action": action, "record": {"id": rid, "number": number}}
            for line, action, rid, number in row["produced"]
        ]
        view["errors"] = row["errors"]
    return view


def list_imports(
    conn: Connection,
    actor: Principal,
    *,
    mapping_key: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """Applied imports, newest first, into the types the caller may read (all for a
    configurer). Returns ``{"items": [...], "next": <before for the next page> or None}``.
    """
    if not 1 <= limit <= 500:
        raise ValidationFailed("Bad paging.", [FieldError("limit", "must be 1 to 500")])
    conditions = [import_run.c.target_type.in_([t["key"] for t in list_types(conn, actor)])]
    if mapping_key:
        conditions.append(import_run.c.mapping_key == mapping_key)
    if before:
        conditions.append(import_run.c.id < before)
    columns = [c for c in import_run.c if c.key not in ("produced", "errors")]
    rows = list(
        conn.execute(
            select(*columns).where(*conditions).order_by(import_run.c.id.desc()).limit(limit + 1)
        ).mappings()
    )
    items = [import_view(r) for r in rows[:limit]]
    return {"items": items, "next": items[-1]["id"] if len(rows) > limit else None}


def get_import(conn: Connection, actor: Principal, import_id: int) -> dict[str, Any]:
    """One import run with every row it produced and every row error."""
    row = conn.execute(select(import_run).where(import_run.c.id == import_id)).mappings().first()
    readable = row is not None and row["target_type"] in {t["key"] for t in list_types(conn, actor)}
    if not readable:
        raise NotFound(f"There is no import {import_id}.")
    return import_view(row, details=True)
