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

from labledger.db.jsonfields import BOOLEAN, JSON, NUMBER, TEXT
from labledger.limits import INT64_MAX


def _text_schema(field: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "maxLength": field.get("max_length", 500)}
    if field.get("pattern"):
        schema["pattern"] = field["pattern"]
    return schema


def _long_text_schema(field: dict[str, Any]) -> dict[str, Any]:
    return {"type": "string", "maxLength": field.get("max_length", 100000)}


def _number_schema(base: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def schema(field: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {"type": base}
        if "min" in field:
            result["minimum"] = field["min"]
        if "max" in field:
            result["maximum"] = field["max"]
        return result

    return schema


def _choice_schema(field: dict[str, Any]) -> dict[str, Any]:
    return {"enum": [o["value"] for o in field["options"]]}


def _multi_choice_schema(field: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "uniqueItems": True, "items": _choice_schema(field)}


#: A record id (64-bit, like the column it is looked up in) or a record number.
_ONE_REFERENCE = {
    "type": ["integer", "string"],
    "minimum": 1,
    "maximum": INT64_MAX,
    "maxLength": 100,
}


def _reference_schema(field: dict[str, Any]) -> dict[str, Any]:
    """A target's id or number; with ``multiple``, a list of them."""
    if field.get("multiple"):
        return {"type": "array", "uniqueItems": True, "maxItems": 500, "items": _ONE_REFERENCE}
    return dict(_ONE_REFERENCE)


def _const(schema: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda _field: dict(schema)


def _keep(value: Any, _field: dict[str, Any]) -> Any:
    return value


def _normalise_integer(value: Any, _field: dict[str, Any]) -> int:
    """Whole numbers fit 64 bits: the report view and the databases compare them as bigint."""
    if not -(2**63) <= value < 2**63:
        raise ValueError("is out of range (whole numbers go up to 9223372036854775807)")
    return int(value)


def _normalise_date(value: Any, _field: dict[str, Any]) -> str:
    try:
        return date.fromisoformat(value).isoformat()
    except (TypeError, ValueError):
        raise ValueError("is not a date (use YYYY-MM-DD)") from None


def _normalise_datetime(value: Any, _field: dict[str, Any]) -> str:
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


def _normalise_decimal(value: Any, field: dict[str, Any]) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("is not a finite number")
    precision = field.get("precision")
    if precision is None:
        return value
    try:
        exponent = Decimal(str(value)).as_tuple().exponent
    except InvalidOperation:
        raise ValueError("is not a number") from None
    if isinstance(exponent, int) and -exponent > precision:
        raise ValueError(f"has more than {precision} decimal place(s)")
    return value


def _normalise_text(value: Any, field: dict[str, Any]) -> Any:
    return value.strip() if isinstance(value, str) else value


@dataclass(frozen=True)
class FieldType:
    name: str
    schema: Callable[[dict[str, Any]], dict[str, Any]]
    sql_kind: str
    #: Column type in the reporting view: (PostgreSQL cast, SQLite cast) or None for raw JSON.
    view_cast: tuple[str, str] | None
    normalise: Callable[[Any, dict[str, Any]], Any] = _keep
    #: False for values the user never types (computed).
    accepts_input: bool = True


FIELD_TYPES: dict[str, FieldType] = {
    t.name: t
    for t in (
        FieldType("text", _text_schema, TEXT, ("text", "TEXT"), _normalise_text),
        FieldType("long_text", _long_text_schema, TEXT, ("text", "TEXT")),
        FieldType(
            "integer", _number_schema("integer"), NUMBER, ("bigint", "INTEGER"), _normalise_integer
        ),
        FieldType(
            "decimal", _number_schema("number"), NUMBER, ("numeric", "REAL"), _normalise_decimal
        ),
        FieldType("boolean", _const({"type": "boolean"}), BOOLEAN, ("boolean", "INTEGER")),
        FieldType(
            "date",
            _const({"type": "string", "maxLength": 10}),
            TEXT,
            ("date", "TEXT"),
            _normalise_date,
        ),
        FieldType(
            "datetime",
            _const({"type": "string", "maxLength": 40}),
            TEXT,
            ("timestamptz", "TEXT"),
            _normalise_datetime,
        ),
        FieldType("choice", _choice_schema, TEXT, ("text", "TEXT")),
        FieldType("multi_choice", _multi_choice_schema, JSON, None),
        # A reference is given as the target's id or its human number; stored as the id.
        FieldType(
            "reference",
            _reference_schema,
            NUMBER,
            ("bigint", "INTEGER"),
        ),
        FieldType("user", _const({"type": "string", "maxLength": 64}), TEXT, ("text", "TEXT")),
        FieldType(
            "attachment",
            _const({"type": "integer", "minimum": 1, "maximum": INT64_MAX}),
            NUMBER,
            ("bigint", "INTEGER"),
        ),
        FieldType("computed", _const({}), TEXT, None, accepts_input=False),
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


def value_type(field: dict[str, Any]) -> str:
    """The type of the values a field stores: a computed field's is its result type."""
    if field["type"] == "computed":
        return f"computed ({field.get('result_type', 'text')})"
    return field["type"]


def computed_result(field: dict[str, Any], value: Any) -> Any:
    """A computed field's value as stored: of its ``result_type``, or None.

    Filter indexes and the report view cast the value to that type, so a result
    that does not fit (a number where a boolean was declared) is stored as no
    value, like a result that could not be computed, rather than break the write.
    """
    kind = field.get("result_type", "text")
    if value is None or kind == "text":
        return value
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if kind == "number":
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return value if number and math.isfinite(value) else None
    try:
        return _normalise_date(value, field)
    except ValueError:
        return None


def sql_kind(field: dict[str, Any]) -> str:
    if field.get("multiple"):
        return JSON
    if field["type"] == "computed":
        return COMPUTED_SQL_KIND[field.get("result_type", "text")]
    return FIELD_TYPES[field["type"]].sql_kind


def view_cast(field: dict[str, Any]) -> tuple[str, str] | None:
    if field.get("multiple"):
        return None
    if field["type"] == "computed":
        return COMPUTED_VIEW_CAST[field.get("result_type", "text")]
    return FIELD_TYPES[field["type"]].view_cast


_BOOL_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def parse_filter_value(field: dict[str, Any], raw: str) -> Any:
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
    if field["type"] in ("date", "datetime"):
        return FIELD_TYPES[field["type"]].normalise(raw, field)
    return raw
