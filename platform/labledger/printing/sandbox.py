"""The sandbox print templates run in.

Print templates are Jinja2 source that administrators write and that lives in
the database, so they are untrusted code running on every printout. Jinja's
own :class:`ImmutableSandboxedEnvironment` already refuses attributes that
start with ``_`` and methods that change lists or dictionaries; this module
narrows it further, because a sandbox that cannot reach Python internals can
still exhaust the process:

- nothing is loaded from files: a template cannot include, import or extend
  another, and there is no loader to ask;
- autoescaping is always on and cannot be switched off, and ``safe`` is not
  a filter, so a record value such as ``<script>`` always prints as text;
- a short list of filters and a single global (``range``, with a budget of
  numbers per printout); everything else comes from the print context;
- only whitelisted things can be called: the context's functions, macros,
  ``loop.cycle``/``loop.changed`` and a few read-only methods of texts,
  mappings and dates, so ``'{:>999999999}'.format(1)`` or ``'a'.ljust(...)``
  cannot build giant strings;
- arithmetic is checked before it runs: whole numbers stay below a size in
  bits (``(2**50000) * ...`` is refused before Python multiplies), and ``*``,
  ``+`` and ``~`` cannot build a text or list past a size, counted through
  nested lists, so ``[[1] * 100000] * 100000`` is refused too;
- list, tuple and dictionary literals are measured the same way, and the
  separators of ``join`` and ``wordwrap`` are short, so no value a template
  holds can grow past that size however it is combined;
- every loop iteration, output, call and checked operator looks at the
  clock, and the output is counted: between two looks at the clock a
  template can only do work bounded by the sizes above, so a printout stops
  within its time limits (two seconds a record, ten a printout) whatever
  the template does.

Templates are checked when they are published (:func:`template_problems`),
each problem with its line, and again when compiled for printing.
"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from itertools import chain
from typing import Any

from jinja2 import (
    Template,
    TemplateError,
    TemplateSyntaxError,
    nodes,
    pass_context,
    pass_environment,
    pass_eval_context,
)
from jinja2.exceptions import SecurityError
from jinja2.filters import do_wordwrap, sync_do_join, sync_do_sum
from jinja2.meta import find_undeclared_variables
from jinja2.runtime import BlockReference, LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from labledger.errors import ServiceError


@dataclass(frozen=True)
class Limits:
    """What one printout (a document, or a whole page run of labels) may use."""

    #: Characters of HTML produced.
    output_chars: int = 5_000_000
    #: Wall-clock seconds one record's rendering may take, checked at each loop
    #: iteration, output, call and checked operator.
    seconds: float = 2.0
    #: Wall-clock seconds the whole printout may take (a run of labels renders many
    #: records: 500 labels with barcodes take a few seconds).
    printout_seconds: float = 10.0
    #: Numbers all ``range(...)`` calls of the printout may produce together.
    range_items: int = 100_000
    #: Largest text or list a template may build: characters of text, and the
    #: items of a list counted through the lists inside it (see ``_size``).
    sequence_items: int = 100_000
    #: Largest whole number arithmetic may build, in bits.
    integer_bits: int = 100_000
    #: Longest separator of ``join`` and ``wordwrap`` (each copy multiplies the text).
    separator_chars: int = 10
    #: Longest text ``wordwrap`` takes (it cuts long words in time quadratic in their length).
    wordwrap_chars: int = 10_000


LIMITS = Limits()

#: Names a template may use; they are filled in by the print context.
CONTEXT_NAMES = frozenset(
    {
        "record",
        "fields",
        "field",
        "signatures",
        "audit",
        "referencing",
        "referenced",
        "now",
        "code128",
        "qr",
    }
)

#: Jinja's filters that cannot be abused (no ``safe``, ``attr``, ``format``, ``center``...).
_JINJA_FILTERS = frozenset(
    {
        "abs",
        "capitalize",
        "count",
        "d",
        "default",
        "dictsort",
        "e",
        "escape",
        "filesizeformat",
        "first",
        "float",
        "groupby",
        "int",
        "items",
        "join",
        "last",
        "length",
        "list",
        "lower",
        "map",
        "max",
        "min",
        "reject",
        "rejectattr",
        "reverse",
        "round",
        "select",
        "selectattr",
        "sort",
        "string",
        "striptags",
        "sum",
        "title",
        "trim",
        "truncate",
        "unique",
        "upper",
        "urlencode",
        "wordcount",
        "wordwrap",
    }
)

#: Methods a template may call, by the type of the object they belong to.
_METHODS: tuple[tuple[type | tuple[type, ...], frozenset[str]], ...] = (
    (
        str,
        frozenset(
            {
                "capitalize",
                "endswith",
                "isdigit",
                "lower",
                "lstrip",
                "rstrip",
                "split",
                "splitlines",
                "startswith",
                "strip",
                "title",
                "upper",
            }
        ),
    ),
    (dict, frozenset({"get", "items", "keys", "values"})),
    ((datetime, date), frozenset({"date", "isoformat", "strftime"})),
    (LoopContext, frozenset({"changed", "cycle"})),
)

_SCRIPT = re.compile(r"<\s*script", re.IGNORECASE)


class TemplateProblem(Exception):
    """What is wrong with a template, at which line (when known)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass
class _Budget:
    limits: Limits
    printout_deadline: float
    range_left: int
    output_left: int
    #: Set as each record starts rendering (see ``start_record``).
    record_deadline: float = 0.0

    def start_record(self) -> None:
        self.record_deadline = time.monotonic() + self.limits.seconds

    def tick(self) -> None:
        now = time.monotonic()
        if now > self.record_deadline:
            raise TemplateProblem(
                f"printing one record took longer than {self.limits.seconds:g} seconds "
                "and was stopped"
            )
        if now > self.printout_deadline:
            raise TemplateProblem(
                f"the printout took longer than {self.limits.printout_seconds:g} seconds "
                "and was stopped"
            )


_BUDGET: ContextVar[_Budget] = ContextVar("print_budget")


def _budget() -> _Budget:
    try:
        return _BUDGET.get()
    except LookupError:  # compiled templates only run inside PrintRun.render
        raise TemplateProblem("templates render only inside a printout") from None


def _capped_range(*args: int) -> range:
    """``range`` that draws on the printout's budget of numbers."""
    budget = _budget()
    numbers = range(*args)
    try:
        size = len(numbers)
    except OverflowError:
        size = budget.range_left + 1
    if size > budget.range_left:
        raise TemplateProblem(
            f"range() of {size:,} numbers would pass the limit of "
            f"{budget.limits.range_items:,} numbers per printout"
        )
    budget.range_left -= size
    return numbers


def number(value: Any, places: int = 0) -> str:
    """``{{ 3.14159|number(2) }}`` -> ``3.14``: fixed decimal places, empty for no value."""
    if value is None or value == "" or isinstance(value, bool):
        return ""
    if not isinstance(places, int) or not 0 <= places <= 12:
        raise TemplateProblem("number(places): places must be a whole number from 0 to 12")
    try:
        return format(Decimal(str(value)), f".{places}f")
    except (InvalidOperation, ValueError):
        return str(value)


def utc(value: Any, pattern: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    """A moment (a datetime or stored ISO text) as UTC text; dates print as they are."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime(pattern)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


_CONTAINERS = (list, tuple, dict)


def _size(value: Any, limit: int) -> int:
    """How big ``value`` is, counted as it would be printed: characters of a
    text; for a list, tuple or dictionary, its items and those of the
    containers inside it (a text item counts its characters, any other item
    one). A list holding the same big list many times is as big as it looks
    printed. Counting stops once past ``limit``."""
    if isinstance(value, str):
        return len(value)
    if not isinstance(value, _CONTAINERS):
        return 1
    total, pending = 0, [value]
    while pending:
        container = pending.pop()
        items = chain.from_iterable(container.items()) if isinstance(container, dict) else container
        for item in items:
            if isinstance(item, str):
                total += max(1, len(item))
            else:
                total += 1
                if isinstance(item, _CONTAINERS):
                    pending.append(item)
            if total > limit:
                return total
    return total


def _check_size(value: Any, what: str, limits: Limits) -> None:
    if _size(value, limits.sequence_items) > limits.sequence_items:
        raise TemplateProblem(
            f"{what} would build more than {limits.sequence_items:,} items (the limit)"
        )


def _result_bits(operator: str, left: int, right: int) -> int:
    """At most how many bits ``left <operator> right`` has, known without computing it."""
    bits = max(abs(left).bit_length(), abs(right).bit_length())
    if operator in ("+", "-"):
        return bits + 1
    if operator == "*":
        return abs(left).bit_length() + abs(right).bit_length()
    if operator == "**":
        return abs(left).bit_length() * right if right > 0 and abs(left) > 1 else 1
    return bits  # /, // and % never grow


def _check_operands(operator: str, left: Any, right: Any, limits: Limits) -> None:
    """Refuse an arithmetic step whose result would pass the limits, before it runs."""
    if isinstance(left, int) and isinstance(right, int):
        if _result_bits(operator, left, right) > limits.integer_bits:
            raise TemplateProblem(f"'{operator}' would build a number too large to print")
    elif operator == "*":
        for sequence, times in ((left, right), (right, left)):
            if isinstance(sequence, str | list | tuple) and isinstance(times, int):
                items = _size(sequence, limits.sequence_items) * max(times, 0)
                if items > limits.sequence_items:
                    raise TemplateProblem(
                        f"'*' would build {items:,} items (the limit is {limits.sequence_items:,})"
                    )
    elif operator == "+" and isinstance(left, str | list | tuple):
        _check_size([left, right], "'+'", limits)
    elif operator == "%" and isinstance(left, str):
        raise TemplateProblem("'%' cannot format text in a template; use the number filter")


class PrintSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, narrowed to what printing needs (see the module notes)."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        budget = _budget()
        budget.tick()
        _check_operands(operator, left, right, budget.limits)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _budget().tick()
        if not _may_call(__context, __obj):
            name = getattr(__obj, "__name__", type(__obj).__name__)
            raise SecurityError(f"'{name}' cannot be called in a print template")
        return super().call(__context, __obj, *args, **kwargs)


def _may_call(context: Any, obj: Any) -> bool:
    """Macros, the print context's own functions, and whitelisted read-only methods."""
    if isinstance(obj, Macro | BlockReference):
        return True
    if any(obj is value for value in context.parent.values()):
        return True
    owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
    return any(isinstance(owner, kind) and name in names for kind, names in _METHODS)


def _check_separator(separator: str | None, filter_name: str) -> None:
    limit = _budget().limits.separator_chars
    if separator is not None and len(str(separator)) > limit:
        raise TemplateProblem(f"the separator of {filter_name} takes at most {limit} characters")


@pass_eval_context
def _join(eval_ctx: Any, value: Any, d: str = "", attribute: str | int | None = None) -> str:
    """``join`` with a short separator: each copy of it lengthens the text."""
    _check_separator(d, "join")
    return sync_do_join(eval_ctx, value, d, attribute)


@pass_environment
def _wordwrap(
    environment: Any,
    s: str,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> str:
    """``wordwrap`` of a text of bounded length with a short ``wrapstring``, copied
    at every break."""
    _check_separator(wrapstring, "wordwrap")
    limit = _budget().limits.wordwrap_chars
    if len(s) > limit:
        raise TemplateProblem(f"wordwrap takes texts of at most {limit:,} characters")
    return do_wordwrap(environment, s, width, break_long_words, wrapstring, break_on_hyphens)


@pass_environment
def _sum(
    environment: Any, iterable: Any, attribute: str | int | None = None, start: Any = 0
) -> Any:
    """``sum`` of numbers only: summing lists copies the growing list at every step."""
    if isinstance(start, str | list | tuple | dict):
        raise TemplateProblem("sum() adds numbers; its start must be a number")
    return sync_do_sum(environment, iterable, attribute, start)


@pass_context
def _bounded(_context: Any, value: Any) -> Any:
    """A list, tuple or dictionary literal or a ``~`` text, refused past the size limit
    (put in by ``_guard``; a template naming it gains nothing)."""
    _check_size(value, "this expression", _budget().limits)
    return value


@pass_context
def _ticking(_context: Any, iterable: Any) -> Iterator[Any]:
    """A loop's items, each one a look at the clock (see ``_guard``)."""
    budget = _budget()
    for item in iterable:
        budget.tick()
        yield item


#: The filters ``_guard`` puts into compiled templates.
_GUARDS = {"_bounded": _bounded, "_ticking": _ticking}


def _guard(tree: nodes.Template) -> nodes.Template:
    """``tree`` with its loops looking at the clock at every item and its literals
    and ``~`` texts measured (the sandbox has no hook for either)."""

    def through(name: str, node: nodes.Node) -> nodes.Filter:
        return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)

    for loop in tree.find_all(nodes.For):
        loop.iter = through("_ticking", loop.iter)
    for parent in list(tree.find_all(nodes.Node)):  # listed first: wrapping adds nodes
        for name, child in parent.iter_fields():
            if _is_literal(child):
                setattr(parent, name, through("_bounded", child))
            elif isinstance(child, list):
                child[:] = [through("_bounded", c) if _is_literal(c) else c for c in child]
    return tree


def _is_literal(node: Any) -> bool:
    """A literal that builds a value from others: ``[a, b]``, ``(a, b)``, ``{k: v}``, ``a ~ b``."""
    if isinstance(node, nodes.Tuple):
        return node.ctx == "load"
    return isinstance(node, nodes.List | nodes.Dict | nodes.Concat)


def _environment() -> PrintSandbox:
    env = PrintSandbox(autoescape=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters = {k: v for k, v in env.filters.items() if k in _JINJA_FILTERS}
    env.filters.update(number=number, utc=utc, join=_join, wordwrap=_wordwrap, sum=_sum)
    env.filters.update(_GUARDS)
    env.globals = {"range": _capped_range}
    return env


ENVIRONMENT = _environment()


def _policy_problems(tree: nodes.Template) -> list[TemplateProblem]:
    """What the sandbox would refuse anyway, found before anyone prints."""
    problems: list[TemplateProblem] = []

    def add(kinds: Any, message: Any, predicate: Any = lambda _node: True) -> None:
        for found in tree.find_all(kinds):
            if predicate(found):
                text = message(found) if callable(message) else message
                problems.append(TemplateProblem(text, found.lineno))

    add(
        (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport),
        "a print template cannot include, import or extend other templates",
    )
    add(nodes.EvalContextModifier, "autoescaping cannot be switched off in a print template")
    add(
        nodes.Getattr,
        lambda n: f"'{n.attr}': names starting with '_' are not available",
        lambda n: n.attr.startswith("_"),
    )
    add(
        nodes.Getitem,
        lambda n: f"'{n.arg.value}': names starting with '_' are not available",
        lambda n: (
            isinstance(n.arg, nodes.Const)
            and isinstance(n.arg.value, str)
            and n.arg.value.startswith("_")
        ),
    )
    add(
        nodes.Filter,
        lambda n: f"there is no filter '{n.name}' in print templates",
        lambda n: n.name not in ENVIRONMENT.filters,
    )
    add(
        nodes.Test,
        lambda n: f"there is no test '{n.name}'",
        lambda n: n.name not in ENVIRONMENT.tests,
    )
    for data in tree.find_all(nodes.TemplateData):
        script = _SCRIPT.search(data.data)
        if script:
            line = data.lineno + data.data.count("\n", 0, script.start())
            problems.append(
                TemplateProblem(
                    "scripts do not run in printouts: remove the <script> element", line
                )
            )
    try:
        unknown = find_undeclared_variables(tree) - CONTEXT_NAMES
    except TemplateSyntaxError:  # an unknown filter or test, reported above
        unknown = set()
    known = ", ".join(sorted(CONTEXT_NAMES | {"range"}))
    add(
        nodes.Name,
        lambda n: f"unknown name '{n.name}' (print templates may use: {known})",
        lambda n: n.ctx == "load" and n.name in unknown,
    )
    return sorted(problems, key=lambda p: p.line or 0)


def template_problems(source: str) -> list[TemplateProblem]:
    """Every problem of ``source``, each with its line; empty when it may be published."""
    try:
        tree = ENVIRONMENT.parse(source)
    except TemplateSyntaxError as exc:
        return [TemplateProblem(exc.message or "syntax error", exc.lineno)]
    problems = _policy_problems(tree)
    if not problems:
        try:
            ENVIRONMENT.compile(tree)
        except TemplateSyntaxError as exc:
            problems.append(TemplateProblem(exc.message or "syntax error", exc.lineno))
    return problems


@dataclass(frozen=True)
class CompiledTemplate:
    template: Template
    #: The context names the template uses: the printout computes only these.
    names: frozenset[str]


@lru_cache(maxsize=256)
def compile_template(source: str) -> CompiledTemplate:
    """Check and compile ``source`` (cached: published templates never change)."""
    problems = template_problems(source)
    if problems:
        raise problems[0]
    tree = ENVIRONMENT.parse(source)
    names = frozenset(find_undeclared_variables(tree) & CONTEXT_NAMES)
    return CompiledTemplate(ENVIRONMENT.from_string(_guard(tree)), names)


def _template_line(exc: BaseException) -> int | None:
    """The template line an error came from (Jinja rewrites tracebacks to template lines)."""
    lines = [
        frame.lineno
        for frame in traceback.extract_tb(exc.__traceback__)
        if frame.filename == "<template>"
    ]
    return lines[-1] if lines else None


class PrintRun:
    """One printout: its limits are shared by every template rendered in it."""

    def __init__(self, limits: Limits = LIMITS) -> None:
        self._budget = _Budget(
            limits,
            printout_deadline=time.monotonic() + limits.printout_seconds,
            range_left=limits.range_items,
            output_left=limits.output_chars,
        )

    @contextmanager
    def _active(self) -> Iterator[_Budget]:
        token = _BUDGET.set(self._budget)
        try:
            yield self._budget
        finally:
            _BUDGET.reset(token)

    def render(self, compiled: CompiledTemplate, context: dict[str, Any]) -> Markup:
        """The template's HTML for ``context``; a failure raises TemplateProblem with its line.

        Service errors raised by context functions (a record the caller may
        not read) pass through unchanged.
        """
        parts: list[str] = []
        with self._active() as budget:
            budget.start_record()
            try:
                for chunk in compiled.template.generate(context):
                    budget.tick()
                    budget.output_left -= len(chunk)
                    if budget.output_left < 0:
                        raise TemplateProblem(
                            f"the printout is larger than {budget.limits.output_chars:,} characters"
                        )
                    parts.append(chunk)
            except ServiceError:
                raise
            except TemplateProblem as exc:
                raise TemplateProblem(exc.message, exc.line or _template_line(exc)) from None
            except RecursionError as exc:
                raise TemplateProblem(
                    "macros call each other too deeply", _template_line(exc)
                ) from None
            except (
                TemplateError,
                ArithmeticError,
                LookupError,
                TypeError,
                ValueError,
            ) as exc:
                raise TemplateProblem(str(exc) or type(exc).__name__, _template_line(exc)) from None
        return Markup("".join(parts))  # noqa: S704 - autoescaped template output
