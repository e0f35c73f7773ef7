"""Whether an object type and the workflow it names fit together.

A type's workflow refers to the type's fields (editable and required fields,
guards, actions) and may create records of other types; both are metadata,
so the check lives here, below the workflow engine. Publishing a type runs it
against the stored workflow, publishing a workflow against every type using it
(``labledger.workflows.definitions``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from msgspec import UnsetType
from sqlalchemy import Connection

from labledger.errors import FieldError
from labledger.metadata import versions
from labledger.metadata.expression_check import expression_problem
from labledger.metadata.model import CONTEXT_NAMES
from labledger.metadata.spec import ActionSpec, FieldSpec, ObjectTypeSpec, WorkflowSpec
from labledger.metadata.spec.fields import ReferenceField
from labledger.metadata.spec.stored import decode_stored
from labledger.metadata.spec.workflow import CreateAction, SetAction, TransitionReferencedAction

TYPE_KIND = "object_type"
#: The kind under which workflow definitions are stored (see metadata.versions).
WORKFLOW_KIND = "workflow"


def type_fit_errors(
    workflow: WorkflowSpec,
    type_spec: ObjectTypeSpec,
    known_types: dict[str, set[str] | None],
) -> list[FieldError]:
    """Problems of the workflow as used by one object type (its fields).

    ``known_types`` maps type keys to their field keys, or to None for a type
    being published in the same batch whose fields are checked when it is.
    """
    fields = {f.key: f for f in type_spec.fields}
    names = CONTEXT_NAMES | set(fields)
    errors: list[FieldError] = []
    where = f"(for type '{type_spec.key}')"

    def error(path: str, message: str) -> None:
        errors.append(FieldError(path, f"{message} {where}"))

    for index, state in enumerate(workflow.states):
        listed = state.editable if isinstance(state.editable, tuple) else ()
        for key in [*listed, *state.required]:
            if key not in fields:
                error(f"states[{index}]", f"names unknown field '{key}'")
    for index, transition in enumerate(workflow.transitions):
        path = f"transitions[{index}]"
        for key in transition.requires_fields:
            if key not in fields:
                error(f"{path}.requires_fields", f"names unknown field '{key}'")
        separation = transition.separation
        authors_of = () if isinstance(separation, UnsetType) else separation.authors_of
        for position, key in enumerate(authors_of):
            if key not in fields:
                error(f"{path}.separation.authors_of[{position}]", f"names unknown field '{key}'")
        for where, source in transition.conditions:
            if problem := expression_problem(source, names):
                error(f"{path}.{where}", problem)
        for position, action in enumerate(transition.actions):
            error_path = f"{path}.actions[{position}]"
            for problem in _action_problems(action, fields, names, known_types):
                error(error_path, problem)
    return errors


def _action_problems(
    action: ActionSpec,
    fields: Mapping[str, FieldSpec],
    names: Collection[str],
    known_types: dict[str, set[str] | None],
) -> list[str]:
    problems = []
    expressions: list[str] = []
    match action:
        case SetAction():
            if action.field not in fields:
                problems.append(f"sets unknown field '{action.field}'")
            expressions.append(action.expression)
        case CreateAction():
            target = known_types.get(action.record_type, ())
            if target == ():
                problems.append(f"creates unknown type '{action.record_type}'")
            elif target is not None:
                problems += [
                    f"'{k}' is not a field of '{action.record_type}'"
                    for k in action.fields
                    if k not in target
                ]
                link = action.link_field
                if link and link not in fields:
                    problems.append(f"link_field '{link}' is not a field of this type")
            if action.for_each:
                expressions.append(action.for_each)
                names = {*names, "item"}
            expressions += list(action.fields.values())
        case TransitionReferencedAction():
            if not isinstance(fields.get(action.reference), ReferenceField):
                problems.append(f"'{action.reference}' is not a reference field")
    for source in expressions:
        problem = expression_problem(source, names)
        if problem:
            problems.append(problem)
    return problems


def known_type_fields(conn: Connection) -> dict[str, set[str] | None]:
    """The field keys of every stored type (a type's current version)."""
    fields: dict[str, set[str] | None] = {}
    for key in versions.keys(conn, TYPE_KIND):
        found = versions.current(conn, TYPE_KIND, key)
        if found:
            fields[key] = {fdef["key"] for fdef in found[1]["fields"]}
    return fields


def _creates_records(workflow: WorkflowSpec) -> bool:
    return any(
        isinstance(action, CreateAction)
        for transition in workflow.transitions
        for action in transition.actions
    )


def known_types_for(
    conn: Connection, workflow: WorkflowSpec, batch: Mapping[str, ObjectTypeSpec]
) -> dict[str, set[str] | None]:
    """Field keys of the types a workflow's create actions may name (loaded only then)."""
    if not _creates_records(workflow):
        return {}
    known = known_type_fields(conn)
    known.update({k: {f.key for f in spec.fields} for k, spec in batch.items()})
    return known


def check_type_workflow(
    conn: Connection,
    type_spec: ObjectTypeSpec,
    prefix: str = "",
    *,
    batch_types: Collection[str] = (),
) -> list[FieldError]:
    """Problems of the workflow a type names, as that type would use it.

    ``batch_types`` are types published together with this one (a bundle):
    a workflow action may create them even though they are not stored yet.
    """
    key = type_spec.workflow
    found = versions.current(conn, WORKFLOW_KIND, key) if key else None
    if found is None:
        return []
    workflow = decode_stored(found[1], WorkflowSpec)
    known = known_types_for(conn, workflow, {type_spec.key: type_spec})
    if known:
        for other in batch_types:
            known.setdefault(other, None)
    path = f"{prefix}.workflow" if prefix else "workflow"
    return [
        FieldError(path, f"workflow '{key}' {e.field}: {e.message}")
        for e in type_fit_errors(workflow, type_spec, known)
    ]
