"""A transition's working set: the record (locked for the step), its type and its workflow.

Every check, guard, action and write of one step reads the same ``StepContext``,
and the record rows a step touches are locked here in one fixed order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Select, select

from labledger.db.tables import record
from labledger.errors import NotFound, ValidationFailed
from labledger.identity.principal import Principal
from labledger.metadata.model import TypeModel
from labledger.metadata.spec import TransitionSpec
from labledger.metadata.spec.workflow import TransitionReferencedAction
from labledger.metadata.types import type_model
from labledger.records.checks import expression_context
from labledger.records.relations import related_functions
from labledger.workflows.model import WorkflowModel, workflow_model


@dataclass
class StepContext:
    """One record as a step sees it, with what its expressions may read."""

    conn: Connection
    actor: Principal
    model: TypeModel
    workflow: WorkflowModel
    row: dict[str, Any]
    _functions: dict[int, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)

    def field_label(self, key: str) -> str:
        """The label of the record's field ``key`` (the key itself if there is none)."""
        found = self.model.field_specs.get(key)
        return key if found is None else found.label

    def evaluation_names(self, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, **expression_context(self.actor, self.row)}

    def functions(self, data: dict[str, Any]) -> dict[str, Any]:
        """Related-record functions over ``data``, built once per data (lookups cached)."""
        found = self._functions.get(id(data))
        if found is None or found[0] is not data:
            found = self._functions[id(data)] = (
                data,
                related_functions(self.conn, self.row["id"], data),
            )
        return found[1]


def _locked_for_step(statement: Select[Any]) -> Select[Any]:
    """``statement`` locking the record rows it reads until the step commits.

    FOR NO KEY UPDATE on PostgreSQL: a step changes no key column, and unlike
    FOR UPDATE this lock does not wait for the key-share locks that other
    transactions' reference rows (children pointing at the record) hold on it.
    """
    return statement.with_for_update(key_share=True)


def step_context(
    conn: Connection, actor: Principal, type_key: str, record_id: int, lock: bool
) -> StepContext:
    """The record ``record_id`` of ``type_key`` and its workflow (the row locked if ``lock``)."""
    model = type_model(conn, type_key)
    if not model.workflow:
        raise ValidationFailed(f"{model.spec.plural} have no workflow.")
    statement = select(record).where(record.c.id == record_id, record.c.type_key == type_key)
    found = conn.execute(_locked_for_step(statement) if lock else statement).mappings().first()
    if found is None:
        raise NotFound(f"There is no {type_key} record {record_id}.")
    return StepContext(conn, actor, model, workflow_model(conn, model.workflow), dict(found))


def lock_step_targets(ctx: StepContext, transition: TransitionSpec) -> None:
    """Lock the records the step will move on, right after the record itself.

    Locks are taken in one order: the stepped record, then the records it
    moves on (a child before its parent, lowest id first), then number
    counters and the audit chain's head. Locking a parent only when its
    child's step reaches it, after the child has taken the chain head, would
    deadlock with a step run on the parent itself.
    """
    targets = {
        ctx.row["data"].get(action.reference)
        for action in transition.actions
        if isinstance(action, TransitionReferencedAction)
    }
    ids = [t for t in targets if isinstance(t, int)]
    if ids:
        ctx.conn.execute(
            _locked_for_step(select(record.c.id).where(record.c.id.in_(ids)).order_by(record.c.id))
        )
