"""The language's operators, with SQL-like null rules and bounded results.

Each operator takes already-evaluated operands.  Arithmetic and unary signs
propagate null; comparisons with null are False, like SQL's unknown; ``in``
and indexing work on text, lists and records only.  The tables at the end map
each whitelisted ``ast`` operator to its implementation.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from labledger.expressions.errors import EvaluationError
from labledger.expressions.limits import MAX_EXPONENT, MAX_FLOAT_MAGNITUDE, MAX_INT_BITS
from labledger.expressions.values import (
    COLLECTION_TYPES,
    LIST_TYPES,
    NUMBER_TYPES,
    SEQUENCE_TYPES,
    align,
    check_length,
    check_number,
    kind,
    numbers,
)

Binary = Callable[[Any, Any], Any]
Unary = Callable[[Any], Any]
Comparison = Callable[[Any, Any], bool]


def add(a: Any, b: Any) -> Any:
    """``+`` adds numbers and joins two texts or two lists."""
    if a is None or b is None:
        return None
    if isinstance(a, str) and isinstance(b, str):
        return check_length(a + b)
    if isinstance(a, LIST_TYPES) and isinstance(b, LIST_TYPES):
        return check_length([*a, *b])
    a, b = numbers(a, b, "+")
    return check_number(a + b)


def _arithmetic(symbol: str, operation: Binary) -> Binary:
    """Build ``- / // %``: numbers only, with a readable division-by-zero message."""

    def apply(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        a, b = numbers(a, b, symbol)
        try:
            return check_number(operation(a, b))
        except ZeroDivisionError:
            raise EvaluationError("division by zero") from None

    return apply


def _mul(a: Any, b: Any) -> Any:
    """``*`` multiplies numbers; repeating text or lists would be a size bomb."""
    if a is None or b is None:
        return None
    if isinstance(a, SEQUENCE_TYPES) or isinstance(b, SEQUENCE_TYPES):
        raise EvaluationError("repeating text or lists with '*' is not offered")
    a, b = numbers(a, b, "*")
    return check_number(a * b)


def _pow(a: Any, b: Any) -> Any:
    """``a ** b`` with the exponent and the result bounded before computing.

    Integer powers are the classic way to freeze a process (``9 ** 9 ** 9``),
    so the size of the result is estimated from logarithms first.
    """
    if a is None or b is None:
        return None
    a, b = numbers(a, b, "**")
    if abs(b) > MAX_EXPONENT:
        raise EvaluationError(f"exponent is too large (at most {MAX_EXPONENT} in magnitude)")
    if isinstance(a, int) and isinstance(b, int) and b >= 0:
        if a not in (0, 1, -1) and b * math.log2(abs(a)) > MAX_INT_BITS:
            raise EvaluationError("result of '**' is too large")
        return check_number(a**b)
    try:
        result = a**b
    except ZeroDivisionError:
        raise EvaluationError("division by zero (zero to a negative power)") from None
    if isinstance(result, complex):
        raise EvaluationError("'**' of a negative number to a fractional power is not a number")
    if abs(result) > MAX_FLOAT_MAGNITUDE:
        raise EvaluationError("result of '**' is too large")
    return check_number(result)


def _sign(symbol: str, operation: Unary) -> Unary:
    """Build unary ``-`` and ``+``: numbers only, null stays null."""

    def apply(a: Any) -> Any:
        if a is None:
            return None
        if not isinstance(a, NUMBER_TYPES):
            raise EvaluationError(f"cannot use unary '{symbol}' with {kind(a)}")
        return operation(a)

    return apply


def _not(a: Any) -> bool:
    return not a


def _eq(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        a, b = align(a, b)
    return bool(a == b)


def _ne(a: Any, b: Any) -> bool:
    return not _eq(a, b)


def _ordering(symbol: str, operation: Comparison) -> Comparison:
    """Build ``< <= > >=``: False when either side is null, like SQL's unknown."""

    def compare(a: Any, b: Any) -> bool:
        if a is None or b is None:
            return False
        if type(a) is not type(b):
            a, b = align(a, b)
        try:
            return operation(a, b)
        except TypeError:
            message = f"cannot compare {kind(a)} with {kind(b)} using '{symbol}'"
            raise EvaluationError(message) from None

    return compare


def contains(item: Any, container: Any) -> bool:
    """``item in container`` for text, lists and records only; null container → False."""
    if container is None:
        return False
    if isinstance(container, str):
        if item is None:
            return False
        if not isinstance(item, str):
            raise EvaluationError(f"cannot look for {kind(item)} inside text")
        return item in container
    if isinstance(container, COLLECTION_TYPES):
        try:
            return item in container
        except TypeError:
            message = f"cannot look for {kind(item)} in {kind(container)}"
            raise EvaluationError(message) from None
    raise EvaluationError(f"cannot use 'in' with {kind(container)}")


def _not_in(item: Any, container: Any) -> bool:
    if container is None:
        return False
    return not contains(item, container)


def _is_none(a: Any, _none: Any) -> bool:
    return a is None


def _is_not_none(a: Any, _none: Any) -> bool:
    return a is not None


def field_of(value: Any, name: str) -> Any:
    """``record.field``: a key lookup on a mapping, never Python attribute access."""
    if type(value) is dict:
        return value.get(name)
    if value is None:
        return None
    if isinstance(value, Mapping):
        return value.get(name)
    raise EvaluationError(f"cannot read '.{name}' of {kind(value)}; only records have fields")


def item_of(container: Any, key: Any) -> Any:
    """``a[i]``: list/text by integer position, record by text key; missing → null."""
    if container is None or key is None:
        return None
    if isinstance(container, Mapping):
        if not isinstance(key, str):
            raise EvaluationError(f"a record can only be indexed by text, not {kind(key)}")
        return container.get(key)
    if isinstance(container, SEQUENCE_TYPES):
        if type(key) is not int:
            raise EvaluationError(f"a position must be a whole number, not {kind(key)}")
        if -len(container) <= key < len(container):
            return container[key]
        return None
    raise EvaluationError(f"cannot index {kind(container)}")


BINARY_OPERATORS: dict[type[ast.operator], Binary] = {
    ast.Add: add,
    ast.Sub: _arithmetic("-", operator.sub),
    ast.Mult: _mul,
    ast.Div: _arithmetic("/", operator.truediv),
    ast.FloorDiv: _arithmetic("//", operator.floordiv),
    ast.Mod: _arithmetic("%", operator.mod),
    ast.Pow: _pow,
}

UNARY_OPERATORS: dict[type[ast.unaryop], Unary] = {
    ast.USub: _sign("-", operator.neg),
    ast.UAdd: _sign("+", operator.pos),
    ast.Not: _not,
}

COMPARISONS: dict[type[ast.cmpop], Comparison] = {
    ast.Eq: _eq,
    ast.NotEq: _ne,
    ast.Lt: _ordering("<", operator.lt),
    ast.LtE: _ordering("<=", operator.le),
    ast.Gt: _ordering(">", operator.gt),
    ast.GtE: _ordering(">=", operator.ge),
    ast.In: contains,
    ast.NotIn: _not_in,
    ast.Is: _is_none,
    ast.IsNot: _is_not_none,
}
