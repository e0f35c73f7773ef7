"""Translate a checked syntax tree into a tree of small Python closures.

This is the whitelist: an ``ast`` node type without a handler in
:data:`_HANDLERS` is refused with an ExpressionError that names the construct
and its position.  Names and functions are checked against what the caller
allows, and calls to built-ins against their signatures, so bad metadata is
refused when it is saved.  Each closure takes the evaluation context and the
caller's functions and returns a value.
"""

from __future__ import annotations

import ast
import difflib
import math
from collections.abc import Callable, Collection, Mapping
from typing import Any

from labledger.expressions.errors import EvaluationError, ExpressionError, describe
from labledger.expressions.functions import BUILTIN_FUNCTIONS, BUILTINS, SIGNATURES
from labledger.expressions.limits import MAX_INT_BITS
from labledger.expressions.operators import (
    BINARY_OPERATORS,
    COMPARISONS,
    UNARY_OPERATORS,
    field_of,
    item_of,
)
from labledger.expressions.parser import Source

Context = Mapping[str, Any]
Functions = Mapping[str, Callable[..., Any]]
#: A compiled node: takes the context and the caller's functions, returns a value.
Node = Callable[[Context, Functions], Any]

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


class Translator:
    """Translate one parsed expression into closures, refusing what is not offered.

    ``used_names`` and ``used_functions`` collect what the expression reads and
    calls, for :class:`~labledger.expressions.compiler.Expression`.
    """

    def __init__(
        self,
        source: Source,
        names: frozenset[str] | None,
        functions: frozenset[str],
    ) -> None:
        self.source = source
        self.allowed_names = names
        self.extra_functions = functions
        self.used_names: set[str] = set()
        self.used_functions: set[str] = set()

    def translate(self, node: ast.AST) -> Node:
        handler = _HANDLERS.get(type(node))
        if handler is None:
            message = _REFUSED.get(type(node), f"{type(node).__name__} expressions are not allowed")
            raise self.source.error(message, node)
        return handler(self, node)

    def _constant(self, node: ast.Constant) -> Node:
        value = node.value
        if isinstance(value, bool) or value is None or isinstance(value, str):
            pass
        elif isinstance(value, int):
            if value.bit_length() > MAX_INT_BITS:
                raise self.source.error("number is too large", node)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise self.source.error("number is out of range", node)
        elif isinstance(value, complex):
            raise self.source.error("complex numbers are not allowed", node)
        elif isinstance(value, bytes):
            raise self.source.error("bytes literals are not allowed", node)
        else:
            raise self.source.error(f"{value!r} is not allowed", node)
        return lambda ctx, fns: value

    def _name(self, node: ast.Name) -> Node:
        name = node.id
        if self.allowed_names is not None and name not in self.allowed_names:
            raise self.source.error(_unknown("name", name, self.allowed_names), node)
        self.used_names.add(name)
        return lambda ctx, fns: ctx.get(name)

    def _attribute(self, node: ast.Attribute) -> Node:
        value = self.translate(node.value)
        name = node.attr
        return lambda ctx, fns: field_of(value(ctx, fns), name)

    def _subscript(self, node: ast.Subscript) -> Node:
        value = self.translate(node.value)
        key = self.translate(node.slice)
        return lambda ctx, fns: item_of(value(ctx, fns), key(ctx, fns))

    def _list(self, node: ast.List) -> Node:
        items = [self.translate(item) for item in node.elts]
        return lambda ctx, fns: [item(ctx, fns) for item in items]

    def _tuple(self, node: ast.Tuple) -> Node:
        items = [self.translate(item) for item in node.elts]
        return lambda ctx, fns: tuple(item(ctx, fns) for item in items)

    def _bin_op(self, node: ast.BinOp) -> Node:
        operation = BINARY_OPERATORS.get(type(node.op))
        if operation is None:
            raise self.source.error(_operator_refusal(node.op), node)
        left, right = self.translate(node.left), self.translate(node.right)
        return lambda ctx, fns: operation(left(ctx, fns), right(ctx, fns))

    def _unary_op(self, node: ast.UnaryOp) -> Node:
        operation = UNARY_OPERATORS.get(type(node.op))
        if operation is None:
            raise self.source.error(_operator_refusal(node.op), node)
        operand = self.translate(node.operand)
        return lambda ctx, fns: operation(operand(ctx, fns))

    def _bool_op(self, node: ast.BoolOp) -> Node:
        operands = [self.translate(value) for value in node.values]
        if len(operands) == 2:
            first, second = operands
            if isinstance(node.op, ast.And):
                return lambda ctx, fns: first(ctx, fns) and second(ctx, fns)
            return lambda ctx, fns: first(ctx, fns) or second(ctx, fns)
        stop_when = not isinstance(node.op, ast.And)  # `or` stops at the first truthy

        def run(ctx: Context, fns: Functions) -> Any:
            value = None
            for operand in operands:
                value = operand(ctx, fns)
                if bool(value) is stop_when:
                    return value
            return value

        return run

    def _if_exp(self, node: ast.IfExp) -> Node:
        test, body, orelse = (self.translate(n) for n in (node.test, node.body, node.orelse))
        return lambda ctx, fns: body(ctx, fns) if test(ctx, fns) else orelse(ctx, fns)

    def _compare(self, node: ast.Compare) -> Node:
        operations = []
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.Is | ast.IsNot) and not (
                isinstance(comparator, ast.Constant) and comparator.value is None
            ):
                raise self.source.error("'is' can only be used as 'is None' or 'is not None'", node)
            operations.append(COMPARISONS[type(op)])
        left = self.translate(node.left)
        operands = [self.translate(c) for c in node.comparators]
        if len(operations) == 1:
            compare, right = operations[0], operands[0]
            return lambda ctx, fns: compare(left(ctx, fns), right(ctx, fns))
        pairs = list(zip(operations, operands, strict=True))

        def run(ctx: Context, fns: Functions) -> bool:
            current = left(ctx, fns)
            for compare, operand in pairs:
                following = operand(ctx, fns)
                if not compare(current, following):
                    return False
                current = following
            return True

        return run

    def _call(self, node: ast.Call) -> Node:
        if isinstance(node.func, ast.Attribute):
            raise self.source.error(
                "method calls are not allowed; call functions by name, e.g. upper(x)", node
            )
        if not isinstance(node.func, ast.Name):
            self.translate(node.func)  # names the construct if it is refused anyway (lambda...)
            raise self.source.error("only functions can be called, by their name", node)
        name = node.func.id
        for argument in node.args:
            if isinstance(argument, ast.Starred):
                raise self.source.error("starred arguments (*x) are not allowed", argument)
        for keyword in node.keywords:
            if keyword.arg is None:
                raise self.source.error("'**' arguments are not allowed", keyword)
        args = [self.translate(a) for a in node.args]
        kwargs = [(str(k.arg), self.translate(k.value)) for k in node.keywords]
        if name in self.extra_functions:
            self.used_functions.add(name)
            return _call(name, _caller_function(name), args, kwargs)
        builtin = BUILTINS.get(name)
        if builtin is None:
            known = BUILTIN_FUNCTIONS | self.extra_functions
            raise self.source.error(_unknown("function", name, known), node)
        self._check_arity(name, node)
        self.used_functions.add(name)
        return _call(name, lambda fns: builtin, args, kwargs)

    def _check_arity(self, name: str, node: ast.Call) -> None:
        """Catch ``len()`` or ``round(x, digits=2)`` when the metadata is saved."""
        placeholders = [None] * len(node.args)
        keywords = {str(k.arg): None for k in node.keywords}
        try:
            SIGNATURES[name].bind(*placeholders, **keywords)
        except TypeError as exc:
            raise self.source.error(f"{name}(): {exc}", node) from None


# The whitelist: an AST node type without an entry here is refused.
_HANDLERS: dict[type[ast.AST], Callable[[Translator, Any], Node]] = {
    ast.Constant: Translator._constant,
    ast.Name: Translator._name,
    ast.Attribute: Translator._attribute,
    ast.Subscript: Translator._subscript,
    ast.List: Translator._list,
    ast.Tuple: Translator._tuple,
    ast.BinOp: Translator._bin_op,
    ast.UnaryOp: Translator._unary_op,
    ast.BoolOp: Translator._bool_op,
    ast.IfExp: Translator._if_exp,
    ast.Compare: Translator._compare,
    ast.Call: Translator._call,
}


def _operator_refusal(op: ast.AST) -> str:
    symbol = _OPERATOR_SYMBOLS.get(type(op), type(op).__name__)
    return f"operator '{symbol}' is not allowed"


def _unknown(kind: str, name: str, known: Collection[str]) -> str:
    """Say a name is unknown, suggesting the closest known one for typos."""
    message = f"unknown {kind} '{name}'"
    close = difflib.get_close_matches(name, sorted(known), n=1)
    if close:
        message += f" (did you mean '{close[0]}'?)"
    return message


def _caller_function(name: str) -> Callable[[Functions], Callable[..., Any]]:
    """Find a caller-provided function when the expression runs."""

    def lookup(fns: Functions) -> Callable[..., Any]:
        function = fns.get(name)
        if function is None:
            raise EvaluationError(f"function '{name}' was not provided to evaluate()")
        return function

    return lookup


def _call(
    name: str,
    lookup: Callable[[Functions], Callable[..., Any]],
    args: list[Node],
    kwargs: list[tuple[str, Node]],
) -> Node:
    """A call node: errors deliberately raised pass through, anything else is
    wrapped in an EvaluationError that names the function."""

    def run(ctx: Context, fns: Functions) -> Any:
        function = lookup(fns)
        positional = [a(ctx, fns) for a in args]
        keywords = {k: v(ctx, fns) for k, v in kwargs}
        try:
            return function(*positional, **keywords)
        except (EvaluationError, ExpressionError):
            raise
        except Exception as exc:
            raise EvaluationError(f"{name}(): {describe(exc)}") from exc

    return run
