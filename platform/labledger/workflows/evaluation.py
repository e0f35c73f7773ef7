"""Evaluating a workflow's expressions against a record: guards and action values.

Guards are compiled with the workflow (``workflows.model``); action
expressions are compiled here when a step runs them. Both see the record's
fields, the acting user and the related-record functions.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from typing import Any

from labledger.errors import ValidationFailed
from labledger.expressions import EvaluationError, Expression, compile_expression
from labledger.metadata.spec import TransitionSpec
from labledger.metadata.spec.workflow import CreateAction
from labledger.records.relations import RELATED_FUNCTIONS
from labledger.workflows.step import StepContext

_NOT_MET = "The conditions are not met."


def guard_refusal(ctx: StepContext, transition: TransitionSpec, data: dict[str, Any]) -> str | None:
    """Why the transition's guard does not let it run on ``data`` (None: it does, or has none).

    The guard's own message says it where the workflow gives one; otherwise the
    refusal names the condition that failed (the first part of an ``and`` that
    is false), not just "the conditions".
    """
    guard = ctx.workflow.guards.get(transition.key)
    if guard is None:
        return None
    names, functions = ctx.evaluation_names(data), ctx.functions(data)
    try:
        if guard.evaluate(names, functions):
            return None
    except EvaluationError as exc:
        return f"{exc}" or _NOT_MET
    if transition.guard_message:
        return transition.guard_message
    for source, part in _conjuncts(transition.guard):
        try:
            held = part.evaluate(names, functions)
        except EvaluationError:
            held = False
        if not held:
            return f"Not met: {source}."
    return _NOT_MET


@lru_cache(maxsize=1024)
def _conjuncts(source: str) -> tuple[tuple[str, Expression], ...]:
    """The parts of a guard joined by a top-level ``and``, each compiled on its own (one
    part, the whole guard, when it is no ``and``)."""
    body = ast.parse(source.strip(), mode="eval").body
    parts = body.values if isinstance(body, ast.BoolOp) and isinstance(body.op, ast.And) else [body]
    found = []
    for part in parts:
        text = ast.get_source_segment(source.strip(), part) or source
        found.append((text, compile_expression(text, functions=RELATED_FUNCTIONS)))
    return tuple(found)


def confirmation_asked(
    ctx: StepContext, transition: TransitionSpec, data: dict[str, Any]
) -> str | None:
    """What the person must confirm before the step runs on ``data`` (None: nothing).

    A condition that cannot be judged (it raised) asks rather than waves the step
    through: the confirmation exists to stop someone signing past a flag unawares.
    """
    confirm = transition.confirmation
    condition = ctx.workflow.confirmations.get(transition.key)
    if confirm is None or condition is None:
        return None
    try:
        asked = condition.evaluate(ctx.evaluation_names(data), ctx.functions(data))
    except EvaluationError:
        asked = True
    return confirm.message if asked else None


def compiled(source: str) -> Expression:
    """An action's expression, ready to evaluate."""
    return compile_expression(source, functions=RELATED_FUNCTIONS)


def evaluate(
    ctx: StepContext,
    source_data: dict[str, Any],
    expression: Expression,
    extra: dict[str, Any] | None = None,
) -> Any:
    """An action expression's value over ``source_data`` (and ``extra`` names)."""
    try:
        names = {**ctx.evaluation_names(source_data), **(extra or {})}
        return expression.evaluate(names, ctx.functions(source_data))
    except EvaluationError as exc:
        raise ValidationFailed(f"A workflow action could not be computed: {exc}") from None


def for_each_items(
    ctx: StepContext, data: dict[str, Any], action: CreateAction
) -> list[dict[str, Any]]:
    """One name set per record to create: ``item`` is each element of ``for_each``."""
    if not action.for_each:
        return [{}]
    items = evaluate(ctx, data, compiled(action.for_each))
    if items is None:
        return []
    if not isinstance(items, list):
        raise ValidationFailed("A workflow action's for_each did not give a list.")
    return [{"item": item} for item in items]
