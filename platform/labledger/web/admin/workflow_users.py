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
from labledger.metadata.types import KIND as TYPE_KIND
from labledger.metadata.types import type_model
from labledger.metadata.workflow_fit import known_types_for, type_fit_errors
from labledger.web.admin.designer import FieldChoice
from labledger.workflows.definitions import workflow_errors


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

    def problems(self, conn: Connection, draft: Any) -> list[FieldError]:
        """What publishing ``draft`` would refuse: the workflow on its own first, then
        as each of the types uses it (each message names the type)."""
        errors = workflow_errors(draft, existing_role_keys(conn))
        if errors or not self.models:
            return errors
        spec = decode(draft, WorkflowSpec)
        known = known_types_for(conn, spec, {})
        return [e for model in self.models for e in type_fit_errors(spec, model.spec, known)]
