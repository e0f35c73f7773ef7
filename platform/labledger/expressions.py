"""The platform's one sandboxed expression language.

Administrators write small expressions in metadata: computed fields
(``value < spec_low or value > spec_high``), workflow guards
(``status == 'done' and len(actions) > 0``) and conditional visibility or
requiredness (``review_required == False``).  Those strings come from JSON that
an administrator edits, so they are *untrusted code*.  Python's ``eval`` is
not a sandbox: ``().__class__.__bases__[0].__subclasses__()`` and friends
reach every object in the process, and ``9 ** 9 ** 9`` freezes it.

So this module never hands user text to ``eval``, ``exec`` or ``compile``
and never calls ``getattr`` on values.  Instead it:

1. parses the text with ``ast.parse(mode="eval")`` (parsing runs no code);
2. checks size limits (characters, nodes, nesting) so hostile input cannot
   exhaust the stack or the CPU before we even start;
3. translates a *whitelisted* subset of the tree into a tree of small Python
   closures, refusing everything else with an :class:`ExpressionError` that
   names the construct and its position;
4. runs the closures against a ``Mapping`` context.  Every operator is
   implemented here, with SQL-like null rules and limits on the size of
   numbers, texts and lists, and every failure surfaces as an
   :class:`EvaluationError`.

Translation happens once per distinct expression (results are cached), so
evaluating a compiled expression costs a handful of function calls.

The language is documented for administrators in ``docs/expressions.md``.
"""

from __future__ import annotations

import ast
import decimal
import difflib
import functools
import inspect
import json
import math
import re
import warnings
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

__all__ = [
    "BUILTIN_FUNCTIONS",
    "EvaluationError",
    "Expression",
    "ExpressionError",
    "compile_expression",
    "evaluate",
]

# ---------------------------------------------------------------------------
# Limits.  They are far above what a sensible admin expression needs and far
# below what it takes to hurt the process.
# ---------------------------------------------------------------------------

MAX_SOURCE_LENGTH = 2000
MAX_NODES = 500
MAX_DEPTH = 50
MAX_EXPONENT = 100
MAX_INT_BITS = 4096
MAX_FLOAT_MAGNITUDE = 1e300
MAX_SEQUENCE_LENGTH = 100_000
_MAX_DATE_TEXT = 64
_MAX_NDIGITS = 100

_CACHE_SIZE = 4096


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class ExpressionError(ValueError):
    """The expression text is unusable: it does not parse, uses a construct
    the language does not offer, or names an unknown name or function.

    Raised when compiling, so metadata can be rejected when it is saved rather
    than when a record happens to trigger it.  ``offset`` is the 0-based
    character position in the source (when known) so an editor can point at it.
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class EvaluationError(ValueError):
    """Evaluating a valid expression failed for this particular context:
    division by zero, wrong operand types, a result that is too large...

    It is the only exception :meth:`Expression.evaluate` lets out (besides
    :class:`ExpressionError`/:class:`EvaluationError` raised on purpose by
    caller-provided functions), so callers need exactly one ``except``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# A compiled node: takes the context and the caller's functions, returns a value.
_Node = Callable[[Mapping[str, Any], Mapping[str, Callable[..., Any]]], Any]
_NO_FUNCTIONS: Mapping[str, Callable[..., Any]] = {}


# ---------------------------------------------------------------------------
# Value helpers
# ---------------------------------------------------------------------------

_NUMBER_TYPES = (int, float, Decimal)
_LIST_TYPES = (list, tuple)
_CONTAINER_TYPES = (list, tuple, set, frozenset)
_SEQUENCE_TYPES = (str, list, tuple)
_COLLECTION_TYPES = (list, tuple, set, frozenset, Mapping)


def _kind(value: Any) -> str:
    """Name a value's type the way an administrator thinks about it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, _NUMBER_TYPES):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, _CONTAINER_TYPES):
        return "a list"
    if isinstance(value, Mapping):
        return "a record"
    return f"a value of type {type(value).__name__}"


def _align(a: Any, b: Any) -> tuple[Any, Any]:
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


def _check_number(value: Any) -> Any:
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


def _check_length(value: Any) -> Any:
    """Refuse texts and lists that grow beyond the limit."""
    if len(value) > MAX_SEQUENCE_LENGTH:
        raise EvaluationError(f"result is longer than {MAX_SEQUENCE_LENGTH} items or characters")
    return value


def _numbers(a: Any, b: Any, symbol: str) -> tuple[Any, Any]:
    """Return ``a, b`` ready for arithmetic, or explain why they are not numbers."""
    if not isinstance(a, _NUMBER_TYPES) or not isinstance(b, _NUMBER_TYPES):
        raise EvaluationError(f"cannot use '{symbol}' with {_kind(a)} and {_kind(b)}")
    if type(a) is not type(b):
        return _align(a, b)
    return a, b


# ---------------------------------------------------------------------------
# Operators.  Each takes already-evaluated operands; None propagates.
# ---------------------------------------------------------------------------


def _add(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if isinstance(a, str) and isinstance(b, str):
        return _check_length(a + b)
    if isinstance(a, _LIST_TYPES) and isinstance(b, _LIST_TYPES):
        return _check_length([*a, *b])
    a, b = _numbers(a, b, "+")
    return _check_number(a + b)


def _sub(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    a, b = _numbers(a, b, "-")
    return _check_number(a - b)


def _mul(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if isinstance(a, _SEQUENCE_TYPES) or isinstance(b, _SEQUENCE_TYPES):
        raise EvaluationError("repeating text or lists with '*' is not offered")
    a, b = _numbers(a, b, "*")
    return _check_number(a * b)


def _division(symbol: str, operation: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Build ``/``, ``//`` or ``%`` with a readable division-by-zero message."""

    def divide(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        a, b = _numbers(a, b, symbol)
        try:
            return _check_number(operation(a, b))
        except ZeroDivisionError:
            raise EvaluationError("division by zero") from None

    return divide


_truediv = _division("/", lambda a, b: a / b)
_floordiv = _division("//", lambda a, b: a // b)
_mod = _division("%", lambda a, b: a % b)


def _pow(a: Any, b: Any) -> Any:
    """``a ** b`` with the exponent and the result bounded before computing.

    Integer powers are the classic way to freeze a process (``9 ** 9 ** 9``),
    so the size of the result is estimated from logarithms first.
    """
    if a is None or b is None:
        return None
    a, b = _numbers(a, b, "**")
    if abs(b) > MAX_EXPONENT:
        raise EvaluationError(f"exponent is too large (at most {MAX_EXPONENT} in magnitude)")
    if isinstance(a, int) and isinstance(b, int) and b >= 0:
        if a not in (0, 1, -1) and b * math.log2(abs(a)) > MAX_INT_BITS:
            raise EvaluationError("result of '**' is too large")
        return _check_number(a**b)
    try:
        result = a**b
    except ZeroDivisionError:
        raise EvaluationError("division by zero (zero to a negative power)") from None
    if isinstance(result, complex):
        raise EvaluationError("'**' of a negative number to a fractional power is not a number")
    if abs(result) > MAX_FLOAT_MAGNITUDE:
        raise EvaluationError("result of '**' is too large")
    return _check_number(result)


def _neg(a: Any) -> Any:
    if a is None:
        return None
    if not isinstance(a, _NUMBER_TYPES):
        raise EvaluationError(f"cannot use unary '-' with {_kind(a)}")
    return -a


def _pos(a: Any) -> Any:
    if a is None:
        return None
    if not isinstance(a, _NUMBER_TYPES):
        raise EvaluationError(f"cannot use unary '+' with {_kind(a)}")
    return +a


def _not(a: Any) -> bool:
    return not a


def _eq(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        a, b = _align(a, b)
    return a == b


def _ne(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        a, b = _align(a, b)
    return a != b


def _ordering(symbol: str, operation: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    """Build ``< <= > >=``: False when either side is null, like SQL's unknown."""

    def compare(a: Any, b: Any) -> bool:
        if a is None or b is None:
            return False
        if type(a) is not type(b):
            a, b = _align(a, b)
        try:
            return operation(a, b)
        except TypeError:
            message = f"cannot compare {_kind(a)} with {_kind(b)} using '{symbol}'"
            raise EvaluationError(message) from None

    return compare


_lt = _ordering("<", lambda a, b: a < b)
_le = _ordering("<=", lambda a, b: a <= b)
_gt = _ordering(">", lambda a, b: a > b)
_ge = _ordering(">=", lambda a, b: a >= b)


def _in(item: Any, container: Any) -> bool:
    """``item in container`` for text, lists and records only; null container → False."""
    if container is None:
        return False
    if isinstance(container, str):
        if item is None:
            return False
        if not isinstance(item, str):
            raise EvaluationError(f"cannot look for {_kind(item)} inside text")
        return item in container
    if isinstance(container, _COLLECTION_TYPES):
        try:
            return item in container
        except TypeError:
            message = f"cannot look for {_kind(item)} in {_kind(container)}"
            raise EvaluationError(message) from None
    raise EvaluationError(f"cannot use 'in' with {_kind(container)}")


def _not_in(item: Any, container: Any) -> bool:
    if container is None:
        return False
    return not _in(item, container)


def _is_none(a: Any, _none: Any) -> bool:
    return a is None


def _is_not_none(a: Any, _none: Any) -> bool:
    return a is not None


def _attribute(value: Any, name: str) -> Any:
    """``record.field``: a key lookup on a mapping, never Python attribute access."""
    if type(value) is dict:
        return value.get(name)
    if value is None:
        return None
    if isinstance(value, Mapping):
        return value.get(name)
    raise EvaluationError(f"cannot read '.{name}' of {_kind(value)}; only records have fields")


def _index(container: Any, key: Any) -> Any:
    """``a[i]``: list/text by integer position, record by text key; missing → null."""
    if container is None or key is None:
        return None
    if isinstance(container, Mapping):
        if not isinstance(key, str):
            raise EvaluationError(f"a record can only be indexed by text, not {_kind(key)}")
        return container.get(key)
    if isinstance(container, _SEQUENCE_TYPES):
        if type(key) is not int:
            raise EvaluationError(f"a position must be a whole number, not {_kind(key)}")
        if -len(container) <= key < len(container):
            return container[key]
        return None
    raise EvaluationError(f"cannot index {_kind(container)}")


_BINARY_OPERATORS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: _add,
    ast.Sub: _sub,
    ast.Mult: _mul,
    ast.Div: _truediv,
    ast.FloorDiv: _floordiv,
    ast.Mod: _mod,
    ast.Pow: _pow,
}

_UNARY_OPERATORS: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: _neg,
    ast.UAdd: _pos,
    ast.Not: _not,
}

_COMPARISONS: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: _eq,
    ast.NotEq: _ne,
    ast.Lt: _lt,
    ast.LtE: _le,
    ast.Gt: _gt,
    ast.GtE: _ge,
    ast.In: _in,
    ast.NotIn: _not_in,
    ast.Is: _is_none,
    ast.IsNot: _is_not_none,
}


# ---------------------------------------------------------------------------
# Built-in functions.  Rule of thumb: null in, null out — except predicates
# (contains, startswith, is_empty) which answer False/True, and coalesce.
# ---------------------------------------------------------------------------


def _utcnow() -> datetime:
    """The clock, in one place so tests can replace it."""
    return datetime.now(UTC)


def _require(value: Any, types: type | tuple[type, ...], what: str, function: str) -> None:
    if not isinstance(value, types):
        raise EvaluationError(f"{function}() needs {what}, not {_kind(value)}")


def _fn_len(value: Any, /) -> int | None:
    if value is None:
        return None
    _require(value, (str, *_COLLECTION_TYPES), "text, a list or a record", "len")
    return len(value)


def _aggregate_items(values: tuple[Any, ...]) -> list[Any]:
    """min/max accept ``f(list)`` or ``f(a, b, ...)``; nulls are skipped like SQL."""
    if len(values) == 1:
        only = values[0]
        if only is None:
            return []
        if isinstance(only, _CONTAINER_TYPES):
            values = tuple(only)
    return [v for v in values if v is not None]


def _extreme(function: str, pick: Callable[..., Any]) -> Callable[..., Any]:
    def extreme(value: Any, /, *values: Any) -> Any:
        items = _aggregate_items((value, *values))
        if not items:
            return None
        if any(isinstance(v, Decimal) for v in items) and any(isinstance(v, float) for v in items):
            items = [float(v) if isinstance(v, Decimal) else v for v in items]
        try:
            return pick(items)
        except TypeError:
            kinds = sorted({_kind(v) for v in items})
            raise EvaluationError(f"{function}() cannot compare {' and '.join(kinds)}") from None

    return extreme


_fn_min = _extreme("min", min)
_fn_max = _extreme("max", max)


def _fn_abs(value: Any, /) -> Any:
    if value is None:
        return None
    _require(value, _NUMBER_TYPES, "a number", "abs")
    return abs(value)


def _fn_round(value: Any, ndigits: Any = None) -> Any:
    if value is None:
        return None
    _require(value, _NUMBER_TYPES, "a number", "round")
    if ndigits is None:
        return round(value)
    if type(ndigits) is not int or abs(ndigits) > _MAX_NDIGITS:
        raise EvaluationError(f"round() needs ndigits as a whole number up to {_MAX_NDIGITS}")
    return round(value, ndigits)


def _fn_sum(values: Any, /) -> Any:
    if values is None:
        return None
    _require(values, _CONTAINER_TYPES, "a list", "sum")
    total: Any = 0
    for item in values:
        if item is None:
            continue
        if not isinstance(item, _NUMBER_TYPES):
            raise EvaluationError(f"sum() can only add numbers, not {_kind(item)}")
        total = _add(total, item)
    return total


def _fn_any(values: Any, /) -> bool | None:
    if values is None:
        return None
    _require(values, _CONTAINER_TYPES, "a list", "any")
    return any(values)


def _fn_all(values: Any, /) -> bool | None:
    if values is None:
        return None
    _require(values, _CONTAINER_TYPES, "a list", "all")
    return all(values)


def _text_function(name: str, operation: Callable[[str], str]) -> Callable[[Any], str | None]:
    def transform(value: Any, /) -> str | None:
        if value is None:
            return None
        _require(value, str, "text", name)
        return operation(value)

    return transform


_fn_lower = _text_function("lower", str.lower)
_fn_upper = _text_function("upper", str.upper)
_fn_strip = _text_function("strip", str.strip)


def _fn_contains(haystack: Any, needle: Any) -> bool:
    if haystack is None:
        return False
    return _in(needle, haystack)


def _fn_startswith(value: Any, prefix: Any) -> bool:
    if value is None or prefix is None:
        return False
    _require(value, str, "text", "startswith")
    _require(prefix, str, "a text prefix", "startswith")
    return value.startswith(prefix)


def _fn_coalesce(*values: Any) -> Any:
    for value in values:
        if value is not None:
            return value
    return None


def _fn_is_empty(value: Any, /) -> bool:
    if value is None:
        return True
    if isinstance(value, (str, *_COLLECTION_TYPES)):
        return len(value) == 0
    return False


_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")


def _fn_number(value: Any, /) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, _NUMBER_TYPES):
        return _check_number(value)
    _require(value, str, "text or a number", "number")
    text = value.strip()
    if not text:
        return None
    if len(text) > 400:
        raise EvaluationError("number() got text that is too long to be a number")
    try:
        result: int | float = int(text) if _INTEGER_TEXT.fullmatch(text) else float(text)
    except ValueError:
        raise EvaluationError(f"number() cannot read {value!r} as a number") from None
    return _check_number(result)


def _fn_text(value: Any, /) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (*_NUMBER_TYPES, date)):
        return value.isoformat() if isinstance(value, date) else str(value)
    if isinstance(value, _COLLECTION_TYPES):
        try:
            return _check_length(json.dumps(value, default=str, ensure_ascii=False))
        except (TypeError, ValueError):
            raise EvaluationError(f"text() cannot convert {_kind(value)}") from None
    raise EvaluationError(f"text() cannot convert {_kind(value)}")


def _to_date(value: Any, function: str) -> date:
    """Read a date, a datetime or their ISO-8601 text as a calendar date in UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return value
    elif isinstance(value, str) and len(value) <= _MAX_DATE_TEXT:
        text = value.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise EvaluationError(f"{function}() cannot read {value!r} as a date") from None
    else:
        raise EvaluationError(f"{function}() needs an ISO date text, not {_kind(value)}")
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date()


def _fn_today() -> str:
    return _utcnow().date().isoformat()


def _fn_now() -> str:
    return _utcnow().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _fn_date(value: Any, /) -> str | None:
    if value is None:
        return None
    return _to_date(value, "date").isoformat()


def _fn_days_between(start: Any, end: Any) -> int | None:
    if start is None or end is None:
        return None
    return (_to_date(end, "days_between") - _to_date(start, "days_between")).days


def _fn_add_days(day: Any, days: Any) -> str | None:
    if day is None or days is None:
        return None
    if isinstance(days, float | Decimal) and days == int(days):
        days = int(days)
    if type(days) is not int:
        raise EvaluationError(f"add_days() needs a whole number of days, not {_kind(days)}")
    try:
        return (_to_date(day, "add_days") + timedelta(days=days)).isoformat()
    except OverflowError:
        raise EvaluationError("add_days() result is outside the supported date range") from None


_BUILTINS: dict[str, Callable[..., Any]] = {
    "len": _fn_len,
    "min": _fn_min,
    "max": _fn_max,
    "abs": _fn_abs,
    "round": _fn_round,
    "sum": _fn_sum,
    "any": _fn_any,
    "all": _fn_all,
    "lower": _fn_lower,
    "upper": _fn_upper,
    "strip": _fn_strip,
    "contains": _fn_contains,
    "startswith": _fn_startswith,
    "coalesce": _fn_coalesce,
    "is_empty": _fn_is_empty,
    "number": _fn_number,
    "text": _fn_text,
    "today": _fn_today,
    "now": _fn_now,
    "date": _fn_date,
    "days_between": _fn_days_between,
    "add_days": _fn_add_days,
}

#: Names of the functions every expression may call without the caller listing them.
BUILTIN_FUNCTIONS: frozenset[str] = frozenset(_BUILTINS)

_SIGNATURES = {name: inspect.signature(function) for name, function in _BUILTINS.items()}


# ---------------------------------------------------------------------------
# Compiled expression
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Expression:
    """A checked, ready-to-run expression.  Build it with :func:`compile_expression`.

    ``names`` and ``functions`` tell the platform what the expression depends
    on (e.g. which fields a computed field must be recomputed for).
    """

    source: str
    names: frozenset[str]
    functions: frozenset[str]
    _run: _Node = field(repr=False, compare=False, kw_only=True)

    def evaluate(
        self,
        context: Mapping[str, Any],
        functions: Mapping[str, Callable[..., Any]] | None = None,
    ) -> Any:
        """Run the expression against ``context`` (missing names read as None).

        ``functions`` supplies the callables for the extra function names that
        were allowed at compile time.  Any failure becomes an EvaluationError.
        """
        try:
            return self._run(context, functions or _NO_FUNCTIONS)
        except (EvaluationError, ExpressionError):
            raise
        except RecursionError:
            raise EvaluationError("value is nested too deeply to evaluate") from None
        except Exception as exc:
            raise EvaluationError(_describe(exc)) from exc


def _describe(exc: BaseException) -> str:
    """Turn a stray Python exception into a sentence for the administrator."""
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, OverflowError | decimal.Overflow):
        return "number is too large"
    if isinstance(exc, decimal.DecimalException):
        return f"invalid decimal arithmetic ({type(exc).__name__})"
    text = str(exc) or type(exc).__name__
    return f"evaluation failed: {text}"


# ---------------------------------------------------------------------------
# Compiler: checks the tree and turns it into closures
# ---------------------------------------------------------------------------

_REFUSED: dict[type[ast.AST], str] = {
    ast.Lambda: "lambda expressions are not allowed",
    ast.ListComp: "list comprehensions are not allowed",
    ast.SetComp: "set comprehensions are not allowed",
    ast.DictComp: "dict comprehensions are not allowed",
    ast.GeneratorExp: "generator expressions are not allowed",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.Starred: "starred expressions (*x) are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.FormattedValue: "f-strings are not allowed",
    ast.Await: "'await' is not allowed",
    ast.Yield: "'yield' is not allowed",
    ast.YieldFrom: "'yield from' is not allowed",
    ast.Set: "set literals are not allowed",
    ast.Dict: "dict literals are not allowed",
    ast.Slice: "slices are not allowed",
}

_OPERATOR_SYMBOLS: dict[type[ast.AST], str] = {
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.MatMult: "@",
    ast.Invert: "~",
}

# Nodes that only label other nodes; they do not count towards size or depth.
_LABEL_NODES = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)


class _Compiler:
    """Translate one parsed expression into closures, refusing what is not offered."""

    def __init__(
        self,
        source: str,
        indent: int,
        names: frozenset[str] | None,
        functions: frozenset[str],
    ) -> None:
        self.source = source
        self.indent = indent
        self.allowed_names = names
        self.extra_functions = functions
        self.used_names: set[str] = set()
        self.used_functions: set[str] = set()
        self._line_starts = _line_starts(source)

    # -- errors ------------------------------------------------------------

    def error(self, message: str, node: ast.AST | None = None) -> ExpressionError:
        return ExpressionError(message, self.offset_of(node))

    def offset_of(self, node: ast.AST | None) -> int | None:
        """Absolute character offset of a node (ast gives line + UTF-8 byte column)."""
        if not isinstance(node, ast.expr | ast.keyword):
            return None
        lineno, col = node.lineno, node.col_offset
        if lineno > len(self._line_starts):
            return None
        start = self._line_starts[lineno - 1]
        line = self.source[start:].split("\n", 1)[0]
        chars = len(line.encode("utf-8")[:col].decode("utf-8", errors="ignore"))
        return self.indent + start + chars

    # -- checks that run before translation ----------------------------------

    def check_shape(self, tree: ast.Expression) -> None:
        """Enforce the node and depth limits without recursion, so that a
        hostile tree cannot overflow the stack of the (recursive) translator."""
        count = 0
        stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
        while stack:
            node, depth = stack.pop()
            count += 1
            if count > MAX_NODES:
                raise self.error(f"expression is too complex (more than {MAX_NODES} parts)")
            if depth > MAX_DEPTH:
                raise self.error(f"expression is nested too deeply (limit {MAX_DEPTH})", node)
            self.refuse_private(node)
            for child in ast.iter_child_nodes(node):
                if not isinstance(child, _LABEL_NODES):
                    stack.append((child, depth + 1))

    def refuse_private(self, node: ast.AST) -> None:
        """Names starting with '_' are how every known Python escape begins."""
        name = None
        if isinstance(node, ast.Name):
            name = node.id
        elif isinstance(node, ast.Attribute):
            name = node.attr
        elif isinstance(node, ast.keyword):
            name = node.arg
        if name is not None and name.startswith("_"):
            raise self.error(
                f"'{name}' is not allowed (names starting with '_' are reserved)", node
            )

    # -- translation ---------------------------------------------------------

    def compile(self, node: ast.AST) -> _Node:
        handler = _HANDLERS.get(type(node))
        if handler is None:
            raise self.error(self.refusal(node), node)
        return handler(self, node)

    def refusal(self, node: ast.AST) -> str:
        message = _REFUSED.get(type(node))
        if message is not None:
            return message
        return f"{type(node).__name__} expressions are not allowed"

    def _constant(self, node: ast.Constant) -> _Node:
        value = node.value
        if isinstance(value, bool) or value is None or isinstance(value, str):
            pass
        elif isinstance(value, int):
            if value.bit_length() > MAX_INT_BITS:
                raise self.error("number is too large", node)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise self.error("number is out of range", node)
        elif isinstance(value, complex):
            raise self.error("complex numbers are not allowed", node)
        elif isinstance(value, bytes):
            raise self.error("bytes literals are not allowed", node)
        else:
            raise self.error(f"{value!r} is not allowed", node)
        return lambda ctx, fns: value

    def _name(self, node: ast.Name) -> _Node:
        name = node.id
        if self.allowed_names is not None and name not in self.allowed_names:
            raise self.error(_unknown("name", name, self.allowed_names), node)
        self.used_names.add(name)
        return lambda ctx, fns: ctx.get(name)

    def _attribute(self, node: ast.Attribute) -> _Node:
        value = self.compile(node.value)
        name = node.attr
        return lambda ctx, fns: _attribute(value(ctx, fns), name)

    def _subscript(self, node: ast.Subscript) -> _Node:
        value = self.compile(node.value)
        key = self.compile(node.slice)
        return lambda ctx, fns: _index(value(ctx, fns), key(ctx, fns))

    def _list(self, node: ast.List) -> _Node:
        items = [self.compile(item) for item in node.elts]
        return lambda ctx, fns: [item(ctx, fns) for item in items]

    def _tuple(self, node: ast.Tuple) -> _Node:
        items = [self.compile(item) for item in node.elts]
        return lambda ctx, fns: tuple(item(ctx, fns) for item in items)

    def _bin_op(self, node: ast.BinOp) -> _Node:
        operation = _BINARY_OPERATORS.get(type(node.op))
        if operation is None:
            raise self.error(self.operator_refusal(node.op), node)
        left, right = self.compile(node.left), self.compile(node.right)
        return lambda ctx, fns: operation(left(ctx, fns), right(ctx, fns))

    def _unary_op(self, node: ast.UnaryOp) -> _Node:
        operation = _UNARY_OPERATORS.get(type(node.op))
        if operation is None:
            raise self.error(self.operator_refusal(node.op), node)
        operand = self.compile(node.operand)
        return lambda ctx, fns: operation(operand(ctx, fns))

    def operator_refusal(self, op: ast.AST) -> str:
        symbol = _OPERATOR_SYMBOLS.get(type(op), type(op).__name__)
        return f"operator '{symbol}' is not allowed"

    def _bool_op(self, node: ast.BoolOp) -> _Node:
        operands = [self.compile(value) for value in node.values]
        if len(operands) == 2:
            first, second = operands
            if isinstance(node.op, ast.And):
                return lambda ctx, fns: first(ctx, fns) and second(ctx, fns)
            return lambda ctx, fns: first(ctx, fns) or second(ctx, fns)
        stop_when = not isinstance(node.op, ast.And)  # `or` stops at the first truthy

        def run(ctx: Mapping[str, Any], fns: Mapping[str, Callable[..., Any]]) -> Any:
            value = None
            for operand in operands:
                value = operand(ctx, fns)
                if bool(value) is stop_when:
                    return value
            return value

        return run

    def _if_exp(self, node: ast.IfExp) -> _Node:
        test, body, orelse = (self.compile(n) for n in (node.test, node.body, node.orelse))
        return lambda ctx, fns: body(ctx, fns) if test(ctx, fns) else orelse(ctx, fns)

    def _compare(self, node: ast.Compare) -> _Node:
        operations = []
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.Is | ast.IsNot) and not (
                isinstance(comparator, ast.Constant) and comparator.value is None
            ):
                raise self.error("'is' can only be used as 'is None' or 'is not None'", node)
            operations.append(_COMPARISONS[type(op)])
        left = self.compile(node.left)
        operands = [self.compile(c) for c in node.comparators]
        if len(operations) == 1:
            compare, right = operations[0], operands[0]
            return lambda ctx, fns: compare(left(ctx, fns), right(ctx, fns))
        pairs = list(zip(operations, operands, strict=True))

        def run(ctx: Mapping[str, Any], fns: Mapping[str, Callable[..., Any]]) -> bool:
            current = left(ctx, fns)
            for compare, operand in pairs:
                following = operand(ctx, fns)
                if not compare(current, following):
                    return False
                current = following
            return True

        return run

    def _call(self, node: ast.Call) -> _Node:
        if isinstance(node.func, ast.Attribute):
            raise self.error(
                "method calls are not allowed; call functions by name, e.g. upper(x)", node
            )
        if not isinstance(node.func, ast.Name):
            self.compile(node.func)  # names the construct if it is refused anyway (lambda...)
            raise self.error("only functions can be called, by their name", node)
        name = node.func.id
        for argument in node.args:
            if isinstance(argument, ast.Starred):
                raise self.error("starred arguments (*x) are not allowed", argument)
        for keyword in node.keywords:
            if keyword.arg is None:
                raise self.error("'**' arguments are not allowed", keyword)
        args = [self.compile(a) for a in node.args]
        kwargs = [(k.arg, self.compile(k.value)) for k in node.keywords]
        if name in self.extra_functions:
            self.used_functions.add(name)
            return _caller_call(name, args, kwargs)
        builtin = _BUILTINS.get(name)
        if builtin is None:
            known = BUILTIN_FUNCTIONS | self.extra_functions
            raise self.error(_unknown("function", name, known), node)
        self.check_arity(name, node)
        self.used_functions.add(name)
        return _builtin_call(name, builtin, args, kwargs)

    def check_arity(self, name: str, node: ast.Call) -> None:
        """Catch ``len()`` or ``round(x, digits=2)`` when the metadata is saved."""
        placeholders = [None] * len(node.args)
        keywords = {str(k.arg): None for k in node.keywords}
        try:
            _SIGNATURES[name].bind(*placeholders, **keywords)
        except TypeError as exc:
            raise self.error(f"{name}(): {exc}", node) from None


# The whitelist: an AST node type without an entry here is refused.
_HANDLERS: dict[type[ast.AST], Callable[[_Compiler, Any], _Node]] = {
    ast.Constant: _Compiler._constant,
    ast.Name: _Compiler._name,
    ast.Attribute: _Compiler._attribute,
    ast.Subscript: _Compiler._subscript,
    ast.List: _Compiler._list,
    ast.Tuple: _Compiler._tuple,
    ast.BinOp: _Compiler._bin_op,
    ast.UnaryOp: _Compiler._unary_op,
    ast.BoolOp: _Compiler._bool_op,
    ast.IfExp: _Compiler._if_exp,
    ast.Compare: _Compiler._compare,
    ast.Call: _Compiler._call,
}


def _line_starts(source: str) -> list[int]:
    starts = [0]
    for index, char in enumerate(source):
        if char == "\n":
            starts.append(index + 1)
    return starts


def _unknown(kind: str, name: str, known: Collection[str]) -> str:
    message = f"unknown {kind} '{name}'"
    close = difflib.get_close_matches(name, sorted(known), n=1)
    if close:
        message += f" (did you mean '{close[0]}'?)"
    return message


def _arguments(
    args: list[_Node],
    kwargs: list[tuple[str | None, _Node]],
    ctx: Mapping[str, Any],
    fns: Mapping[str, Callable[..., Any]],
) -> tuple[list[Any], dict[str, Any]]:
    return [a(ctx, fns) for a in args], {str(k): v(ctx, fns) for k, v in kwargs}


def _builtin_call(
    name: str,
    function: Callable[..., Any],
    args: list[_Node],
    kwargs: list[tuple[str | None, _Node]],
) -> _Node:
    def run(ctx: Mapping[str, Any], fns: Mapping[str, Callable[..., Any]]) -> Any:
        positional, keywords = _arguments(args, kwargs, ctx, fns)
        try:
            return function(*positional, **keywords)
        except EvaluationError:
            raise
        except Exception as exc:
            raise EvaluationError(f"{name}(): {_describe(exc)}") from exc

    return run


def _caller_call(
    name: str,
    args: list[_Node],
    kwargs: list[tuple[str | None, _Node]],
) -> _Node:
    def run(ctx: Mapping[str, Any], fns: Mapping[str, Callable[..., Any]]) -> Any:
        function = fns.get(name)
        if function is None:
            raise EvaluationError(f"function '{name}' was not provided to evaluate()")
        positional, keywords = _arguments(args, kwargs, ctx, fns)
        try:
            return function(*positional, **keywords)
        except (EvaluationError, ExpressionError):
            raise
        except Exception as exc:
            raise EvaluationError(f"{name}(): {_describe(exc)}") from exc

    return run


# ---------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------


def compile_expression(
    source: str,
    *,
    names: Collection[str] | None = None,
    functions: Collection[str] = (),
) -> Expression:
    """Check ``source`` and return a reusable :class:`Expression`.

    ``names``: when given, the only top-level names the expression may read
    (typos in metadata are caught on save); when None any name is allowed and
    missing ones read as None.  ``functions``: extra function names the caller
    will supply to :meth:`Expression.evaluate`, on top of the built-ins.

    Results are cached because the platform compiles the same expression for
    every record it touches.
    """
    if not isinstance(source, str):
        raise ExpressionError(f"an expression must be text, not {type(source).__name__}")
    allowed = None if names is None else frozenset(names)
    return _compile_cached(source, allowed, frozenset(functions))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _compile_cached(
    source: str, names: frozenset[str] | None, functions: frozenset[str]
) -> Expression:
    if len(source) > MAX_SOURCE_LENGTH:
        raise ExpressionError(
            f"expression is too long ({len(source)} characters; the limit is {MAX_SOURCE_LENGTH})"
        )
    text = source.lstrip()
    if not text.strip():
        raise ExpressionError("expression is empty", 0)
    indent = len(source) - len(text)
    tree = _parse(text, indent)
    compiler = _Compiler(text, indent, names, functions)
    compiler.check_shape(tree)
    run = compiler.compile(tree.body)
    return Expression(
        source=source,
        names=frozenset(compiler.used_names),
        functions=frozenset(compiler.used_functions),
        _run=run,
    )


def _parse(text: str, indent: int) -> ast.Expression:
    """Parse without running anything; parser failures become ExpressionError."""
    try:
        # Parsing may warn (e.g. about "\d" escapes); the admin sees errors, not warnings.
        with warnings.catch_warnings(action="ignore"):
            return ast.parse(text, mode="eval")
    except SyntaxError as exc:
        offset = None
        starts = _line_starts(text)
        if exc.lineno and 0 < exc.lineno <= len(starts):
            # offset is 1-based; 0 means "at the end of the input" (e.g. "1 +").
            column = exc.offset - 1 if exc.offset else len(text) - starts[exc.lineno - 1]
            offset = indent + starts[exc.lineno - 1] + column
        raise ExpressionError(f"syntax error: {exc.msg}", offset) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"syntax error: {exc or 'expression is too complex'}") from None


def evaluate(source: str, context: Mapping[str, Any]) -> Any:
    """Compile (cached) and evaluate in one step; built-in functions only."""
    return compile_expression(source).evaluate(context)
