"""Exporting the configuration, or part of it, as a self-contained bundle.

Selected types pull in what they need to work elsewhere: the types their
reference fields point at and their workflows' actions create, their
workflows, and the roles named in type permissions and workflow transitions.
The import mappings and print templates of the exported types come along.
The built-in ``admin`` role is never exported: every installation has it.
Records are never exported; a bundle carries configuration.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection

from labledger.bundles.format import FORMAT, envelope_errors
from labledger.bundles.importer import require_configure
from labledger.errors import FieldError, ValidationFailed
from labledger.identity.principal import EVERYONE, Principal
from labledger.identity.roles import ADMIN_ROLE, list_roles
from labledger.integration.mappings import export_mappings
from labledger.metadata import versions
from labledger.metadata.types import KIND as TYPE_KIND
from labledger.printing.templates import KIND as PRINT_TEMPLATE_KIND
from labledger.records.states import WORKFLOW_KIND

DEFAULT_NAME = "configuration"
DEFAULT_VERSION = "1"


def export_bundle(
    conn: Connection,
    actor: Principal,
    *,
    types: Iterable[str] | None = None,
    name: str = DEFAULT_NAME,
    version: str = DEFAULT_VERSION,
    description: str = "",
) -> dict[str, Any]:
    """The bundle of all types (``types=None``) or of the given ones and what they need."""
    require_configure(actor)
    stored_types = versions.keys(conn, TYPE_KIND)
    definitions = {key: _current(conn, TYPE_KIND, key) for key in stored_types}
    if types is None:
        workflows = {
            k: _current(conn, WORKFLOW_KIND, k) for k in versions.keys(conn, WORKFLOW_KIND)
        }
        selected = definitions
        role_keys = {r["key"] for r in list_roles(conn)}
    else:
        wanted = list(dict.fromkeys(types))
        unknown = [key for key in wanted if key not in definitions]
        if unknown:
            raise ValidationFailed(
                "The configuration was not exported.",
                [FieldError("types", f"there is no object type '{key}'") for key in unknown],
            )
        selected, workflows = _needed(conn, wanted, definitions)
        role_keys = _roles_named(selected.values(), workflows.values())
    role_keys.discard(ADMIN_ROLE["key"])
    bundle = {
        "format": FORMAT,
        "name": name,
        "version": version,
        "description": description,
        "roles": [r for r in list_roles(conn) if r["key"] in role_keys],
        "workflows": [workflows[key] for key in sorted(workflows)],
        "types": [selected[key] for key in sorted(selected)],
        "mappings": export_mappings(conn, set(selected)),
        "print_templates": _print_templates(conn, set(selected)),
    }
    errors = envelope_errors(bundle)
    if errors:
        raise ValidationFailed("The configuration was not exported.", errors)
    return bundle


def _print_templates(conn: Connection, type_keys: set[str]) -> list[dict[str, Any]]:
    """The print templates of the exported types, by key."""
    found = (
        _current(conn, PRINT_TEMPLATE_KIND, k) for k in versions.keys(conn, PRINT_TEMPLATE_KIND)
    )
    return sorted((t for t in found if t["type"] in type_keys), key=lambda t: t["key"])


def _current(conn: Connection, kind: str, key: str) -> dict[str, Any]:
    found = versions.current(conn, kind, key)
    assert found is not None, f"{kind} {key} is listed but has no current version"
    return found[1]


def _needed(
    conn: Connection, wanted: list[str], definitions: dict[str, dict[str, Any]]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The closure of ``wanted`` over references, workflows and workflow-created types."""
    types: dict[str, dict[str, Any]] = {}
    workflows: dict[str, dict[str, Any]] = {}
    pending = list(wanted)
    while pending:
        key = pending.pop()
        if key in types:
            continue
        definition = types[key] = definitions[key]
        pending += [f["to"] for f in definition["fields"] if f["type"] == "reference"]
        workflow_key = definition.get("workflow")
        if workflow_key and workflow_key not in workflows:
            workflow = workflows[workflow_key] = _current(conn, WORKFLOW_KIND, workflow_key)
            pending += [
                action["record_type"]
                for transition in workflow["transitions"]
                for action in transition.get("actions", [])
                if action["type"] == "create"
            ]
    return types, workflows


def _roles_named(types: Iterable[dict[str, Any]], workflows: Iterable[dict[str, Any]]) -> set[str]:
    named = {r for t in types for roles in t.get("permissions", {}).values() for r in roles}
    named |= {r for w in workflows for t in w["transitions"] for r in t.get("roles", [])}
    named.discard(EVERYONE)
    return named
