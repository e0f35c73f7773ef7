"""Exporting the configuration, or part of it, as a self-contained bundle.

Selected types pull in what they need to work elsewhere: the types their
reference fields point at and their workflows' actions create, their
workflows, and the roles named in type permissions and workflow transitions.
The import mappings and print templates of the exported types come along,
and the dashboards all of whose panels count exported types, with the roles
they name.
The built-in ``admin`` role is never exported: every installation has it.
Records are never exported; a bundle carries configuration.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection

from labledger.bundles.format import FORMAT, envelope_errors
from labledger.bundles.importer import require_configure
from labledger.dashboards.definitions import export_dashboards
from labledger.errors import FieldError, ValidationFailed
from labledger.identity.principal import EVERYONE, Principal
from labledger.identity.roles import ADMIN_ROLE, list_roles
from labledger.integration.mappings import export_mappings
from labledger.metadata import versions
from labledger.metadata.spec import ObjectTypeSpec, WorkflowSpec
from labledger.metadata.spec.fields import ReferenceField
from labledger.metadata.spec.workflow import CreateAction
from labledger.metadata.types import KIND as TYPE_KIND
from labledger.metadata.types import type_model
from labledger.printing.templates import KIND as PRINT_TEMPLATE_KIND
from labledger.records.states import WORKFLOW_KIND
from labledger.workflows.model import workflow_model

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
    if types is None:
        selected = set(stored_types)
        workflows = set(versions.keys(conn, WORKFLOW_KIND))
        role_keys = {r["key"] for r in list_roles(conn)}
    else:
        wanted = list(dict.fromkeys(types))
        unknown = [key for key in wanted if key not in stored_types]
        if unknown:
            raise ValidationFailed(
                "The configuration was not exported.",
                [FieldError("types", f"there is no object type '{key}'") for key in unknown],
            )
        type_specs, workflow_specs = _needed(conn, wanted)
        selected, workflows = set(type_specs), set(workflow_specs)
        role_keys = _roles_named(type_specs.values(), workflow_specs.values())
    dashboards = export_dashboards(conn, selected)
    role_keys |= {key for d in dashboards for key in d["roles"] if key != EVERYONE}
    role_keys.discard(ADMIN_ROLE["key"])
    # The definitions go out as they were published (the structs would drop defaults).
    bundle = {
        "format": FORMAT,
        "name": name,
        "version": version,
        "description": description,
        "roles": [r for r in list_roles(conn) if r["key"] in role_keys],
        "workflows": [_current(conn, WORKFLOW_KIND, key) for key in sorted(workflows)],
        "types": [_current(conn, TYPE_KIND, key) for key in sorted(selected)],
        "mappings": export_mappings(conn, selected),
        "print_templates": _print_templates(conn, set(selected)),
        "dashboards": dashboards,
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
    conn: Connection, wanted: list[str]
) -> tuple[dict[str, ObjectTypeSpec], dict[str, WorkflowSpec]]:
    """The closure of ``wanted`` over references, workflows and workflow-created types."""
    types: dict[str, ObjectTypeSpec] = {}
    workflows: dict[str, WorkflowSpec] = {}
    pending = list(wanted)
    while pending:
        key = pending.pop()
        if key in types:
            continue
        spec = types[key] = type_model(conn, key).spec
        pending += [f.to for f in spec.fields if isinstance(f, ReferenceField)]
        if spec.workflow and spec.workflow not in workflows:
            workflow = workflows[spec.workflow] = workflow_model(conn, spec.workflow).spec
            pending += [
                action.record_type
                for transition in workflow.transitions
                for action in transition.actions
                if isinstance(action, CreateAction)
            ]
    return types, workflows


def _roles_named(types: Iterable[ObjectTypeSpec], workflows: Iterable[WorkflowSpec]) -> set[str]:
    named = {
        r for t in types for r in (*t.permissions.read, *t.permissions.create, *t.permissions.edit)
    }
    named |= {r for w in workflows for t in w.transitions for r in t.roles}
    named.discard(EVERYONE)
    return named
