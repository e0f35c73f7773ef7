"""What an import file names: the records its lookups and matches refer to.

Lookup columns name other records and the match column names the records an
update changes, each by a human key (a record number or a unique field's
value); they are resolved in batches, one query per ``CHUNK`` keys. Then what
the file names twice is refused: the same row, the same record, the same
unique value. An import run already made from the same bytes is found here
too: the same file is never imported twice through one mapping.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from msgspec import UnsetType
from sqlalchemy import Connection, select

from labledger.canonical import canonical_json_of_plain
from labledger.db.integration_tables import import_run
from labledger.db.jsonfields import field_column, type_key_literal
from labledger.db.membership import one_of
from labledger.db.tables import record
from labledger.errors import Conflict
from labledger.integration.mappings import BY_NUMBER, Mapping
from labledger.integration.rows import Row, blank, convert, json_number
from labledger.metadata.fieldtypes import sql_kind
from labledger.metadata.model import TypeModel
from labledger.metadata.spec import FieldSpec
from labledger.metadata.spec.fields import ReferenceField
from labledger.metadata.types import type_model

#: Values per ``IN (...)`` when resolving lookups and matches.
CHUNK = 500


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


def already_imported(mapping_key: str, run: dict[str, Any]) -> Conflict:
    """The refusal of a file that ``run`` imported through the mapping before."""
    return Conflict(
        f"This file was already imported through mapping '{mapping_key}' as import "
        f"{run['id']} on {run['started_at']:%Y-%m-%d %H:%M} UTC; the same file is never "
        "imported twice.",
        extra={"import": run["id"]},
    )


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
        fspec = type_model(conn, type_key).field_specs[by]
        key_column = field_column(conn.dialect.name, by, sql_kind(fspec))
    for chunk in _chunks(values):
        rows = conn.execute(
            select(record, key_column.label("_key")).where(
                record.c.type_key == type_key_literal(type_key),
                one_of(conn.dialect.name, key_column, [json_number(v) for v in chunk]),
            )
        ).mappings()
        for row in rows:
            found[_key(row["_key"])] = dict(row)
    return found


def _key_field(model: TypeModel, by: str) -> FieldSpec | None:
    """The unique field records are named by (None: by their number)."""
    return None if by == BY_NUMBER else model.field_specs[by]


def _human_key(fspec: FieldSpec | None, value: Any, mapping: Mapping) -> Any:
    """A record number (``fspec`` None) or a value of the unique field ``fspec``."""
    return str(value).strip() if fspec is None else convert(fspec, value, mapping)


def _missing(type_key: str, by: str, value: Any) -> str:
    """The message of a human key that names no record."""
    return f"there is no {type_key} record with {'number' if by == BY_NUMBER else by} '{value}'"


def resolve_lookups(conn: Connection, model: TypeModel, mapping: Mapping, rows: list[Row]) -> None:
    """Replace human keys in lookup columns by record ids, one query per batch of keys.

    Every lookup column is resolved for every row that could be read, so a
    row with two unknown keys reports both.
    """
    readable = [not row.errors for row in rows]
    for column in mapping.spec.columns:
        if isinstance(column.lookup, UnsetType):
            continue
        reference = model.field_specs[column.field]
        if not isinstance(reference, ReferenceField):
            continue  # never: a lookup sits on a reference field (checked before reading)
        source, key, by = column.source, column.field, column.lookup.by
        # A key is converted like the field it is compared with (a unique integer code ...).
        by_field = _key_field(type_model(conn, reference.to), by)
        wanted: dict[int, list[Any]] = {}
        for index, row in enumerate(rows):
            cell = row.cells.get(source)
            if not readable[index] or blank(cell):
                continue
            cells = row.data[key] if reference.multiple else [cell]
            try:
                wanted[index] = [_human_key(by_field, c, mapping) for c in cells]
            except ValueError as exc:
                row.fail(str(exc), source, key)
        keys = sorted({_key(v) for values in wanted.values() for v in values}, key=str)
        found = find_records(conn, reference.to, by, keys)
        for index, values in wanted.items():
            ids = []
            for value in values:
                target = found.get(_key(value))
                if target is None:
                    rows[index].fail(_missing(reference.to, by, value), source, key)
                else:
                    ids.append(target["id"])
            rows[index].data[key] = ids if reference.multiple else ids[0] if ids else None


def resolve_matches(conn: Connection, model: TypeModel, mapping: Mapping, rows: list[Row]) -> None:
    """Find the record each row's match column names; a row naming none creates one
    (or fails, when the mapping only updates)."""
    match = mapping.match
    if not match:
        return
    source, by = match.source, match.by
    keys: dict[int, Any] = {}
    for index, row in enumerate(rows):
        value = row.cells.get(source)
        if row.errors or blank(value):
            if not row.errors and not match.create:
                row.fail("is empty; the mapping updates records named in this column", source)
            continue
        try:
            keys[index] = row.match_key = _human_key(_key_field(model, by), value, mapping)
        except ValueError as exc:
            row.fail(str(exc), source, None if by == BY_NUMBER else by)
    found = find_records(conn, model.key, by, sorted({_key(v) for v in keys.values()}, key=str))
    for index, value in keys.items():
        target = found.get(_key(value))
        row = rows[index]
        if target is not None:
            row.target = target
            row.record = {"id": target["id"], "number": target["number"]}
        elif not match.create:
            row.fail(_missing(model.key, by, value), source)


def check_repeats(model: TypeModel, mapping: Mapping, rows: list[Row]) -> None:
    """Refuse what the file says twice: the same row, the same record, the same unique value."""
    seen_rows: dict[bytes, int] = {}
    seen_targets: dict[Any, int] = {}
    unique = [k for k, f in model.field_specs.items() if f.unique]
    seen_values: dict[tuple[str, Any], int] = {}
    source_of = {c.field: c.source for c in mapping.spec.columns}
    match = mapping.match
    for row in rows:
        fingerprint = canonical_json_of_plain(row.cells)  # equal cells, equal bytes
        if fingerprint in seen_rows:
            row.fail(f"repeats line {seen_rows[fingerprint]}")
            continue
        seen_rows[fingerprint] = row.line
        if row.errors:
            continue
        if match and row.match_key is not None:
            named = ("record", row.target["id"]) if row.target else ("new", _key(row.match_key))
            if named in seen_targets:
                row.fail(f"line {seen_targets[named]} already names this record", match.source)
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
