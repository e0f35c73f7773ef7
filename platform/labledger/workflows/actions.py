"""A step's actions before its state change: set fields, create linked records.

Action values go through the same field checks as a person's save, as the
system's values (they may fill locked and system-set fields), so a workflow
can never store what the type refuses.
"""

from __future__ import annotations

from typing import Any

from labledger.errors import FieldError, ValidationFailed
from labledger.metadata.spec import TransitionSpec
from labledger.metadata.spec.workflow import CreateAction, SetAction
from labledger.records.checks import checked_data
from labledger.records.create import RecordBatch
from labledger.records.states import StateRules
from labledger.workflows.evaluation import compiled, evaluate, for_each_items
from labledger.workflows.step import StepContext


def _labelled(ctx: StepContext, errors: list[FieldError]) -> str:
    """Field errors as a person reads them, e.g. "Score: must be at most 10"."""
    return "; ".join(
        f"{ctx.field_label(error.field.removeprefix('data.'))}: {error.message}" for error in errors
    )


def _checked_step_data(
    ctx: StepContext, transition: TransitionSpec, data: dict[str, Any]
) -> dict[str, Any]:
    """The record's data after the step's actions, through the same field checks as a
    person's save (type, limits, options, pattern, rules; computed fields recomputed).

    The values are the workflow's own, so fields locked in the record's state or
    set only by the system take them; a value the field does not accept refuses
    the step, naming the field, and nothing is written.
    """
    before = ctx.row["data"]
    changed = {k: data.get(k) for k in set(before) | set(data) if before.get(k) != data.get(k)}
    try:
        return checked_data(
            ctx.conn,
            ctx.actor,
            ctx.model,
            ctx.row,
            changed,
            rules=StateRules(),
            as_system=True,
        )
    except ValidationFailed as exc:
        raise ValidationFailed(
            f"'{transition.label}' was refused: the record's values after its actions "
            f"are not valid ({_labelled(ctx, exc.errors)}).",
            exc.errors,
        ) from None


def _create_records(
    ctx: StepContext,
    transition: TransitionSpec,
    data: dict[str, Any],
    action: CreateAction,
) -> list[dict[str, Any]]:
    """The records a ``create`` action makes, one per ``for_each`` item, stored together."""
    batch = RecordBatch(
        ctx.conn,
        ctx.actor,
        action.record_type,
        skip_permission=True,
        as_system=True,
    )
    details = {"created_by_transition": transition.key, "source": ctx.row["number"]}
    items = [
        {
            key: value
            for key, source in action.fields.items()
            if (value := evaluate(ctx, data, compiled(source), extra)) is not None
        }
        for extra in for_each_items(ctx, data, action)
    ]
    batch.prefetch(items)
    for values in items:
        batch.add(values, audit_details=details)
    return batch.store()


def run_actions(
    ctx: StepContext, transition: TransitionSpec, data: dict[str, Any]
) -> dict[str, Any]:
    """Set fields and create linked records; returns the record's new data."""
    data = dict(data)
    for action in transition.actions:
        if isinstance(action, SetAction):
            data[action.field] = evaluate(ctx, data, compiled(action.expression))
        elif isinstance(action, CreateAction):
            created = _create_records(ctx, transition, data, action)
            if action.link_field and created:
                data[action.link_field] = created[-1]["id"]
    return _checked_step_data(ctx, transition, data)
