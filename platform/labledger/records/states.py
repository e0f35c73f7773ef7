"""What a record's workflow state allows, read from the workflow's published definition.

Every write of record data is checked against its state (fields locked in
it, fields required to be in it, fields only workflow steps write), and lists
hide records in final states. The record store needs only these facts, so it
reads them here from the versioned definition, decoded into its struct once
per version; the workflow engine, which builds on the record store, compiles
the rest (guards, transitions) itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from labledger.errors import NotFound
from labledger.metadata import versions
from labledger.metadata.model import TypeModel
from labledger.metadata.spec import StateSpec, WorkflowSpec
from labledger.metadata.spec.stored import decode_stored
from labledger.metadata.versions import Compiled
from labledger.metadata.workflow_fit import WORKFLOW_KIND as WORKFLOW_KIND


@dataclass(frozen=True)
class StateRules:
    """What a record's workflow state allows."""

    initial_state: str | None = None
    #: Fields that may not change in the current state.
    locked: frozenset[str] = frozenset()
    #: Fields that must have a value in the current state.
    required: frozenset[str] = frozenset()
    #: Fields only the system writes (workflow actions, fields marked ``system_set``).
    system_set: frozenset[str] = frozenset()


def _action_fields(spec: WorkflowSpec) -> frozenset[str]:
    """Fields the workflow's steps write (``set`` actions, ``link_field`` of ``create``
    actions): the system records them, people never give them."""
    return frozenset(
        field for t in spec.transitions for action in t.actions if (field := action.written_field)
    )


@dataclass(frozen=True)
class StateTable:
    """The states of one workflow version, as far as record writes and lists need them."""

    initial_state: str
    final_states: frozenset[str]
    states: dict[str, StateSpec]
    action_fields: frozenset[str]

    def locked_fields(self, model: TypeModel, state: str | None) -> frozenset[str]:
        """Fields of ``model`` that may not change in ``state``."""
        found = self.states.get(state or "")
        editable = "all" if found is None else found.editable
        if editable == "all":
            return frozenset()
        if editable == "none":
            return frozenset(model.field_specs)
        return frozenset(model.field_specs) - set(editable)

    def rules(self, model: TypeModel, state: str | None) -> StateRules:
        found = self.states.get(state or "")
        return StateRules(
            initial_state=self.initial_state,
            locked=self.locked_fields(model, state) if state else frozenset(),
            required=frozenset(() if found is None else found.required),
            system_set=model.system_set | self.action_fields,
        )


def _state_table(key: str, version: int, definition: dict[str, Any]) -> StateTable:
    """The state table of one version, its definition decoded once (cached below)."""
    spec = decode_stored(definition, WorkflowSpec)
    return StateTable(
        initial_state=next(s.key for s in spec.states if s.initial),
        final_states=frozenset(s.key for s in spec.states if s.final),
        states={s.key: s for s in spec.states},
        action_fields=_action_fields(spec),
    )


_TABLES = versions.CompiledCache(WORKFLOW_KIND, _state_table)


def current_workflow(
    cache: versions.CompiledCache[Compiled], conn: Connection, key: str
) -> Compiled:
    """The compiled form in ``cache`` of the current version of workflow ``key``."""
    found = cache.get(conn, key)
    if found is None:
        raise NotFound(f"There is no workflow '{key}'.")
    return found


def state_table(conn: Connection, key: str) -> StateTable:
    """The states of the current version of workflow ``key``."""
    return current_workflow(_TABLES, conn, key)


def state_rules(conn: Connection, model: TypeModel, state: str | None) -> StateRules:
    """The workflow's rules for ``state`` (no workflow: only the type's system-set fields)."""
    if not model.workflow:
        return StateRules(system_set=model.system_set)
    return state_table(conn, model.workflow).rules(model, state)


def final_states(conn: Connection, model: TypeModel) -> list[str]:
    """The final states of the type's workflow (none without a workflow)."""
    if not model.workflow:
        return []
    return sorted(state_table(conn, model.workflow).final_states)
