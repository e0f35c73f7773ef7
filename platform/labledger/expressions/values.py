"""What the operators and functions share about values: the type families
the language knows, how to name a value's type for an administrator, and the
checks that keep numbers, texts and lists within the limits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeVar

from labledger.expressions.errors import EvaluationError
from labledger.expressions.limits import MAX_INT_BITS, MAX_SEQUENCE_LENGTH

NUMBER_TYPES = (int, float, Decimal)
LIST_TYPES = (list, tuple)
CONTAINER_TYPES = (list, tuple, set, frozenset)
SEQUENCE_TYPES = (str, list, tuple)
COLLECTION_TYPES = (list, tuple, set, frozenset, Mapping)

_Grown = TypeVar("_Grown", str, list[Any])


def kind(value: Any) -> str:
    """Name a value's type the way an administrator thinks about it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, NUMBER_TYPES):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, CONTAINER_TYPES):
        return "a list"
    if isinstance(value, Mapping):
        return "a record"
    return f"a value of type {type(value).__name__}"


def align(a: Any, b: Any) -> tuple[Any, Any]:
    """Make a Decimal/float pair comparable and combinable.

    Python refuses ``Decimal + float`` and compares them exactly (so
    ``Decimal('0.1') != 0.1``); for admin arithmetic the float reading is the
    sensible one.
    """
    if type(a) is Decimal and isinstance(b, float):
        return float(a), b
    if type(b) is Decimal and isinstance(a, float):
        return a, float(b)
    return a, b


def check_number(value: Any) -> Any:
    """Refuse numbers that are too large to be an honest result."""
    if type(value) is int:
        if value.bit_length() > MAX_INT_BITS:
            raise EvaluationError(f"number is too large (more than {MAX_INT_BITS} bits)")
    elif type(value) is float:
        if not math.isfinite(value):
            raise EvaluationError("result is not a finite number (overflow)")
    elif type(value) is Decimal and not value.is_finite():
        raise EvaluationError("result is not a finite number")
    return value


def check_length(value: _Grown) -> _Grown:
    """Refuse texts and lists that grow beyond the limit."""
    if len(value) > MAX_SEQUENCE_LENGTH:
        raise EvaluationError(f"result is longer than {MAX_SEQUENCE_LENGTH} items or characters")
    return value


def numbers(a: Any, b: Any, symbol: str) -> tuple[Any, Any]:
    """Return ``a, b`` ready for arithmetic, or explain why they are not numbers."""
    if not isinstance(a, NUMBER_TYPES) or not isinstance(b, NUMBER_TYPES):
        raise EvaluationError(f"cannot use '{symbol}' with {kind(a)} and {kind(b)}")
    if type(a) is not type(b):
        return align(a, b)
    return a, b
