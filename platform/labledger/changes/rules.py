"""One side of a change to an object type: what its definition and its workflow demand.

A change request's impact compares a type as it is with the type as proposed
(``changes.impact``): either side is a type definition and the workflow it
follows, each possibly the stored one, the proposed one or none. This module
answers the questions that comparison asks of one side (the fields a record
in a state must have, the final states, a state's label) and says in words
how a state's rules differ between the two sides.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from msgspec.structs import replace

from labledger.metadata.spec import ObjectTypeSpec, StateSpec, TransitionSpec, WorkflowSpec
from labledger.metadata.spec.fields import FieldSpec, InputFieldSpec

#: The label of the records' "state" when their type follows no workflow.
NO_STATE = "no state"


@dataclass(frozen=True)
class Rules:
    """A type definition and its workflow's (None: the type is new, or follows none)."""

    type: ObjectTypeSpec | None
    workflow: WorkflowSpec | None

    @cached_property
    def fields(self) -> dict[str, FieldSpec]:
        return {} if self.type is None else {f.key: f for f in self.type.fields}

    @cached_property
    def states(self) -> dict[str, StateSpec]:
        return {} if self.workflow is None else {s.key: s for s in self.workflow.states}

    @cached_property
    def final_states(self) -> frozenset[str]:
        return frozenset(key for key, state in self.states.items() if state.final)

    @cached_property
    def _required_by_type(self) -> frozenset[str]:
        return frozenset(
            key
            for key, spec in self.fields.items()
            if isinstance(spec, InputFieldSpec) and spec.required
        )

    def required(self, state: str | None) -> frozenset[str]:
        """Fields a record in ``state`` must have a value for: the type's required
        fields and those its state requires."""
        found = self.states.get(state or "")
        return self._required_by_type | frozenset(() if found is None else found.required)

    def state_label(self, state: str | None) -> str:
        """The label of ``state`` here (its key when this workflow has no such state)."""
        found = self.states.get(state or "")
        return found.label if found is not None else state or NO_STATE

    def outgoing(self, state: str) -> tuple[TransitionSpec, ...]:
        """The transitions out of ``state`` by key, each without its list of starting
        states, so a transition that merely starts from one more state elsewhere
        compares equal."""
        transitions = () if self.workflow is None else self.workflow.transitions
        leaving = (replace(t, from_=()) for t in transitions if state in t.from_)
        return tuple(sorted(leaving, key=lambda t: t.key))


def _editable(state: StateSpec) -> str | frozenset[str]:
    """A state's editable fields, their order aside."""
    return state.editable if isinstance(state.editable, str) else frozenset(state.editable)


def state_rule_changes(current: Rules, proposed: Rules, state: str) -> tuple[str, ...]:
    """How the rules for records in ``state`` (a state of ``current``'s workflow) change,
    in words; empty when they stay as they are."""
    old, new = current.states[state], proposed.states.get(state)
    if new is None:
        return ("the state is removed",)
    changes = []
    if old.final != new.final:
        changes.append("it becomes final" if new.final else "it is no longer final")
    if _editable(old) != _editable(new):
        changes.append("the fields editable in it change")
    if frozenset(old.required) != frozenset(new.required):
        changes.append("the fields required in it change")
    if current.outgoing(state) != proposed.outgoing(state):
        changes.append("the transitions out of it change")
    return tuple(changes)
