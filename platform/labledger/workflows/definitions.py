"""Validating and publishing workflow definitions.

A workflow is checked on its own (states and transitions that exist, one
initial state, roles that exist, expressions that parse) and against every
object type that uses it (fields named in states, guards and actions exist),
so a broken guard is refused when it is published, never found at run time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import Connection

from labledger.db.jsonfields import NUL_MESSAGE, nul_paths
from labledger.errors import FieldError, Forbidden, ValidationFailed
from labledger.expressions import ExpressionError, compile_expression
from labledger.identity.principal import CONFIGURE, EVERYONE, Principal
from labledger.identity.roles import existing_role_keys
from labledger.metadata import versions
from labledger.metadata.messages import field_errors
from labledger.metadata.model import CONTEXT_NAMES
from labledger.metadata.publishing import publish_version
from labledger.metadata.schemas import meta_validator
from labledger.records.relations import RELATED_FUNCTIONS
from labledger.records.states import WORKFLOW_KIND

TYPE_KIND = "object_type"


def _expression_problem(source: str, names: Collection[str] | None) -> str | None:
    try:
        compile_expression(source, names=names, functions=RELATED_FUNCTIONS)
    except ExpressionError as exc:
        where = f" (at character {exc.offset + 1})" if exc.offset is not None else ""
        return f"{exc.message}{where}"
    return None


def workflow_errors(definition: Any, roles: Collection[str], prefix: str = "") -> list[FieldError]:
    """Problems of the workflow on its own, each located by JSON path."""
    errors = [FieldError(p, NUL_MESSAGE) for p in nul_paths(definition, prefix)]
    errors += field_errors(meta_validator("workflow").iter_errors(definition), prefix)
    if errors:
        return errors

    def error(path: str, message: str) -> None:
        errors.append(FieldError(f"{prefix}.{path}" if prefix else path, message))

    states = [s["key"] for s in definition["states"]]
    for key, count in Counter(states).items():
        if count > 1:
            error(f"states[{states.index(key)}].key", f"'{key}' is used by {count} states")
    initial = [s["key"] for s in definition["states"] if s.get("initial")]
    if len(initial) != 1:
        error("states", f"exactly one state must be initial (found {len(initial)})")
    keys = [t["key"] for t in definition["transitions"]]
    for key, count in Counter(keys).items():
        if count > 1:
            error(f"transitions[{keys.index(key)}].key", f"'{key}' is used by {count} transitions")
    for index, transition in enumerate(definition["transitions"]):
        path = f"transitions[{index}]"
        for position, state in enumerate(transition["from"]):
            if state not in states:
                error(f"{path}.from[{position}]", f"there is no state '{state}'")
        if transition["to"] not in states:
            error(f"{path}.to", f"there is no state '{transition['to']}'")
        for position, role_key in enumerate(transition.get("roles", [])):
            if role_key != EVERYONE and role_key not in roles:
                error(f"{path}.roles[{position}]", f"there is no role '{role_key}'")
        for position, earlier in enumerate(transition.get("separation", {}).get("transitions", [])):
            if earlier not in keys:
                error(
                    f"{path}.separation.transitions[{position}]",
                    f"there is no transition '{earlier}'",
                )
        if transition.get("guard"):
            problem = _expression_problem(transition["guard"], None)
            if problem:
                error(f"{path}.guard", problem)
    return errors


def type_fit_errors(
    workflow: dict[str, Any],
    type_definition: dict[str, Any],
    known_types: dict[str, set[str] | None],
) -> list[FieldError]:
    """Problems of the workflow as used by one object type (its fields).

    ``known_types`` maps type keys to their field keys, or to None for a type
    being published in the same batch whose fields are checked when it is.
    """
    fields = {f["key"]: f for f in type_definition["fields"]}
    names = CONTEXT_NAMES | set(fields)
    errors: list[FieldError] = []
    where = f"(for type '{type_definition['key']}')"

    def error(path: str, message: str) -> None:
        errors.append(FieldError(path, f"{message} {where}"))

    for index, state in enumerate(workflow["states"]):
        listed = state.get("editable") if isinstance(state.get("editable"), list) else []
        for key in [*listed, *state.get("required", [])]:
            if key not in fields:
                error(f"states[{index}]", f"names unknown field '{key}'")
    for index, transition in enumerate(workflow["transitions"]):
        path = f"transitions[{index}]"
        for key in transition.get("requires_fields", []):
            if key not in fields:
                error(f"{path}.requires_fields", f"names unknown field '{key}'")
        for position, key in enumerate(transition.get("separation", {}).get("authors_of", [])):
            if key not in fields:
                error(f"{path}.separation.authors_of[{position}]", f"names unknown field '{key}'")
        if transition.get("guard"):
            problem = _expression_problem(transition["guard"], names)
            if problem:
                error(f"{path}.guard", problem)
        for position, action in enumerate(transition.get("actions", [])):
            error_path = f"{path}.actions[{position}]"
            for problem in _action_problems(action, fields, names, known_types):
                error(error_path, problem)
    return errors


def _action_problems(
    action: dict[str, Any],
    fields: dict[str, dict[str, Any]],
    names: Collection[str],
    known_types: dict[str, set[str] | None],
) -> list[str]:
    problems = []
    expressions: list[str] = []
    if action["type"] == "set":
        if action["field"] not in fields:
            problems.append(f"sets unknown field '{action['field']}'")
        expressions.append(action["expression"])
    elif action["type"] == "create":
        target = known_types.get(action["record_type"], ())
        if target == ():
            problems.append(f"creates unknown type '{action['record_type']}'")
        elif target is not None:
            problems += [
                f"'{k}' is not a field of '{action['record_type']}'"
                for k in action["fields"]
                if k not in target
            ]
            link = action.get("link_field")
            if link and link not in fields:
                problems.append(f"link_field '{link}' is not a field of this type")
        if action.get("for_each"):
            expressions.append(action["for_each"])
            names = {*names, "item"}
        expressions += list(action["fields"].values())
    elif fields.get(action["reference"], {}).get("type") != "reference":
        problems.append(f"'{action['reference']}' is not a reference field")
    for source in expressions:
        problem = _expression_problem(source, names)
        if problem:
            problems.append(problem)
    return problems


def _types_using(conn: Connection, workflow_key: str) -> list[dict[str, Any]]:
    result = []
    for key in versions.keys(conn, TYPE_KIND):
        found = versions.current(conn, TYPE_KIND, key)
        if found and found[1].get("workflow") == workflow_key:
            result.append(found[1])
    return result


def known_type_fields(conn: Connection) -> dict[str, set[str] | None]:
    fields: dict[str, set[str] | None] = {}
    for key in versions.keys(conn, TYPE_KIND):
        found = versions.current(conn, TYPE_KIND, key)
        if found:
            fields[key] = {f["key"] for f in found[1]["fields"]}
    return fields


def _well_formed(type_definition: Any) -> bool:
    """Good enough to check a workflow against; its own validation reports the rest."""
    fields = type_definition.get("fields") if isinstance(type_definition, dict) else None
    return isinstance(fields, list) and all(
        isinstance(f, dict) and isinstance(f.get("key"), str) and "type" in f for f in fields
    )


def _creates_records(workflow: dict[str, Any]) -> bool:
    return any(
        action.get("type") == "create"
        for transition in workflow.get("transitions", [])
        for action in transition.get("actions", [])
    )


def _known_types_for(
    conn: Connection, workflow: dict[str, Any], batch: Mapping[str, dict[str, Any]]
) -> dict[str, set[str] | None]:
    """Field keys of the types a workflow's create actions may name (loaded only then)."""
    if not _creates_records(workflow):
        return {}
    known = known_type_fields(conn)
    known.update({k: {f["key"] for f in d.get("fields", [])} for k, d in batch.items()})
    return known


def check_type_workflow(
    conn: Connection,
    type_definition: dict[str, Any],
    prefix: str = "",
    *,
    batch_types: Collection[str] = (),
) -> list[FieldError]:
    """Problems of the workflow a type names, as that type would use it.

    ``batch_types`` are types published together with this one (a bundle):
    a workflow action may create them even though they are not stored yet.
    """
    key = type_definition.get("workflow")
    found = versions.current(conn, WORKFLOW_KIND, key) if key else None
    if found is None:
        return []
    known = _known_types_for(conn, found[1], {type_definition["key"]: type_definition})
    if known:
        for other in batch_types:
            known.setdefault(other, None)
    path = f"{prefix}.workflow" if prefix else "workflow"
    return [
        FieldError(path, f"workflow '{key}' {e.field}: {e.message}")
        for e in type_fit_errors(found[1], type_definition, known)
    ]


def publish_workflow(
    conn: Connection,
    actor: Principal,
    definition: Any,
    *,
    path_prefix: str = "",
    extra_roles: Collection[str] = frozenset(),
    batch_types: Mapping[str, dict[str, Any]] | None = None,
) -> versions.Published:
    """Validate and publish the next version of a workflow (audited).

    The workflow is checked against every type that uses it. ``batch_types``
    are type definitions published in the same batch (a bundle): they are
    checked as they will be, not as they are stored now.
    """
    if not actor.has_permission(CONFIGURE):
        raise Forbidden("Publishing workflows needs the 'configure' permission.")
    roles = existing_role_keys(conn) | set(extra_roles)
    errors = workflow_errors(definition, roles, path_prefix)
    if not errors:
        batch = {k: d for k, d in (batch_types or {}).items() if _well_formed(d)}
        users = {
            d["key"]: d for d in _types_using(conn, definition["key"]) if d["key"] not in batch
        }
        users.update({k: d for k, d in batch.items() if d.get("workflow") == definition["key"]})
        known = _known_types_for(conn, definition, batch)
        for type_definition in users.values():
            errors += [
                FieldError(f"{path_prefix}.{e.field}" if path_prefix else e.field, e.message)
                for e in type_fit_errors(definition, type_definition, known)
            ]
    if errors:
        raise ValidationFailed("The workflow definition is not valid.", errors)
    return publish_version(conn, actor.username, WORKFLOW_KIND, definition)
