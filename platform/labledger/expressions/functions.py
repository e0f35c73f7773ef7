"""The built-in functions every expression may call, and their registry.

Rule of thumb: null in, null out — except the predicates (``contains``,
``startswith``, ``is_empty``), which answer False/True, and ``coalesce``.
Each function checks its own argument types so the administrator reads which
function got what; the date functions live in :mod:`.dates`.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from labledger.expressions.dates import add_days, as_date, days_between, now, today
from labledger.expressions.errors import EvaluationError
from labledger.expressions.limits import MAX_NDIGITS, MAX_NUMBER_TEXT
from labledger.expressions.operators import add, contains
from labledger.expressions.values import (
    COLLECTION_TYPES,
    CONTAINER_TYPES,
    NUMBER_TYPES,
    check_length,
    check_number,
    kind,
)

_Required = TypeVar("_Required")


def _require(
    value: Any, types: type[_Required] | tuple[type[_Required], ...], what: str, function: str
) -> _Required:
    """Return ``value`` when it has one of ``types``; otherwise say what ``function`` needs."""
    if not isinstance(value, types):
        raise EvaluationError(f"{function}() needs {what}, not {kind(value)}")
    return value


def _null_keeping(
    name: str,
    types: type[_Required] | tuple[type[_Required], ...],
    what: str,
    operation: Callable[[Any], Any],
) -> Callable[[Any], Any]:
    """Build a one-argument function that needs ``types`` and keeps null as null."""

    def apply(value: Any, /) -> Any:
        if value is None:
            return None
        return operation(_require(value, types, what, name))

    return apply


def _aggregate_items(values: tuple[Any, ...]) -> list[Any]:
    """min/max accept ``f(list)`` or ``f(a, b, ...)``; nulls are skipped like SQL."""
    if len(values) == 1:
        only = values[0]
        if only is None:
            return []
        if isinstance(only, CONTAINER_TYPES):
            values = tuple(only)
    return [v for v in values if v is not None]


def _extreme(function: str, pick: Callable[[list[Any]], Any]) -> Callable[..., Any]:
    """Build ``min`` and ``max``: a Decimal/float mix is compared as floats."""

    def extreme(value: Any, /, *values: Any) -> Any:
        items = _aggregate_items((value, *values))
        if not items:
            return None
        if any(isinstance(v, Decimal) for v in items) and any(isinstance(v, float) for v in items):
            items = [float(v) if isinstance(v, Decimal) else v for v in items]
        try:
            return pick(items)
        except TypeError:
            kinds = sorted({kind(v) for v in items})
            raise EvaluationError(f"{function}() cannot compare {' and '.join(kinds)}") from None

    return extreme


def _round(value: Any, ndigits: Any = None) -> Any:
    if value is None:
        return None
    _require(value, NUMBER_TYPES, "a number", "round")
    if ndigits is None:
        return round(value)
    if type(ndigits) is not int or abs(ndigits) > MAX_NDIGITS:
        raise EvaluationError(f"round() needs ndigits as a whole number up to {MAX_NDIGITS}")
    return round(value, ndigits)


def _sum(values: Any, /) -> Any:
    if values is None:
        return None
    _require(values, CONTAINER_TYPES, "a list", "sum")
    total: Any = 0
    for item in values:
        if item is None:
            continue
        if not isinstance(item, NUMBER_TYPES):
            raise EvaluationError(f"sum() can only add numbers, not {kind(item)}")
        total = add(total, item)
    return total


def _contains(haystack: Any, needle: Any) -> bool:
    if haystack is None:
        return False
    return contains(needle, haystack)


def _startswith(value: Any, prefix: Any) -> bool:
    if value is None or prefix is None:
        return False
    text = _require(value, str, "text", "startswith")
    return text.startswith(_require(prefix, str, "a text prefix", "startswith"))


def _coalesce(*values: Any) -> Any:
    for value in values:
        if value is not None:
            return value
    return None


def _is_empty(value: Any, /) -> bool:
    if value is None:
        return True
    if isinstance(value, (str, *COLLECTION_TYPES)):
        return len(value) == 0
    return False


_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")


def _number(value: Any, /) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, NUMBER_TYPES):
        return check_number(value)
    _require(value, str, "text or a number", "number")
    text = value.strip()
    if not text:
        return None
    if len(text) > MAX_NUMBER_TEXT:
        raise EvaluationError("number() got text that is too long to be a number")
    try:
        result: int | float = int(text) if _INTEGER_TEXT.fullmatch(text) else float(text)
    except ValueError:
        raise EvaluationError(f"number() cannot read {value!r} as a number") from None
    return check_number(result)


def _text(value: Any, /) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (*NUMBER_TYPES, date)):
        return value.isoformat() if isinstance(value, date) else str(value)
    if isinstance(value, COLLECTION_TYPES):
        try:
            return check_length(json.dumps(value, default=str, ensure_ascii=False))
        except (TypeError, ValueError):
            raise EvaluationError(f"text() cannot convert {kind(value)}") from None
    raise EvaluationError(f"text() cannot convert {kind(value)}")


BUILTINS: dict[str, Callable[..., Any]] = {
    "len": _null_keeping("len", (str, *COLLECTION_TYPES), "text, a list or a record", len),
    "min": _extreme("min", min),
    "max": _extreme("max", max),
    "abs": _null_keeping("abs", NUMBER_TYPES, "a number", abs),
    "round": _round,
    "sum": _sum,
    "any": _null_keeping("any", CONTAINER_TYPES, "a list", any),
    "all": _null_keeping("all", CONTAINER_TYPES, "a list", all),
    "lower": _null_keeping("lower", str, "text", str.lower),
    "upper": _null_keeping("upper", str, "text", str.upper),
    "strip": _null_keeping("strip", str, "text", str.strip),
    "contains": _contains,
    "startswith": _startswith,
    "coalesce": _coalesce,
    "is_empty": _is_empty,
    "number": _number,
    "text": _text,
    "today": today,
    "now": now,
    "date": as_date,
    "days_between": days_between,
    "add_days": add_days,
}

#: Names of the functions every expression may call without the caller listing them.
BUILTIN_FUNCTIONS: frozenset[str] = frozenset(BUILTINS)

#: Signatures, so a wrong number of arguments is caught when metadata is saved.
SIGNATURES: dict[str, inspect.Signature] = {
    name: inspect.signature(function) for name, function in BUILTINS.items()
}
