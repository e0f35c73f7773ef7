"""Tests for the sandboxed expression language (labledger.expressions).

The escape-payload table is the important part: every entry is a known way to
break out of a naive ``eval`` sandbox, and each must be refused before it can
run (or, for resource bombs, stopped quickly at run time).
"""

from __future__ import annotations

import ast
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from labledger import expressions
from labledger.expressions import (
    BUILTIN_FUNCTIONS,
    EvaluationError,
    Expression,
    ExpressionError,
    compile_expression,
    dates,
    evaluate,
)

CONTEXT: dict[str, Any] = {
    "value": 7.5,
    "spec_low": 1,
    "spec_high": 5,
    "n": 10,
    "zero": 0,
    "dec": Decimal("2.5"),
    "missing_value": None,
    "name": "  Alice  ",
    "status": "done",
    "actions": [{"id": 1}, {"id": 2}],
    "tags": ["urgent", "qa"],
    "empty_list": [],
    "flags": [True, False],
    "user": {"username": "alice", "roles": ["qa", "admin"], "manager": None},
    "record": {"state": "draft", "nested": {"deep": 42}},
    "due_date": "2024-03-01",
    "created": "2024-02-28T23:30:00Z",
}


# ---------------------------------------------------------------------------
# Evaluation, table driven
# ---------------------------------------------------------------------------

EVALUATION_CASES: list[tuple[str, Any]] = [
    # literals
    ("1", 1),
    ("2.5", 2.5),
    ("'text'", "text"),
    ('"double"', "double"),
    ("True", True),
    ("False", False),
    ("None", None),
    ("[1, 'a', None]", [1, "a", None]),
    ("(1, 2)", (1, 2)),
    ("[]", []),
    # arithmetic
    ("1 + 2", 3),
    ("n - 3", 7),
    ("n * 3", 30),
    ("7 / 2", 3.5),
    ("7 // 2", 3),
    ("7 % 3", 1),
    ("2 ** 10", 1024),
    ("2 ** -1", 0.5),
    ("2 ** 0.5", 2**0.5),
    ("-n", -10),
    ("+n", 10),
    ("-(1 + 2) * 3", -9),
    ("1 + 2 * 3", 7),
    ("'ab' + 'cd'", "abcd"),
    ("[1] + [2, 3]", [1, 2, 3]),
    ("tags + ['x']", ["urgent", "qa", "x"]),
    ("True + 1", 2),
    # Decimal mixes
    ("dec + 1", Decimal("3.5")),
    ("dec * 2", Decimal("5.0")),
    ("dec + 0.5", 3.0),
    ("0.5 * dec", 1.25),
    ("dec / 2", Decimal("1.25")),
    ("dec == 2.5", True),
    ("dec < 3.0", True),
    # null propagation
    ("missing_value + 1", None),
    ("1 - missing_value", None),
    ("missing_value * 2", None),
    ("missing_value / 0", None),
    ("missing_value ** 2", None),
    ("-missing_value", None),
    ("missing_value < 1", False),
    ("missing_value >= 1", False),
    ("1 > missing_value", False),
    ("missing_value == None", True),
    ("missing_value != None", False),
    ("missing_value == 0", False),
    ("missing_value != 0", True),
    ("'a' in missing_value", False),
    ("'a' not in missing_value", False),
    ("not missing_value", True),
    ("unknown_name", None),
    ("unknown_name is None", True),
    ("unknown_name.field", None),
    ("unknown_name[0]", None),
    # comparisons
    ("value < spec_low or value > spec_high", True),
    ("1 < 2", True),
    ("2 <= 2", True),
    ("3 > 4", False),
    ("3 >= 4", False),
    ("1 == 1.0", True),
    ("'a' != 'b'", True),
    ("0 <= n < 20", True),
    ("0 <= n < 5", False),
    ("1 < 2 < 3 < 4", True),
    ("1 < 3 < 2", False),
    ("status in ['done', 'closed']", True),
    ("status not in ('done', 'closed')", False),
    ("'li' in 'Alice'", True),
    ("'qa' in user.roles", True),
    ("'username' in user", True),
    ("missing_value is None", True),
    ("value is not None", True),
    ("[1, 2] == [1, 2]", True),
    # boolean logic and short circuit (1/0 would fail if evaluated)
    ("True and False", False),
    ("True or 1 / 0", True),
    ("False and 1 / 0", False),
    ("None or 'fallback'", "fallback"),
    ("0 and 1", 0),
    ("'' or 0 or 'third'", "third"),
    ("1 and 2 and 3", 3),
    ("1 and 0 and 1 / 0", 0),
    ("not True", False),
    ("not []", True),
    ("status == 'done' and len(actions) > 0", True),
    # conditional
    ("'big' if n > 5 else 'small'", "big"),
    ("'big' if n > 50 else 'small'", "small"),
    ("1 if True else 1 / 0", 1),
    # attribute access on mappings, subscripts
    ("user.username", "alice"),
    ("user.roles", ["qa", "admin"]),
    ("user.missing_key", None),
    ("user.manager.name", None),
    ("record.nested.deep", 42),
    ("record['state']", "draft"),
    ("record['nope']", None),
    ("actions[0].id", 1),
    ("actions[-1]['id']", 2),
    ("actions[5]", None),
    ("tags[1]", "qa"),
    ("'abc'[0]", "a"),
    ("user.roles[0]", "qa"),
]


@pytest.mark.parametrize(("source", "expected"), EVALUATION_CASES)
def test_evaluation(source: str, expected: Any) -> None:
    result = evaluate(source, CONTEXT)
    assert result == expected
    assert type(result) is type(expected)


BUILTIN_CASES: list[tuple[str, Any]] = [
    ("len(tags)", 2),
    ("len('abc')", 3),
    ("len(user)", 3),
    ("len(missing_value)", None),
    ("min(3, 1, 2)", 1),
    ("min(tags)", "qa"),
    ("min([4, None, 2])", 2),
    ("min(missing_value)", None),
    ("max(3, 1, 2)", 3),
    ("max([1.5, dec])", 2.5),
    ("max(empty_list)", None),
    ("abs(-3)", 3),
    ("abs(missing_value)", None),
    ("round(2.567)", 3),
    ("round(2.567, 2)", 2.57),
    ("round(2.567, ndigits=1)", 2.6),
    ("round(dec)", 2),
    ("round(missing_value)", None),
    ("sum([1, 2, 3])", 6),
    ("sum([1, None, 2.5])", 3.5),
    ("sum([])", 0),
    ("sum(missing_value)", None),
    ("any(flags)", True),
    ("any([False, None])", False),
    ("all(flags)", False),
    ("all([])", True),
    ("lower('AbC')", "abc"),
    ("upper('AbC')", "ABC"),
    ("strip(name)", "Alice"),
    ("upper(missing_value)", None),
    ("contains('haystack', 'st')", True),
    ("contains(tags, 'qa')", True),
    ("contains(tags, 'nope')", False),
    ("contains(missing_value, 'x')", False),
    ("startswith('SOP-001', 'SOP-')", True),
    ("startswith('WI-001', 'SOP-')", False),
    ("startswith(missing_value, 'SOP-')", False),
    ("coalesce(missing_value, unknown_name, 'x', 'y')", "x"),
    ("coalesce(missing_value)", None),
    ("coalesce()", None),
    ("is_empty(missing_value)", True),
    ("is_empty('')", True),
    ("is_empty([])", True),
    ("is_empty(empty_list)", True),
    ("is_empty(user.manager)", True),
    ("is_empty('x')", False),
    ("is_empty(0)", False),
    ("number('42')", 42),
    ("number(' -7 ')", -7),
    ("number('2.5')", 2.5),
    ("number('1e3')", 1000.0),
    ("number(3)", 3),
    ("number(True)", 1),
    ("number('')", None),
    ("number(missing_value)", None),
    ("number('4') + 1", 5),
    ("text(42)", "42"),
    ("text(2.5)", "2.5"),
    ("text(True)", "true"),
    ("text('x')", "x"),
    ("text(missing_value)", None),
    ("text(['a', 1])", '["a", 1]'),
    ("text(n) + ' items'", "10 items"),
]


@pytest.mark.parametrize(("source", "expected"), BUILTIN_CASES)
def test_builtin_functions(source: str, expected: Any) -> None:
    result = evaluate(source, CONTEXT)
    assert result == expected
    assert type(result) is type(expected)


def test_every_builtin_is_covered_by_a_case() -> None:
    called: set[str] = set()
    for source, _ in BUILTIN_CASES + DATE_CASES:
        called |= compile_expression(source).functions
    assert called == BUILTIN_FUNCTIONS


# ---------------------------------------------------------------------------
# Dates are ISO-8601 text
# ---------------------------------------------------------------------------

FROZEN_NOW = datetime(2024, 3, 5, 14, 30, 15, 123456, tzinfo=UTC)

DATE_CASES: list[tuple[str, Any]] = [
    ("today()", "2024-03-05"),
    ("now()", "2024-03-05T14:30:15.123456Z"),
    ("due_date < today()", True),
    ("due_date > today()", False),
    ("date('2024-03-01T10:00:00Z')", "2024-03-01"),
    ("date('2024-03-01T23:30:00-05:00')", "2024-03-02"),
    ("date('2024-03-01')", "2024-03-01"),
    ("date(created)", "2024-02-28"),
    ("date(missing_value)", None),
    ("days_between('2024-02-01', '2024-03-01')", 29),
    ("days_between(due_date, '2024-02-25')", -5),
    ("days_between(created, due_date)", 2),
    ("days_between(missing_value, due_date)", None),
    ("days_between(due_date, today()) > 3", True),
    ("add_days('2024-02-28', 2)", "2024-03-01"),
    ("add_days(due_date, -1)", "2024-02-29"),
    ("add_days(created, 1)", "2024-02-29"),
    ("add_days(due_date, 1.0)", "2024-03-02"),
    ("add_days(missing_value, 1)", None),
    ("add_days(due_date, 30) >= today()", True),
]


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dates, "utcnow", lambda: FROZEN_NOW)


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize(("source", "expected"), DATE_CASES)
def test_dates(source: str, expected: Any) -> None:
    assert evaluate(source, CONTEXT) == expected


def test_date_functions_accept_python_dates() -> None:
    context = {"d": date(2024, 1, 31), "t": datetime(2024, 1, 31, 22, 0, tzinfo=UTC)}
    assert evaluate("add_days(d, 1)", context) == "2024-02-01"
    assert evaluate("days_between(d, t)", context) == 0
    assert evaluate("text(d)", context) == "2024-01-31"


def test_real_clock_formats() -> None:
    today = evaluate("today()", {})
    now = evaluate("now()", {})
    assert len(today) == 10
    assert date.fromisoformat(today)
    assert now.endswith("Z")
    assert now.startswith(today) or now[:10] > today  # midnight may pass between calls
    assert datetime.fromisoformat(now).tzinfo is not None


@pytest.mark.parametrize(
    "source",
    [
        "date('yesterday')",
        "date(42)",
        "days_between('2024-01-01', 'soon')",
        "add_days('2024-01-01', 'x')",
        "add_days('2024-01-01', 1.5)",
        "add_days('9999-12-31', 1)",
    ],
)
def test_bad_dates_are_evaluation_errors(source: str) -> None:
    with pytest.raises(EvaluationError):
        evaluate(source, {})


# ---------------------------------------------------------------------------
# Runtime errors
# ---------------------------------------------------------------------------

RUNTIME_ERRORS: list[tuple[str, str]] = [
    ("1 / 0", "division by zero"),
    ("n // zero", "division by zero"),
    ("n % zero", "division by zero"),
    ("0 ** -1", "division by zero"),
    ("dec / 0", "division by zero"),
    ("'a' + 1", "cannot use '+' with text and a number"),
    ("[1] + 'a'", "cannot use '+'"),
    ("'a' - 'b'", "cannot use '-'"),
    ("'%s' % n", "cannot use '%'"),
    ("-'a'", "unary '-'"),
    ("'a' < 1", "cannot compare text with a number"),
    ("user < user", "cannot compare"),
    ("1 in 'abc'", "inside text"),
    ("1 in n", "cannot use 'in'"),
    ("n.field", "cannot read '.field' of a number"),
    ("name.strip", "only records have fields"),
    ("tags['x']", "whole number"),
    ("user[0]", "indexed by text"),
    ("n[0]", "cannot index"),
    ("len(n)", "len() needs"),
    ("lower(n)", "lower() needs text"),
    ("sum(['a'])", "sum() can only add numbers"),
    ("min(1, 'a')", "min() cannot compare"),
    ("number('abc')", "cannot read 'abc' as a number"),
    ("number('inf')", "not a finite number"),
    ("round(1.5, 1000)", "ndigits"),
    ("(-8) ** 0.5", "fractional power"),
    ("1e300 * 1e300", "not a finite number"),
]


@pytest.mark.parametrize(("source", "message"), RUNTIME_ERRORS)
def test_runtime_errors(source: str, message: str) -> None:
    compiled = compile_expression(source)  # compiles fine ...
    with pytest.raises(EvaluationError) as caught:  # ... fails for this context
        compiled.evaluate(CONTEXT)
    assert message in str(caught.value)
    assert caught.value.message == str(caught.value)


def test_huge_integers_from_context_are_bounded() -> None:
    big = 2**3000
    with pytest.raises(EvaluationError, match="too large"):
        evaluate("x * x", {"x": big})
    with pytest.raises(EvaluationError, match="too large"):
        evaluate("x ** 2", {"x": big})
    with pytest.raises(EvaluationError, match="too long"):
        evaluate("number(t)", {"t": "9" * 5000})
    assert evaluate("x + 1", {"x": big}) == big + 1


def test_long_results_are_bounded() -> None:
    with pytest.raises(EvaluationError, match="longer than"):
        evaluate("s + s", {"s": "x" * 60_000})
    with pytest.raises(EvaluationError, match="longer than"):
        evaluate("l + l", {"l": [0] * 60_000})


def test_self_referential_context_is_an_evaluation_error() -> None:
    first: list[Any] = []
    first.append(first)
    second: list[Any] = []
    second.append(second)
    with pytest.raises(EvaluationError, match="nested too deeply"):
        evaluate("x == y", {"x": first, "y": second})


def test_only_evaluation_errors_escape() -> None:
    class Hostile(Mapping[str, Any]):
        def __getitem__(self, key: str) -> Any:
            raise KeyError(key)

        def get(self, key: str, default: Any = None) -> Any:
            raise RuntimeError("boom")

        def __iter__(self) -> Iterator[str]:
            return iter(())

        def __len__(self) -> int:
            return 0

    with pytest.raises(EvaluationError, match="boom"):
        evaluate("a + 1", Hostile())


# ---------------------------------------------------------------------------
# Caller-provided functions
# ---------------------------------------------------------------------------


def test_caller_functions_with_positional_and_keyword_arguments() -> None:
    def has_role(user: Mapping[str, Any], role: str, *, exact: bool = True) -> bool:
        roles = user["roles"]
        return role in roles if exact else any(role in r for r in roles)

    compiled = compile_expression(
        "has_role(user, 'qa') and has_role(user, role='adm', exact=False)",
        functions={"has_role"},
    )
    assert compiled.functions == frozenset({"has_role"})
    assert compiled.evaluate(CONTEXT, functions={"has_role": has_role}) is True


def test_caller_function_may_shadow_a_builtin() -> None:
    compiled = compile_expression("len(x)", functions={"len"})
    assert compiled.evaluate({"x": [1]}, functions={"len": lambda v: 99}) == 99


def test_missing_caller_function_is_an_evaluation_error() -> None:
    compiled = compile_expression("score(1)", functions=["score"])
    with pytest.raises(EvaluationError, match="'score' was not provided"):
        compiled.evaluate({})


def test_caller_function_exceptions() -> None:
    compiled = compile_expression("f()", functions={"f"})

    def key_error() -> None:
        raise KeyError("k")

    with pytest.raises(EvaluationError, match=r"f\(\)"):
        compiled.evaluate({}, functions={"f": key_error})

    ours = EvaluationError("custom")

    def evaluation_error() -> None:
        raise ours

    with pytest.raises(EvaluationError) as caught:
        compiled.evaluate({}, functions={"f": evaluation_error})
    assert caught.value is ours

    def expression_error() -> None:
        raise ExpressionError("nested expression is bad")

    with pytest.raises(ExpressionError, match="nested expression"):
        compiled.evaluate({}, functions={"f": expression_error})


def test_unlisted_function_is_refused_even_if_provided_at_run_time() -> None:
    with pytest.raises(ExpressionError, match="unknown function 'score'"):
        compile_expression("score(1)")


# ---------------------------------------------------------------------------
# Compilation: names, functions, refusals, offsets, caching
# ---------------------------------------------------------------------------


def test_names_and_functions_are_reported() -> None:
    compiled = compile_expression("len(user.roles) > n and coalesce(a, b[0], 1) == max(c, 2)")
    assert compiled.names == frozenset({"user", "n", "a", "b", "c"})
    assert compiled.functions == frozenset({"len", "coalesce", "max"})
    assert isinstance(compiled, Expression)
    assert compiled.source.startswith("len(")


def test_names_check() -> None:
    compile_expression("a + b", names={"a", "b"})
    with pytest.raises(ExpressionError, match="unknown name 'c'") as caught:
        compile_expression("a + c", names={"a", "b"})
    assert caught.value.offset == 4
    assert caught.value.message == "unknown name 'c'"


def test_names_check_suggests_a_close_match() -> None:
    with pytest.raises(ExpressionError, match=r"unknown name 'vaule' \(did you mean 'value'\?\)"):
        compile_expression("vaule > 1", names={"value", "spec_low"})


def test_unknown_function_suggests_a_close_match() -> None:
    with pytest.raises(ExpressionError, match="did you mean 'upper'"):
        compile_expression("uper(x)")


def test_function_names_are_not_checked_against_names() -> None:
    compiled = compile_expression("len(a) > 0", names={"a"})
    assert compiled.names == frozenset({"a"})


COMPILE_ERRORS: list[tuple[str, str, int | None]] = [
    ("1 +", "syntax error", 3),
    ("(1", "syntax error", 0),
    ("a b", "syntax error", 2),
    ("  a +", "syntax error", 5),
    ("é + )", "syntax error", 4),
    ("", "expression is empty", 0),
    ("   ", "expression is empty", 0),
    ("a & b", "operator '&' is not allowed", 0),
    ("a | b", "operator '|' is not allowed", 0),
    ("a ^ b", "operator '^' is not allowed", 0),
    ("~a", "operator '~' is not allowed", 0),
    ("a << 1", "operator '<<' is not allowed", 0),
    ("a >> 1", "operator '>>' is not allowed", 0),
    ("a @ b", "operator '@' is not allowed", 0),
    ("a is 1", "'is' can only be used as 'is None'", 0),
    ("a is b", "'is' can only be used as 'is None'", 0),
    ("a[1:2]", "slices are not allowed", 2),
    ("{1, 2}", "set literals are not allowed", 0),
    ("{'a': 1}", "dict literals are not allowed", 0),
    ("1j", "complex numbers are not allowed", 0),
    ("b'x'", "bytes literals are not allowed", 0),
    ("...", "is not allowed", 0),
    ("1e999", "out of range", 0),
    ("len()", "len(): missing a required argument", 0),
    ("round(1, digits=2)", "unexpected keyword argument 'digits'", 0),
    ("today(1)", "too many positional arguments", 0),
    ("len(*a)", "starred arguments", 4),
    ("len(**a)", "'**' arguments are not allowed", 4),
    ("a.upper()", "method calls are not allowed", 0),
    ("(lambda: 1)()", "lambda expressions are not allowed", 1),
    ("a[0]()", "only functions can be called", 0),
    ("(a)(1)", "unknown function 'a'", 0),
    ("x + a._hidden", "'_hidden' is not allowed", 4),
    ("x + _y", "'_y' is not allowed", 4),
    ("f(_k=1)", "'_k' is not allowed", 2),
    ("a if b", "syntax error", None),
    ("'é' + é._x", "'_x' is not allowed", 6),
    ("(a +\n  b._c)", "'_c' is not allowed", 7),
]


@pytest.mark.parametrize(("source", "message", "offset"), COMPILE_ERRORS)
def test_compile_errors(source: str, message: str, offset: int | None) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source, functions={"f"})
    assert message in caught.value.message
    if offset is not None:
        assert caught.value.offset == offset


def test_non_text_source_is_refused() -> None:
    with pytest.raises(ExpressionError, match="must be text"):
        compile_expression(42)  # type: ignore[arg-type]


def test_leading_whitespace_and_newlines_in_parentheses_are_fine() -> None:
    assert evaluate("   1 + 1  ", {}) == 2
    assert evaluate("(a\n  + 1)", {"a": 1}) == 2


def test_compilation_is_cached() -> None:
    first = compile_expression("a + 1", names=["a", "b"])
    second = compile_expression("a + 1", names={"b", "a"})
    assert first is second
    assert compile_expression("a + 1") is not first  # different names => own entry
    assert compile_expression("a + 1") is compile_expression("a + 1")


def test_expressions_compare_by_source_and_dependencies() -> None:
    assert compile_expression("a + 1") == compile_expression("a + 1", names={"a"})
    assert hash(compile_expression("a")) == hash(compile_expression("a", names={"a"}))


def test_error_types_are_value_errors() -> None:
    assert issubclass(ExpressionError, ValueError)
    assert issubclass(EvaluationError, ValueError)


# ---------------------------------------------------------------------------
# Known sandbox escapes and resource bombs
# ---------------------------------------------------------------------------

COMPILE_TIME_ESCAPES: list[str] = [
    "__import__('os').system('id')",
    "().__class__.__bases__[0].__subclasses__()",
    "[].__class__",
    "x.__class__",
    "x._private",
    "(lambda: 1)()",
    "[c for c in ()]",
    "{c for c in ()}",
    "{c: c for c in ()}",
    "(c for c in ())",
    "getattr(x, 'y')",
    "setattr(x, 'y', 1)",
    "eval('1')",
    "exec('1')",
    "open('/etc/passwd')",
    "compile('1','','eval')",
    "globals()",
    "locals()",
    "vars()",
    "dir()",
    "type(x)",
    "'{0.__class__}'.format(x)",
    "'%s'.join(x)",
    "f'{x}'",
    "f'{x.__class__}'",
    "(y := 1)",
    "x.upper()",
    "*x",
    "__builtins__",
    "__builtins__['eval']('1')",
    "breakpoint()",
    "help()",
    "input()",
    "print(1)",
    "1 if True else __import__('os')",
    "x and __import__('os')",
    "len.__self__",
    "x[0].__globals__",
    "user.__dict__",
    "_",
    "await x",
    "(yield)",
    "x[::-1]",
    "x @ x",
    "x is x",
    "(" * 10_000 + "1" + ")" * 10_000,
    "(" * 300 + "1" + ")" * 300,
    "-" * 1999 + "1",
    "[" * 60 + "]" * 60,
    "not " * 60 + "x",
    "+".join(["1"] * 501),
    "[" + ",".join(["1"] * 600) + "]",
    "coalesce(" + ",".join(["x"] * 600) + ")",
    "x" * 5000,
    "1 + " * 1000 + "1",
    "9" * 1999,
]


@pytest.mark.parametrize("payload", COMPILE_TIME_ESCAPES, ids=lambda p: p[:40])
def test_escape_payloads_are_refused_at_compile_time(payload: str) -> None:
    with pytest.raises(ExpressionError):
        compile_expression(payload)
    with pytest.raises(ExpressionError):
        compile_expression(payload, names={"x", "user"})
    with pytest.raises(ExpressionError):
        evaluate(payload, {"x": "abc", "user": {}})


RUNTIME_BOMBS: list[str] = [
    "9 ** 9 ** 9",
    "10 ** 1000",
    "2 ** 5000",
    "(10 ** 100) ** 100",
    "99 ** 99 ** 9",
    "1.5 ** 100 ** 2",
    "10.0 ** 100 * 10.0 ** 100 * 10.0 ** 100 * 10.0 ** 100",
    "'a' * 10**9",
    "[1] * 10**9",
    "10**9 * 'a'",
    "x * 100000",
    "'%999999999s' % 'a'",
    "round(10 ** 50, -1000000000)",
    " * ".join(["10 ** 99"] * 15),
]


@pytest.mark.parametrize("payload", RUNTIME_BOMBS)
def test_resource_bombs_stop_quickly_at_run_time(payload: str) -> None:
    compiled = compile_expression(payload, names={"x"})
    started = time.perf_counter()
    with pytest.raises(EvaluationError):
        compiled.evaluate({"x": "abc"})
    assert time.perf_counter() - started < 1.0


def test_escape_payloads_never_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Belt and braces: if something slipped through, it would call these."""
    import os
    import subprocess

    def tripwire(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("sandbox escape executed")

    monkeypatch.setattr(os, "system", tripwire)
    monkeypatch.setattr(subprocess, "Popen", tripwire)
    for payload in COMPILE_TIME_ESCAPES:
        with pytest.raises(ExpressionError):
            evaluate(payload, {"x": "abc"})


@pytest.mark.parametrize(
    "module", sorted(Path(expressions.__file__).parent.glob("*.py")), ids=lambda path: path.name
)
def test_the_package_never_calls_eval_exec_compile_or_getattr(module: Path) -> None:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    called = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert not called & {"eval", "exec", "compile", "getattr", "__import__", "setattr"}


# ---------------------------------------------------------------------------
# Examples from docs/expressions.md
# ---------------------------------------------------------------------------


@pytest.mark.usefixtures("frozen_clock")
def test_documented_examples() -> None:
    oos = compile_expression(
        "value is not None and (value < spec_low or value > spec_high)",
        names={"value", "spec_low", "spec_high"},
    )
    assert oos.evaluate({"value": 7.5, "spec_low": 1, "spec_high": 5}) is True
    assert oos.evaluate({"value": 3, "spec_low": 1, "spec_high": 5}) is False
    assert oos.evaluate({"value": None, "spec_low": 1, "spec_high": 5}) is False

    guard = compile_expression("status == 'done' and len(actions) > 0 and 'qa' in user.roles")
    assert guard.evaluate(CONTEXT) is True
    assert guard.evaluate({**CONTEXT, "actions": []}) is False

    required = compile_expression("capa_required == False and is_empty(justification)")
    assert required.evaluate({"capa_required": False, "justification": ""}) is True
    assert required.evaluate({"capa_required": True, "justification": ""}) is False

    one_sided = compile_expression(
        "(spec_low is not None and value < spec_low)"
        " or (spec_high is not None and value > spec_high)"
    )
    assert one_sided.evaluate({"value": 0, "spec_low": 1}) is True
    assert one_sided.evaluate({"value": 99, "spec_low": 1}) is False

    deviation = compile_expression("round((value - target) / target * 100, 1) if target else None")
    assert deviation.evaluate({"value": 10.5, "target": 10}) == 5.0
    assert deviation.evaluate({"value": 10.5, "target": None}) is None
    assert deviation.evaluate({"value": None, "target": 10}) is None

    visible = compile_expression("product_type in ['sterile', 'aseptic']")
    assert visible.evaluate({"product_type": "aseptic"}) is True

    due_soon = compile_expression("days_between(today(), due_date) <= 7")
    assert due_soon.evaluate({"due_date": "2024-03-12"}) is True
    assert due_soon.evaluate({"due_date": "2024-03-13"}) is False

    label = compile_expression(
        "upper(doc_type) + '-' + text(number) + ' ' + coalesce(title, '(untitled)')"
    )
    assert label.evaluate({"doc_type": "sop", "number": 12, "title": None}) == "SOP-12 (untitled)"
    assert evaluate("round(2.5)", {}) == 2

    overdue = compile_expression("state != 'closed' and due_date < today()")
    assert overdue.evaluate({"state": "open", "due_date": "2024-03-04"}) is True
    assert overdue.evaluate({"state": "open", "due_date": "2024-03-05"}) is False


def test_simple_comparison_is_fast() -> None:
    """Not a benchmark; catches an accidental slow path (e.g. recompiling per call)."""
    compiled = compile_expression("value < spec_low or value > spec_high")
    context = {"value": 3, "spec_low": 1, "spec_high": 5}
    runs = 20_000
    started = time.perf_counter()
    for _ in range(runs):
        compiled.evaluate(context)
    per_call = (time.perf_counter() - started) / runs
    assert per_call < 50e-6
