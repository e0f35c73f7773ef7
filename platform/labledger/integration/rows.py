"""Reading an import file into rows, and a row's cells into field values.

The file is checked as a whole first — size, encoding, header (or JSON
shape) — and refused with one clear error when it cannot be read at all.
Then each cell is parsed by the type of the field it maps to (numbers,
booleans, lists, dates as text) and numbers are brought to the mapping's
declared unit. Every problem of a row is kept with its line number, column
and field, so the report can show all of them at once.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from msgspec import UnsetType

from labledger.errors import FieldError, ValidationFailed
from labledger.integration.mappings import NUMBER_TYPES, Mapping, unit_column
from labledger.limits import check_json_depth
from labledger.metadata.model import TypeModel
from labledger.metadata.spec import FieldSpec
from labledger.metadata.spec.fields import ReferenceField
from labledger.metadata.spec.mapping import ColumnSpec, UnitSpec

CREATE, UPDATE, UNCHANGED, ERROR = "create", "update", "unchanged", "error"
_INTEGER = re.compile(r"^[+-]?\d+$")
_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_BOOLEAN = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


@dataclass
class RowError:
    """One problem of one row: its line, and the column and field where known."""

    line: int
    message: str
    column: str | None = None
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        where = f"line {self.line}"
        if self.column:
            where += f", column '{self.column}'"
        if self.field and self.field != self.column:
            where += f" (field {self.field})"
        return f"{where}: {self.message}"


@dataclass
class Row:
    """A data row on its way to a record."""

    line: int
    cells: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    #: The value of the match column, and the existing record it names (if any).
    match_key: Any = None
    target: dict[str, Any] | None = None
    unchanged: bool = False
    #: The record written (after an apply) or to be updated: {"id", "number"}.
    record: dict[str, Any] | None = None

    def fail(self, message: str, column: str | None = None, field_key: str | None = None) -> None:
        self.errors.append(RowError(self.line, message, column, field_key))

    @property
    def action(self) -> str:
        if self.errors:
            return ERROR
        if self.target is None:
            return CREATE
        return UNCHANGED if self.unchanged else UPDATE


# --- reading the file ---


def _file_error(location: str, message: str) -> ValidationFailed:
    return ValidationFailed("The file cannot be imported.", [FieldError(location, message)])


def decode(mapping: Mapping, raw: bytes) -> str:
    """The file's text in the mapping's encoding (a UTF-8 byte order mark is skipped)."""
    encoding = mapping.spec.encoding
    codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise _file_error(
            "file",
            f"is not valid {encoding}: byte 0x{raw[exc.start]:02x} at line {line}, byte "
            f"{column} cannot be decoded. Save the file as {encoding}, or set the mapping's "
            "'encoding' to the one the file uses (e.g. latin-1 or cp1252).",
        ) from None


def _csv_rows(mapping: Mapping, text: str) -> list[Row]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=mapping.spec.delimiter)
    skip = mapping.spec.skip_lines
    header: list[str] | None = None
    rows: list[Row] = []
    last_line = 0
    try:
        for cells in reader:
            line, last_line = last_line + 1, reader.line_num
            if line <= skip or not any(c.strip() for c in cells):
                continue
            if header is None:
                header = [c.strip() for c in cells]
                _check_header(mapping, header, line)
                continue
            row = Row(line, dict(zip(header, cells, strict=False)))
            extra = cells[len(header) :]
            if len(cells) < len(header) or any(c.strip() for c in extra):
                row.fail(f"has {len(cells)} cells; the header has {len(header)}")
            rows.append(row)
    except csv.Error as exc:
        raise _file_error("file", f"is not valid CSV at line {reader.line_num}: {exc}") from None
    if header is None:
        raise _file_error("header", "the file has no header row")
    return rows


def _check_header(mapping: Mapping, header: list[str], line: int) -> None:
    errors = [
        FieldError("header", f"column '{name}' appears more than once (line {line})")
        for name in sorted({h for h in header if header.count(h) > 1})
    ]
    errors += [
        FieldError("header", f"the column '{name}' is missing (line {line})")
        for name in mapping.required_sources()
        if name not in header
    ]
    if mapping.spec.strict_header:
        known = mapping.known_sources()
        errors += [
            FieldError("header", f"the column '{name}' is not one the mapping knows (line {line})")
            for name in header
            if name not in known
        ]
    if errors:
        raise ValidationFailed("The file's header does not fit the mapping.", errors)


def _member(item: dict[str, Any], path: str) -> Any:
    """``item[path]``, or for ``a.b`` the member ``b`` of the object ``a``."""
    if path in item:
        return item[path]
    value: Any = item
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _json_rows(mapping: Mapping, text: str) -> list[Row]:
    """Rows of a JSON array of objects; a row's "line" is its position in the array."""
    check_json_depth(text, "file")
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _file_error(
            "file", f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    if not isinstance(items, list):
        raise _file_error("file", "must be a JSON array of objects")
    rows = []
    sources = mapping.known_sources()
    required = mapping.required_sources()
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            row = Row(position, {})
            row.fail("must be an object")
        else:
            row = Row(position, {s: _member(item, s) for s in sources})
            for name in required:
                if _member(item, name) is None:
                    row.fail(f"has no member '{name}'", name)
        rows.append(row)
    return rows


def read_rows(mapping: Mapping, raw: bytes) -> list[Row]:
    """The file's data rows, or a ``ValidationFailed`` naming why it cannot be read."""
    text = decode(mapping, raw)
    rows = _json_rows(mapping, text) if mapping.spec.format == "json" else _csv_rows(mapping, text)
    if not rows:
        raise _file_error("file", "has no data rows")
    return rows


# --- converting cells to field values ---


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def split_list(value: Any, mapping: Mapping) -> Any:
    """The values of a list cell (``a|b|c``); a JSON list is already one."""
    if not isinstance(value, str):
        return value
    return [p.strip() for p in value.split(mapping.spec.list_separator) if p.strip()]


def many_references(fspec: FieldSpec) -> bool:
    """Whether the field holds a list of references (its cell lists several records)."""
    return isinstance(fspec, ReferenceField) and fspec.multiple


def convert(fspec: FieldSpec, value: Any, mapping: Mapping) -> Any:
    """A cell as the value of field ``fspec``; numbers stay Decimal until units are applied.

    Text from a CSV file is parsed by the field's type; values of a JSON file
    keep their JSON type (numbers become Decimal). Raises ValueError with
    the message for the report.
    """
    kind = fspec.kind
    if not isinstance(value, str):
        if kind in NUMBER_TYPES and isinstance(value, int | float) and not isinstance(value, bool):
            return Decimal(str(value))
        return value
    text = value.strip()
    if kind == "integer":
        if not _INTEGER.match(text):
            raise ValueError(f"'{text}' is not a whole number")
        return Decimal(text)
    if kind == "decimal":
        if mapping.spec.decimal_separator == ",":
            text = text.replace(",", ".")
        if not _DECIMAL.match(text):
            raise ValueError(f"'{value.strip()}' is not a number")
        return Decimal(text)
    if kind == "boolean":
        if text.lower() not in _BOOLEAN:
            raise ValueError(f"'{text}' is not true or false (true/false, yes/no, 1/0)")
        return _BOOLEAN[text.lower()]
    if kind == "multi_choice" or many_references(fspec):
        parts = split_list(text, mapping)
        return [int(p) if kind == "reference" and p.isdigit() else p for p in parts]
    if kind == "reference" and text.isdigit():
        return int(text)
    return text


def json_number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _apply_unit(row: Row, column: ColumnSpec, unit: UnitSpec, value: Decimal) -> Decimal | None:
    source = unit_column(column)
    if source is None:
        return value
    given = row.cells.get(source)
    given = given.strip() if isinstance(given, str) else given
    if blank(given):
        row.fail(f"gives no unit (expected {unit.expected})", source, column.field)
        return None
    if given == unit.expected:
        return value
    conversions = {} if isinstance(unit.convert, UnsetType) else unit.convert
    factor = conversions.get(given) if isinstance(given, str) else None
    if factor is None:
        row.fail(
            f"unit '{given}' is not {unit.expected}, and the mapping declares no conversion for it",
            source,
            column.field,
        )
        return None
    return value * Decimal(str(factor))


def convert_row(model: TypeModel, mapping: Mapping, row: Row) -> None:
    data = {key: value for key, value in mapping.constants.items()}
    for column in mapping.spec.columns:
        source, key = column.source, column.field
        value = row.cells.get(source)
        if blank(value):
            continue
        fspec = model.field_specs[key]
        if column.lookup:  # human keys, replaced by ids once looked up
            data[key] = split_list(value, mapping) if many_references(fspec) else value
            continue
        try:
            converted = convert(fspec, value, mapping)
        except ValueError as exc:
            row.fail(str(exc), source, key)
            continue
        if not isinstance(column.unit, UnsetType) and isinstance(converted, Decimal):
            converted = _apply_unit(row, column, column.unit, converted)
            if converted is None:
                continue
        data[key] = json_number(converted)
    row.data = data
