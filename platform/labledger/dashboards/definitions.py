"""Dashboards as configuration: validate, publish (versioned, audited), read.

A dashboard is stored like a print template: an immutable version of the
configuration kind ``dashboard``, checked first against
``metadata/dashboard.schema.json``, then against what the schema cannot see
(the roles exist, panel keys are unique, every panel fits its type: see
``fit``), every problem with its JSON path.

Who may open a dashboard is the dashboard's own ``roles``; a person outside
them is told there is no such dashboard, the answer a missing one gets, so
the keys of dashboards meant for others are not revealed. Holders of
``configure`` open every dashboard, to check what they publish. Opening a
dashboard never widens what a person reads: each panel still counts only
records of a type they may read (``panels``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from labledger.dashboards.fit import panel_problems
from labledger.errors import FieldError, NotFound
from labledger.identity.principal import CONFIGURE, EVERYONE, Principal
from labledger.identity.roles import list_roles
from labledger.metadata import versions
from labledger.metadata.messages import field_errors
from labledger.metadata.publishing import publish_checked
from labledger.metadata.schemas import meta_validator
from labledger.metadata.spec import DashboardSpec, decode
from labledger.metadata.spec.stored import decode_stored

KIND = "dashboard"


def dashboard_errors(conn: Connection, definition: Any, prefix: str = "") -> list[FieldError]:
    """Every problem of ``definition``, each located by JSON path (``prefix`` places it
    in a larger document: ``dashboards[0]`` in a bundle)."""
    errors = field_errors(meta_validator(KIND).iter_errors(definition), prefix)
    if errors:
        return errors
    spec = decode(definition, DashboardSpec)

    def at(path: str) -> str:
        return f"{prefix}.{path}" if prefix else path

    known = {role["key"] for role in list_roles(conn)}
    errors += [
        FieldError(at(f"roles[{index}]"), f"there is no role '{key}'")
        for index, key in enumerate(spec.roles)
        if key != EVERYONE and key not in known
    ]
    first: dict[str, int] = {}
    for index, panel in enumerate(spec.panels):
        if panel.key in first:
            message = f"'{panel.key}' is also the key of panels[{first[panel.key]}]"
            errors.append(FieldError(at(f"panels[{index}].key"), message))
        first.setdefault(panel.key, index)
        errors += [
            FieldError(at(f"panels[{index}]{path}"), message)
            for path, message in panel_problems(conn, panel)
        ]
    return errors


def publish_dashboard(
    conn: Connection, actor: Principal, definition: Any, *, path_prefix: str = ""
) -> versions.Published:
    """Validate and publish the next version of a dashboard (audited as ``config.publish``)."""
    return publish_checked(
        conn,
        actor,
        KIND,
        definition,
        lambda: dashboard_errors(conn, definition, path_prefix),
        noun="dashboard",
        plural="dashboards",
    )


@dataclass(frozen=True)
class Dashboard:
    """One published version: as stored (``definition``) and decoded (``spec``)."""

    key: str
    version: int
    definition: dict[str, Any]
    spec: DashboardSpec


def load_dashboard(conn: Connection, key: str) -> Dashboard:
    """The current version of ``key``, whoever asks."""
    found = versions.current(conn, KIND, key)
    if found is None:
        raise NotFound(f"There is no dashboard '{key}'.")
    version, definition = found
    return Dashboard(key, version, definition, decode_stored(definition, DashboardSpec))


def may_open(actor: Principal, spec: DashboardSpec) -> bool:
    return actor.has_any_role(spec.roles) or actor.has_permission(CONFIGURE)


def open_dashboard(conn: Connection, actor: Principal, key: str) -> Dashboard:
    """The current version of ``key`` for someone it is meant for (see the module's docstring)."""
    dashboard = load_dashboard(conn, key)
    if not may_open(actor, dashboard.spec):
        raise NotFound(f"There is no dashboard '{key}'.")
    return dashboard


def _all(conn: Connection) -> Iterable[Dashboard]:
    return (load_dashboard(conn, key) for key in versions.keys(conn, KIND))


def list_dashboards(conn: Connection, actor: Principal) -> list[dict[str, Any]]:
    """The dashboards the caller may open, by key."""
    return [
        {
            "key": d.key,
            "label": d.spec.label,
            "description": d.spec.description,
            "version": d.version,
            "panels": len(d.spec.panels),
        }
        for d in _all(conn)
        if may_open(actor, d.spec)
    ]


def export_dashboards(conn: Connection, type_keys: set[str]) -> list[dict[str, Any]]:
    """For a bundle of ``type_keys``: the definitions of the dashboards all of whose
    panels count those types, by key."""
    return [d.definition for d in _all(conn) if {p.type for p in d.spec.panels} <= type_keys]
