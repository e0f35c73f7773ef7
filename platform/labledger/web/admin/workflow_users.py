"""The object types that follow a workflow, as its designer needs them: the fields it
offers to pick from, and the draft checked against every one of them.

A workflow names fields of the types that use it (editable and required fields,
fields required first, authored fields, guards, actions). Publishing checks it
against each of them (``workflows.definitions.publish_workflow``); the designer's
live check runs the same checks on the draft, so a draft it calls consistent is
one that publishing accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from labledger.errors import FieldError
from labledger.identity.roles import existing_role_keys
from labledger.metadata import versions
from labledger.metadata.model import TypeModel
from labledger.metadata.spec import WorkflowSpec, decode
from labledger.metadata.spec.fields import ReferenceField
from labledger.metadata.types import KIND as TYPE_KIND
from labledger.metadata.types import type_model
from labledger.metadata.workflow_fit import known_types_for, type_fit_errors
from labledger.web.admin.designer import FieldChoice
from labledger.workflows.definitions import workflow_errors
from labledger.workflows.model import workflow_model


@dataclass(frozen=True)
class WorkflowUsers:
    """The current versions of the types whose records follow one workflow."""

    models: tuple[TypeModel, ...]

    @classmethod
    def of(cls, conn: Connection, workflow_key: str) -> WorkflowUsers:
        models = (type_model(conn, key) for key in versions.keys(conn, TYPE_KIND))
        return cls(tuple(m for m in models if workflow_key and m.workflow == workflow_key))

    def field_choices(self) -> list[FieldChoice]:
        """Every field of those types, in the order of the first type that has it; one
        that some of them lack says which (picking it is refused for those)."""
        seen: dict[str, FieldChoice] = {}
        for model in self.models:
            for key, fspec in model.field_specs.items():
                seen.setdefault(key, FieldChoice(key, fspec.label, fspec.kind))
        return [
            FieldChoice(
                choice.key,
                choice.label,
                choice.kind,
                tuple(m.label for m in self.models if choice.key not in m.field_specs),
            )
            for choice in seen.values()
        ]

    def reference_targets(self) -> dict[str, str]:
        """The type each reference field of those types points at, by field key."""
        return {
            key: fspec.to
            for model in self.models
            for key, fspec in model.field_specs.items()
            if isinstance(fspec, ReferenceField)
        }

    def problems(self, conn: Connection, draft: Any) -> list[FieldError]:
        """What publishing ``draft`` would refuse: the workflow on its own first, then
        as each of the types uses it (each message names the type)."""
        errors = workflow_errors(draft, existing_role_keys(conn))
        if errors or not self.models:
            return errors
        spec = decode(draft, WorkflowSpec)
        known = known_types_for(conn, spec, {})
        return [e for model in self.models for e in type_fit_errors(spec, model.spec, known)]


@dataclass(frozen=True)
class TypeNames:
    """What an action of the workflow may name in another type: its fields (a created
    record's values) and its workflow's steps (a step run on a referenced record)."""

    fields: list[tuple[str, str]]
    steps: list[tuple[str, str]]


def type_names(conn: Connection) -> dict[str, TypeNames]:
    """Every type's field and step keys with their labels, for the action pickers."""
    found = {}
    for key in versions.keys(conn, TYPE_KIND):
        model = type_model(conn, key)
        steps = (
            [(t.key, t.label) for t in workflow_model(conn, model.workflow).spec.transitions]
            if model.workflow
            else []
        )
        found[key] = TypeNames([(k, f.label) for k, f in model.field_specs.items()], steps)
    return found
