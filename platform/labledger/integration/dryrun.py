"""A dry run of an import: the file read, resolved and checked row by row, nothing written.

``prepare`` is the first half of every import: the mapping still fits its
type, the caller may create or edit, the file is not too large and was not
imported before; then the rows are read, converted, resolved and checked for
repeats. A dry run adds the record service's own checks of each row
(``RowCheck``), in a read-only transaction, so its report says row by row what
an apply would do.
"""

from __future__ import annotations

import re

from msgspec import UnsetType
from sqlalchemy import Connection

from labledger.canonical import sha256_hex
from labledger.collector import collector_paused
from labledger.db.engine import Database, settings_of
from labledger.errors import FieldError, Forbidden, PayloadTooLarge, ValidationFailed
from labledger.identity.principal import Principal
from labledger.integration.mappings import Mapping, load_mapping
from labledger.integration.mappings import mapping_errors as definition_errors
from labledger.integration.report import ImportReport
from labledger.integration.resolve import (
    already_imported,
    check_repeats,
    previous_import,
    resolve_lookups,
    resolve_matches,
)
from labledger.integration.rows import Row, convert_row, read_rows
from labledger.metadata.model import TypeModel
from labledger.metadata.types import type_model
from labledger.records.service import StateRules, expression_context, field_check, state_rules

_DATA_FIELD = re.compile(r"^data\.([a-z][a-z0-9_]*)")


def preview_import(
    db: Database, actor: Principal, mapping_key: str, raw: bytes, filename: str
) -> ImportReport:
    """A dry run: the row-by-row report of what an apply would do; writes nothing."""
    with collector_paused(), db.read() as conn:
        return prepare(conn, actor, mapping_key, raw, filename, validate=True)


def prepare(
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
    limit = settings_of(conn).import_max_bytes
    if not isinstance(mapping.spec.max_bytes, UnsetType):
        limit = min(mapping.spec.max_bytes, limit)
    if len(raw) > limit:
        raise PayloadTooLarge(
            f"The file is {len(raw):,} bytes; mapping '{mapping_key}' takes at most {limit:,}.",
            [FieldError("file", f"must be at most {limit} bytes")],
        )
    sha256 = sha256_hex(raw)
    run = previous_import(conn, mapping_key, sha256)
    if run is not None:
        raise already_imported(mapping_key, run)
    rows = read_rows(mapping, raw)
    for row in rows:
        if not row.errors:
            convert_row(model, mapping, row)
    resolve_lookups(conn, model, mapping, rows)
    resolve_matches(conn, model, mapping, rows)
    check_repeats(model, mapping, rows)
    if validate:
        check_rows(conn, actor, mapping, rows)
    return ImportReport(mapping, filename, sha256, len(raw), rows)


def _check_permissions(actor: Principal, model: TypeModel, mapping: Mapping) -> None:
    match = mapping.match
    if (not match or match.create) and not model.allows(actor, "create"):
        raise Forbidden(f"You may not create {model.spec.plural}.")
    if match and not model.allows(actor, "edit"):
        raise Forbidden(f"You may not edit {model.spec.plural}.")


def check_rows(conn: Connection, actor: Principal, mapping: Mapping, rows: list[Row]) -> None:
    """Check the rows that have no problem yet as the record service would."""
    check = RowCheck(conn, actor, mapping)
    for row in rows:
        if not row.errors:
            check(row)


class RowCheck:
    """Checks rows as ``create_record`` / ``update_record`` would, writing nothing."""

    def __init__(self, conn: Connection, actor: Principal, mapping: Mapping) -> None:
        self.conn, self.actor, self.mapping = conn, actor, mapping
        self.model = type_model(conn, mapping.target)
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
            # Mappings cannot set attachment fields: an imported row names no file.
            attachments_allowed=False,
        )
        stored = check.build(row.data, expression_context(self.actor, current))
        record_errors(row, self.mapping, check.errors)
        if not row.errors and current is not None:
            row.unchanged = stored == current["data"]


def record_errors(row: Row, mapping: Mapping, errors: list[FieldError]) -> None:
    """Fail ``row`` with the record service's ``errors``, each at its column and field."""
    for error in errors:
        found = _DATA_FIELD.match(error.field)
        key = found.group(1) if found else None
        row.fail(error.message, _column_of(mapping, key), key or error.field)


def _column_of(mapping: Mapping, key: str | None) -> str | None:
    """The file's column (or the constant) that sets field ``key``."""
    for column in mapping.spec.columns:
        if column.field == key:
            return column.source
    return "(constant)" if key in mapping.constants else None
