"""What a record's workflow state allows, read from the workflow's published definition.

Every write of record data is checked against its state (fields locked in
it, fields required to be in it, fields only workflow steps write), and lists
hide records in final states. The record store needs only these facts, so it
reads them here from the versioned definition; the workflow engine, which
builds on the record store, compiles the rest (guards, transitions) itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from labledger.errors import NotFound
from labledger.metadata import versions
from labledger.metadata.model import TypeModel
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


def _action_fields(definition: dict[str, Any]) -> frozenset[str]:
    """Fields the workflow's steps write (``set`` actions, ``link_field`` of ``create``
    actions): the system records them, people never give them."""
    return frozenset(
        action.get("field") or action["link_field"]
        for t in definition["transitions"]
        for action in t.get("actions", [])
        if action["type"] == "set" or action.get("link_field")
    )


@dataclass(frozen=True)
class StateTable:
    """The states of one workflow version, as far as record writes and lists need them."""

    initial_state: str
    final_states: frozenset[str]
    states: dict[str, dict[str, Any]]
    action_fields: frozenset[str]

    def locked_fields(self, model: TypeModel, state: str | None) -> frozenset[str]:
        """Fields of ``model`` that may not change in ``state``."""
        editable = self.states.get(state or "", {}).get("editable", "all")
        if editable == "all":
            return frozenset()
        if editable == "none":
            return frozenset(model.fields)
        return frozenset(model.fields) - set(editable)

    def rules(self, model: TypeModel, state: str | None) -> StateRules:
        return StateRules(
            initial_state=self.initial_state,
            locked=self.locked_fields(model, state) if state else frozenset(),
            required=frozenset(self.states.get(state or "", {}).get("required", [])),
            system_set=model.system_set | self.action_fields,
        )


def _state_table(key: str, version: int, definition: dict[str, Any]) -> StateTable:
    return StateTable(
        initial_state=next(s["key"] for s in definition["states"] if s.get("initial")),
        final_states=frozenset(s["key"] for s in definition["states"] if s.get("final")),
        states={s["key"]: s for s in definition["states"]},
        action_fields=_action_fields(definition),
    )


_TABLES = versions.CompiledCache(WORKFLOW_KIND, _state_table)


def state_table(conn: Connection, key: str) -> StateTable:
    """The states of the current version of workflow ``key``."""
    found = _TABLES.get(conn, key)
    if found is None:
        raise NotFound(f"There is no workflow '{key}'.")
    return found


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
