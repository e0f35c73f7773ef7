"""A published workflow version, compiled once, and what a state allows.

Workflow versions are immutable, so the compiled form (the definition decoded
into its struct, expressions parsed, states and transitions indexed by key) is
cached by (key, version).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from labledger.expressions import Expression, compile_expression
from labledger.metadata import versions
from labledger.metadata.spec import StateSpec, TransitionSpec, WorkflowSpec, decode
from labledger.metadata.spec.stored import stored_document
from labledger.records.relations import RELATED_FUNCTIONS
from labledger.records.states import WORKFLOW_KIND, current_workflow


@dataclass(frozen=True)
class WorkflowModel:
    key: str
    version: int
    #: The definition as published (less keys the structs do not mean: see
    #: metadata.spec.stored); ``spec`` is the same, typed.
    definition: dict[str, Any]
    #: States and transitions by key, as published (``state_specs``, ``transition_specs``: typed).
    states: dict[str, dict[str, Any]]
    transitions: dict[str, dict[str, Any]]
    spec: WorkflowSpec
    state_specs: dict[str, StateSpec]
    transition_specs: dict[str, TransitionSpec]
    guards: dict[str, Expression]
    #: Per transition that may ask for a confirmation: when it asks.
    confirmations: dict[str, Expression]
    initial_state: str

    def from_state(self, state: str | None) -> list[TransitionSpec]:
        """Transitions that start in ``state``, in definition order."""
        return [t for t in self.spec.transitions if state in t.from_]

    def required_fields(self, state: str | None) -> tuple[str, ...]:
        """Fields a record must have to enter ``state``, in the state's own order."""
        found = self.state_specs.get(state or "")
        return () if found is None else found.required


def compile_workflow(key: str, version: int, stored: dict[str, Any]) -> WorkflowModel:
    """Build the model of one workflow version (cached below, per version and hash).

    The definition is decoded into its struct here, once per version. A version
    is compiled as stored: one published by an earlier, less strict release is
    read leniently (see metadata.spec.stored), so its records can still move."""
    definition = stored_document(stored, WorkflowSpec)
    spec = decode(definition, WorkflowSpec)
    return WorkflowModel(
        key=key,
        version=version,
        definition=definition,
        states={s["key"]: s for s in definition["states"]},
        transitions={t["key"]: t for t in definition["transitions"]},
        spec=spec,
        state_specs={s.key: s for s in spec.states},
        transition_specs={t.key: t for t in spec.transitions},
        guards={
            t.key: compile_expression(t.guard, functions=RELATED_FUNCTIONS)
            for t in spec.transitions
            if t.guard
        },
        confirmations={
            t.key: compile_expression(t.confirmation.when, functions=RELATED_FUNCTIONS)
            for t in spec.transitions
            if t.confirmation is not None
        },
        initial_state=next(s.key for s in spec.states if s.initial),
    )


_WORKFLOWS = versions.CompiledCache(WORKFLOW_KIND, compile_workflow)


def workflow_model(conn: Connection, key: str) -> WorkflowModel:
    """The current version of workflow ``key``."""
    return current_workflow(_WORKFLOWS, conn, key)
