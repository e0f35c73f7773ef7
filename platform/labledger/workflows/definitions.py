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

import msgspec
from msgspec import UnsetType
from sqlalchemy import Connection

from labledger.db.jsonfields import NUL_MESSAGE, nul_paths
from labledger.errors import FieldError, Forbidden, ValidationFailed
from labledger.identity.principal import CONFIGURE, EVERYONE, Principal
from labledger.identity.roles import existing_role_keys
from labledger.metadata import versions
from labledger.metadata.expression_check import expression_problem
from labledger.metadata.messages import decode_checked, field_errors
from labledger.metadata.publishing import publish_version
from labledger.metadata.schemas import meta_validator
from labledger.metadata.spec import ObjectTypeSpec, WorkflowSpec, decode
from labledger.metadata.types import type_model
from labledger.metadata.workflow_fit import (
    TYPE_KIND,
    WORKFLOW_KIND,
    check_type_workflow,
    known_types_for,
    type_fit_errors,
)

__all__ = ["WORKFLOW_KIND", "check_type_workflow", "publish_workflow", "workflow_errors"]


def workflow_errors(definition: Any, roles: Collection[str], prefix: str = "") -> list[FieldError]:
    """Problems of the workflow on its own, each located by JSON path."""
    checked = _checked(definition, roles, prefix)
    return checked if isinstance(checked, list) else []


def _checked(
    definition: Any, roles: Collection[str], prefix: str
) -> WorkflowSpec | list[FieldError]:
    """The workflow decoded, or its problems on its own (the schema's first)."""
    errors = [FieldError(p, NUL_MESSAGE) for p in nul_paths(definition, prefix)]
    errors += field_errors(meta_validator("workflow").iter_errors(definition), prefix)
    if errors:
        return errors
    try:
        spec = decode_checked(definition, WorkflowSpec, prefix)
    except ValidationFailed as exc:
        return list(exc.errors)
    return _spec_errors(spec, roles, prefix) or spec


def _spec_errors(spec: WorkflowSpec, roles: Collection[str], prefix: str) -> list[FieldError]:
    """What the schema cannot say: keys used once, one initial state, the states,
    roles and transitions named exist, guards that compile."""
    errors: list[FieldError] = []

    def error(path: str, message: str) -> None:
        errors.append(FieldError(f"{prefix}.{path}" if prefix else path, message))

    states = [state.key for state in spec.states]
    for key, count in Counter(states).items():
        if count > 1:
            error(f"states[{states.index(key)}].key", f"'{key}' is used by {count} states")
    initial = [state.key for state in spec.states if state.initial]
    if len(initial) != 1:
        error("states", f"exactly one state must be initial (found {len(initial)})")
    keys = [transition.key for transition in spec.transitions]
    for key, count in Counter(keys).items():
        if count > 1:
            error(f"transitions[{keys.index(key)}].key", f"'{key}' is used by {count} transitions")
    for index, transition in enumerate(spec.transitions):
        path = f"transitions[{index}]"
        for position, state in enumerate(transition.from_):
            if state not in states:
                error(f"{path}.from[{position}]", f"there is no state '{state}'")
        if transition.to not in states:
            error(f"{path}.to", f"there is no state '{transition.to}'")
        for position, role_key in enumerate(transition.roles):
            if role_key != EVERYONE and role_key not in roles:
                error(f"{path}.roles[{position}]", f"there is no role '{role_key}'")
        separation = transition.separation
        earlier_ones = () if isinstance(separation, UnsetType) else separation.transitions
        for position, earlier in enumerate(earlier_ones):
            if earlier not in keys:
                error(
                    f"{path}.separation.transitions[{position}]",
                    f"there is no transition '{earlier}'",
                )
        for where, source in transition.conditions:
            if problem := expression_problem(source, None):
                error(f"{path}.{where}", problem)
    return errors


def _types_using(conn: Connection, workflow_key: str) -> dict[str, ObjectTypeSpec]:
    """The stored types that follow the workflow, by key."""
    models = (type_model(conn, key) for key in versions.keys(conn, TYPE_KIND))
    return {model.key: model.spec for model in models if model.workflow == workflow_key}


def _decodable(type_definitions: Mapping[str, Any]) -> dict[str, ObjectTypeSpec]:
    """The types of a batch that decode: good enough to check a workflow against
    (their own validation reports the rest)."""
    decoded = {}
    for key, definition in type_definitions.items():
        try:
            decoded[key] = decode(definition, ObjectTypeSpec)
        except msgspec.ValidationError:
            continue
    return decoded


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
    checked = _checked(definition, roles, path_prefix)
    if isinstance(checked, list):
        raise ValidationFailed("The workflow definition is not valid.", checked)
    batch = _decodable(batch_types or {})
    users = {k: spec for k, spec in _types_using(conn, checked.key).items() if k not in batch}
    users.update({k: spec for k, spec in batch.items() if spec.workflow == checked.key})
    known = known_types_for(conn, checked, batch)
    errors = [
        FieldError(f"{path_prefix}.{e.field}" if path_prefix else e.field, e.message)
        for type_spec in users.values()
        for e in type_fit_errors(checked, type_spec, known)
    ]
    if errors:
        raise ValidationFailed("The workflow definition is not valid.", errors)
    return publish_version(conn, actor.username, WORKFLOW_KIND, definition)
