"""What the platform knows about each field type, in one place.

For each type: the JSON Schema fragment that validates a value, the Python
normalisation JSON Schema cannot express (real calendar dates, decimal
places), how the value is compared in SQL (text, number or boolean, used by
filters, sorting and expression indexes), and the typed column it gets in the
reporting view.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from msgspec import UNSET, UnsetType

from labledger.db.jsonfields import BOOLEAN, JSON, NUMBER, TEXT
from labledger.limits import INT64_MAX
from labledger.metadata.spec.fields import (
    ChoiceField,
    ComputedField,
    DecimalField,
    FieldSpec,
    IntegerField,
    LongTextField,
    MultiChoiceField,
    ReferenceField,
    TextField,
)

#: A record id (64-bit, like the column it is looked up in) or a record number.
_ONE_REFERENCE = {
    "type": ["integer", "string"],
    "minimum": 1,
    "maximum": INT64_MAX,
    "maxLength": 100,
}
#: The value schema of each kind that has no attributes shaping it.
_PLAIN_SCHEMAS: dict[str, dict[str, Any]] = {
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "maxLength": 10},
    "datetime": {"type": "string", "maxLength": 40},
    "user": {"type": "string", "maxLength": 64},
    "attachment": {"type": "integer", "minimum": 1, "maximum": INT64_MAX},
    "computed": {},
}


def value_schema(field: FieldSpec) -> dict[str, Any]:
    """The JSON Schema fragment one value of ``field`` must match."""
    match field:
        case TextField(max_length=max_length, pattern=pattern):
            schema: dict[str, Any] = {"type": "string", "maxLength": _or(max_length, 500)}
            return {**schema, "pattern": pattern} if pattern else schema
        case LongTextField(max_length=max_length):
            return {"type": "string", "maxLength": _or(max_length, 100000)}
        case IntegerField() | DecimalField():
            bounds = {"minimum": field.min, "maximum": field.max}
            schema = {"type": "integer" if isinstance(field, IntegerField) else "number"}
            return schema | {k: v for k, v in bounds.items() if v is not UNSET}
        case ChoiceField(options=options):
            return {"enum": [option.value for option in options]}
        case MultiChoiceField(options=options):
            items = {"enum": [option.value for option in options]}
            return {"type": "array", "uniqueItems": True, "items": items}
        case ReferenceField(multiple=True):
            return {"type": "array", "uniqueItems": True, "maxItems": 500, "items": _ONE_REFERENCE}
        case ReferenceField():
            return dict(_ONE_REFERENCE)
    return dict(_PLAIN_SCHEMAS[field.kind])


def _or(value: int | UnsetType, default: int) -> int:
    return default if isinstance(value, UnsetType) else value


def _multiple(field: FieldSpec) -> bool:
    """Does the field hold a list of references?"""
    return isinstance(field, ReferenceField) and field.multiple


def _keep(value: Any, _field: FieldSpec) -> Any:
    return value


def _normalise_integer(value: Any, _field: FieldSpec) -> int:
    """Whole numbers fit 64 bits: the report view and the databases compare them as bigint."""
    if not -(2**63) <= value < 2**63:
        raise ValueError("is out of range (whole numbers go up to 9223372036854775807)")
    return int(value)


def _normalise_date(value: Any, _field: FieldSpec | None = None) -> str:
    try:
        return date.fromisoformat(value).isoformat()
    except (TypeError, ValueError):
        raise ValueError("is not a date (use YYYY-MM-DD)") from None


def _normalise_datetime(value: Any, _field: FieldSpec) -> str:
    """Store every moment as UTC ``YYYY-MM-DDTHH:MM:SSZ`` so text order is time order."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            "is not a date and time (use ISO 8601, e.g. 2026-05-01T14:30:00Z)"
        ) from None
    if moment.tzinfo is None:
        raise ValueError("needs a time zone (e.g. 2026-05-01T14:30:00Z or +02:00)")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _normalise_decimal(value: Any, field: FieldSpec) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("is not a finite number")
    precision = field.precision if isinstance(field, DecimalField) else UNSET
    if isinstance(precision, UnsetType):
        return value
    try:
        exponent = Decimal(str(value)).as_tuple().exponent
    except InvalidOperation:
        raise ValueError("is not a number") from None
    if isinstance(exponent, int) and -exponent > precision:
        raise ValueError(f"has more than {precision} decimal place(s)")
    return value


def _normalise_text(value: Any, _field: FieldSpec) -> Any:
    return value.strip() if isinstance(value, str) else value


@dataclass(frozen=True)
class FieldType:
    name: str
    sql_kind: str
    #: Column type in the reporting view: (PostgreSQL cast, SQLite cast) or None for raw JSON.
    view_cast: tuple[str, str] | None
    normalise: Callable[[Any, FieldSpec], Any] = _keep
    #: False for values the user never types (computed).
    accepts_input: bool = True


FIELD_TYPES: dict[str, FieldType] = {
    t.name: t
    for t in (
        FieldType("text", TEXT, ("text", "TEXT"), _normalise_text),
        FieldType("long_text", TEXT, ("text", "TEXT")),
        FieldType("integer", NUMBER, ("bigint", "INTEGER"), _normalise_integer),
        FieldType("decimal", NUMBER, ("numeric", "REAL"), _normalise_decimal),
        FieldType("boolean", BOOLEAN, ("boolean", "INTEGER")),
        FieldType("date", TEXT, ("date", "TEXT"), _normalise_date),
        FieldType("datetime", TEXT, ("timestamptz", "TEXT"), _normalise_datetime),
        FieldType("choice", TEXT, ("text", "TEXT")),
        FieldType("multi_choice", JSON, None),
        # A reference is given as the target's id or its human number; stored as the id.
        FieldType("reference", NUMBER, ("bigint", "INTEGER")),
        FieldType("user", TEXT, ("text", "TEXT")),
        FieldType("attachment", NUMBER, ("bigint", "INTEGER")),
        FieldType("computed", TEXT, None, accepts_input=False),
    )
}

#: The SQL kind of a computed field follows its declared result type.
COMPUTED_SQL_KIND = {"boolean": BOOLEAN, "number": NUMBER, "text": TEXT, "date": TEXT}
COMPUTED_VIEW_CAST = {
    "boolean": ("boolean", "INTEGER"),
    "number": ("numeric", "REAL"),
    "text": ("text", "TEXT"),
    "date": ("date", "TEXT"),
}


def value_type(field: FieldSpec) -> str:
    """The type of the values a field stores: a computed field's is its result type."""
    if isinstance(field, ComputedField):
        return f"computed ({field.result_type})"
    return field.kind


def computed_result(field: FieldSpec, value: Any) -> Any:
    """A computed field's value as stored: of its ``result_type``, or None.

    Filter indexes and the report view cast the value to that type, so a result
    that does not fit (a number where a boolean was declared) is stored as no
    value, like a result that could not be computed, rather than break the write.
    """
    kind = field.result_type if isinstance(field, ComputedField) else "text"
    if value is None or kind == "text":
        return value
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if kind == "number":
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return value if number and math.isfinite(value) else None
    try:
        return _normalise_date(value)
    except ValueError:
        return None


def sql_kind(field: FieldSpec) -> str:
    if _multiple(field):
        return JSON
    if isinstance(field, ComputedField):
        return COMPUTED_SQL_KIND[field.result_type]
    return FIELD_TYPES[field.kind].sql_kind


def view_cast(field: FieldSpec) -> tuple[str, str] | None:
    if _multiple(field):
        return None
    if isinstance(field, ComputedField):
        return COMPUTED_VIEW_CAST[field.result_type]
    return FIELD_TYPES[field.kind].view_cast


_BOOL_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def parse_filter_value(field: FieldSpec, raw: str) -> Any:
    """Turn a filter value from a query string into the value SQL compares with."""
    kind = sql_kind(field)
    if kind == NUMBER:
        if not _NUMBER.match(raw.strip()):
            raise ValueError(f"'{raw}' is not a number")
        return Decimal(raw.strip())
    if kind == BOOLEAN:
        if raw.lower() not in _BOOL_WORDS:
            raise ValueError(f"'{raw}' is not true or false")
        return _BOOL_WORDS[raw.lower()]
    if field.kind in ("date", "datetime"):
        return FIELD_TYPES[field.kind].normalise(raw, field)
    return raw
