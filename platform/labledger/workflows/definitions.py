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
from labledger.identity.principal import CONFIGURE, EVERYONE, Principal
from labledger.identity.roles import existing_role_keys
from labledger.metadata import versions
from labledger.metadata.expression_check import expression_problem
from labledger.metadata.messages import field_errors
from labledger.metadata.publishing import publish_version
from labledger.metadata.schemas import meta_validator
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
            problem = expression_problem(transition["guard"], None)
            if problem:
                error(f"{path}.guard", problem)
    return errors


def _types_using(conn: Connection, workflow_key: str) -> list[dict[str, Any]]:
    result = []
    for key in versions.keys(conn, TYPE_KIND):
        found = versions.current(conn, TYPE_KIND, key)
        if found and found[1].get("workflow") == workflow_key:
            result.append(found[1])
    return result


def _well_formed(type_definition: Any) -> bool:
    """Good enough to check a workflow against; its own validation reports the rest."""
    fields = type_definition.get("fields") if isinstance(type_definition, dict) else None
    return isinstance(fields, list) and all(
        isinstance(f, dict) and isinstance(f.get("key"), str) and "type" in f for f in fields
    )


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
        known = known_types_for(conn, definition, batch)
        for type_definition in users.values():
            errors += [
                FieldError(f"{path_prefix}.{e.field}" if path_prefix else e.field, e.message)
                for e in type_fit_errors(definition, type_definition, known)
            ]
    if errors:
        raise ValidationFailed("The workflow definition is not valid.", errors)
    return publish_version(conn, actor.username, WORKFLOW_KIND, definition)
