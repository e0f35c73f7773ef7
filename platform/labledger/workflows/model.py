"""A published workflow version, compiled once, and what a state allows.

Workflow versions are immutable, so the compiled form (expressions parsed,
states and transitions indexed by key) is cached by (key, version).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from labledger.errors import NotFound
from labledger.expressions import Expression, compile_expression
from labledger.metadata import versions
from labledger.records.relations import RELATED_FUNCTIONS
from labledger.workflows.definitions import WORKFLOW_KIND


@dataclass(frozen=True)
class WorkflowModel:
    key: str
    version: int
    definition: dict[str, Any]
    states: dict[str, dict[str, Any]]
    transitions: dict[str, dict[str, Any]]
    guards: dict[str, Expression]
    initial_state: str

    def from_state(self, state: str | None) -> list[dict[str, Any]]:
        """Transitions that start in ``state``, in definition order."""
        return [t for t in self.definition["transitions"] if state in t["from"]]

    def required_fields(self, state: str | None) -> tuple[str, ...]:
        """Fields a record must have to enter ``state``, in the state's own order."""
        return tuple(self.states.get(state or "", {}).get("required", []))


def compile_workflow(key: str, version: int, definition: dict[str, Any]) -> WorkflowModel:
    """Build the model of one workflow version (cached below, per version and hash)."""
    states = {s["key"]: s for s in definition["states"]}
    initial = next(s["key"] for s in definition["states"] if s.get("initial"))
    return WorkflowModel(
        key=key,
        version=version,
        definition=definition,
        states=states,
        transitions={t["key"]: t for t in definition["transitions"]},
        guards={
            t["key"]: compile_expression(t["guard"], functions=RELATED_FUNCTIONS)
            for t in definition["transitions"]
            if t.get("guard")
        },
        initial_state=initial,
    )


_WORKFLOWS = versions.CompiledCache(WORKFLOW_KIND, compile_workflow)


def workflow_model(conn: Connection, key: str) -> WorkflowModel:
    """The current version of workflow ``key``."""
    found = _WORKFLOWS.get(conn, key)
    if found is None:
        raise NotFound(f"There is no workflow '{key}'.")
    return found
