"""Checking record input without saving it: what a form shows while a person types.

The errors and computed values come from the very ``DataCheck`` that
``create_record`` and ``update_record`` run, with the same expression
context, read-only, locked and system-set fields, so a form can never show as valid what
the service would refuse, nor the reverse. Nothing is written.

On top of that the preview says which fields are visible (``visible_if``)
and which need a value now (``required`` or a true ``required_if``): the
service does not need those answers, a form does.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from labledger.errors import FieldError, Forbidden
from labledger.expressions import EvaluationError, compile_expression
from labledger.identity.principal import Principal
from labledger.metadata.model import CONTEXT_NAMES, TypeModel
from labledger.metadata.spec.fields import InputFieldSpec
from labledger.metadata.types import type_model
from labledger.records.service import expression_context, field_check, load_row, state_rules


@dataclass(frozen=True)
class Preview:
    #: What the service would refuse, located as ``data.<field>`` like its own errors.
    errors: list[FieldError]
    #: The data as it would be stored, computed fields included (as submitted
    #: and merged when the values do not even have the right shape).
    data: dict[str, Any]
    visible: frozenset[str]
    required: frozenset[str]
    #: Fields the record's workflow state does not let anyone change.
    locked: frozenset[str]


def _expression_names(model: TypeModel) -> frozenset[str]:
    return CONTEXT_NAMES | frozenset(model.field_specs)


def visible_fields(model: TypeModel, names: dict[str, Any]) -> frozenset[str]:
    """Fields shown for these values: those without ``visible_if`` or whose condition holds.

    A condition that cannot be evaluated shows the field: hiding an input
    because of an error would hide the way to fix it.
    """
    allowed = _expression_names(model)
    shown = set()
    for key, spec in model.field_specs.items():
        condition = spec.visible_if
        if not condition:
            shown.add(key)
            continue
        try:
            if compile_expression(condition, names=allowed).evaluate(names):
                shown.add(key)
        except EvaluationError:
            shown.add(key)
    return frozenset(shown)


def settled_hidden(
    model: TypeModel, names: dict[str, Any], editable: Collection[str]
) -> frozenset[str]:
    """Fields hidden for these values whose condition reads none of ``editable``: typing
    in the other fields cannot show them (a result's text input, for a numeric analysis).

    A grid row offers no input for them; a field whose condition could still
    come true keeps its input.
    """
    allowed = _expression_names(model)
    shown = visible_fields(model, names)
    return frozenset(
        key
        for key, spec in model.field_specs.items()
        if key not in shown
        and not _reads(model, compile_expression(spec.visible_if, names=allowed).names)
        & set(editable)
    )


def _reads(model: TypeModel, names: frozenset[str]) -> set[str]:
    """The fields a condition over ``names`` depends on: a computed field stands for
    the fields its expression reads (an out-of-limits flag, for the value typed)."""
    computed = dict(model.computed)
    found: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        if name in computed:
            pending.extend(computed[name].names)
    return found


def required_fields(model: TypeModel, names: dict[str, Any]) -> frozenset[str]:
    """Fields that need a value for these values (``required_if`` as the service evaluates it)."""
    needed = {
        key
        for key, spec in model.field_specs.items()
        if isinstance(spec, InputFieldSpec) and spec.required
    }
    for key, expression in model.required_if.items():
        try:
            if expression.evaluate(names):
                needed.add(key)
        except EvaluationError:
            continue
    return frozenset(needed)


def preview_record(
    conn: Connection,
    actor: Principal,
    type_key: str,
    data: dict[str, Any],
    *,
    record_id: int | None = None,
) -> Preview:
    """Check ``data`` as a new record (``record_id`` None) or as a change to a record."""
    model = type_model(conn, type_key)
    action = "create" if record_id is None else "edit"
    if not model.allows(actor, action):
        raise Forbidden(f"You may not {action} {model.spec.plural}.")
    row = load_row(conn, type_key, record_id) if record_id is not None else None
    rules = state_rules(conn, model, row["state"] if row else None)
    check = field_check(conn, actor, model, row, rules=rules)
    context = expression_context(actor, row)
    built = check.build(data, context)
    if check.errors:
        # ``build`` stops before computing when a value has the wrong shape or a
        # required field is still empty, as it will be while a form is filled
        # in; the person should still see what the values typed so far give.
        built = dict(built)
        check.compute(built, context)
    names = {**built, **context}
    return Preview(
        errors=check.errors,
        data=built,
        visible=visible_fields(model, names),
        required=required_fields(model, names),
        locked=rules.locked,
    )
