"""The entry points: compile an expression once, evaluate it many times.

:func:`compile_expression` parses, checks and translates the text (cached,
because the platform compiles the same expression for every record it
touches) and returns an :class:`Expression`, whose ``evaluate`` turns every
failure into an :class:`EvaluationError`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from labledger.expressions.errors import EvaluationError, ExpressionError, describe
from labledger.expressions.limits import CACHE_SIZE
from labledger.expressions.parser import parse
from labledger.expressions.translator import Functions, Node, Translator

_NO_FUNCTIONS: Functions = {}


@dataclass(frozen=True)
class Expression:
    """A checked, ready-to-run expression.  Build it with :func:`compile_expression`.

    ``names`` and ``functions`` tell the platform what the expression depends
    on (e.g. which fields a computed field must be recomputed for).
    """

    source: str
    names: frozenset[str]
    functions: frozenset[str]
    _run: Node = field(repr=False, compare=False, kw_only=True)

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
            raise EvaluationError(describe(exc)) from exc


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


@functools.lru_cache(maxsize=CACHE_SIZE)
def _compile_cached(
    source: str, names: frozenset[str] | None, functions: frozenset[str]
) -> Expression:
    located, tree = parse(source)
    translator = Translator(located, names, functions)
    run = translator.translate(tree.body)
    return Expression(
        source=source,
        names=frozenset(translator.used_names),
        functions=frozenset(translator.used_functions),
        _run=run,
    )


def evaluate(source: str, context: Mapping[str, Any]) -> Any:
    """Compile (cached) and evaluate in one step; built-in functions only."""
    return compile_expression(source).evaluate(context)
