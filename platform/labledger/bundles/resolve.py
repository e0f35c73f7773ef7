"""What a bundle names, and what of it already exists here.

The import asks these questions before it writes anything: which items the
bundle defines (by section and key), how each is stored here now and where it
came from, what the three-way check decides for it, which of the bundle's
records an earlier import already created, and whether a record can be created
at all (its type exists, the records it refers to are known, its state fits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from msgspec import UnsetType
from sqlalchemy import Connection, select

from labledger.bundles.format import Bundle, is_record_ref, record_refs
from labledger.canonical import content_hash
from labledger.dashboards.definitions import KIND as DASHBOARD_KIND
from labledger.db.tables import record, role
from labledger.errors import FieldError, NotFound
from labledger.integration.mappings import MAPPING_KIND
from labledger.metadata import versions
from labledger.metadata.spec.bundle import BundleRecordSpec
from labledger.metadata.types import KIND as TYPE_KIND
from labledger.metadata.types import type_model
from labledger.printing.templates import KIND as PRINT_TEMPLATE_KIND
from labledger.records.states import WORKFLOW_KIND, state_table

ROLE_KIND = "role"
#: The manifest of an imported bundle: its items and the records it created.
BUNDLE_KIND = "bundle"
SECTION_KIND = {
    "roles": ROLE_KIND,
    "workflows": WORKFLOW_KIND,
    "types": TYPE_KIND,
    "mappings": MAPPING_KIND,
    "print_templates": PRINT_TEMPLATE_KIND,
    "dashboards": DASHBOARD_KIND,
}
SECTION_LABEL = {
    "roles": "role",
    "workflows": "workflow",
    "types": "type",
    "mappings": "mapping",
    "print_templates": "print template",
    "dashboards": "dashboard",
}

#: What the three-way check decides for an item: publish the bundle's version,
#: nothing to do (it is stored as the bundle has it), or keep the local change.
Decision = Literal["apply", "same", "keep"]


def keyed_items(bundle: Bundle, section: str) -> dict[str, Any]:
    """The section's items that have a key, by key (an item without one is invalid)."""
    return {
        item["key"]: item
        for item in bundle.section(section)
        if isinstance(item, dict) and isinstance(item.get("key"), str)
    }


@dataclass(frozen=True)
class Source:
    """Where an item came from: bundle name, version and the hash of the definition."""

    bundle: str | None
    version: str | None
    hash: str | None


@dataclass(frozen=True)
class StoredItem:
    """An item as stored here: its version (none for a role), definition, hash and source."""

    version: int | None
    body: dict[str, Any] | None
    hash: str | None
    source: Source | None


def role_body(definition: dict[str, Any]) -> dict[str, Any]:
    """A role as the role service stores it (label trimmed, permissions sorted)."""
    return {
        "key": definition["key"],
        "label": definition["label"].strip(),
        "description": definition.get("description", ""),
        "permissions": sorted(set(definition.get("permissions", []))),
    }


def stored_item(conn: Connection, section: str, key: str) -> StoredItem:
    """The item of ``section`` named ``key`` as stored here (all None: not here)."""
    state = versions.item_state(conn, SECTION_KIND[section], key)
    source = (
        None
        if state is None
        else Source(state.source_bundle, state.source_bundle_version, state.source_hash)
    )
    if section == "roles":
        row = conn.execute(select(role).where(role.c.key == key)).mappings().first()
        body = None if row is None else role_body(dict(row))
        return StoredItem(None, body, None if body is None else content_hash(body), source)
    if state is None or state.body is None:
        return StoredItem(None, None, None, source)
    return StoredItem(state.version, state.body, state.body_hash, source)


def classify(
    current_hash: str | None, wanted_hash: str, source: Source | None, bundle: str
) -> tuple[Decision, str | None]:
    """(what to do, why applying would overwrite a local change)."""
    if current_hash is None:
        return "apply", None
    if current_hash == wanted_hash:
        return "same", None
    if source is None or source.bundle is None:
        return "apply", "exists here and was not imported from a bundle"
    if source.bundle != bundle:
        return "apply", f"was imported from bundle {source.bundle} {source.version}"
    if source.hash == current_hash:
        return "apply", None
    changed_here = f"was changed here since it was imported from {bundle} {source.version}"
    return ("keep" if source.hash == wanted_hash else "apply"), changed_here


def created_records(conn: Connection, bundle_name: str) -> dict[str, int]:
    """ref -> id of the bundle's records an earlier import created and that still exist."""
    manifest = versions.current(conn, BUNDLE_KIND, bundle_name)
    known: dict[str, int] = dict(manifest[1].get("records", {})) if manifest else {}
    if not known:
        return {}
    ids = select(record.c.id).where(record.c.id.in_(known.values()))
    existing = set(conn.execute(ids).scalars())
    return {ref: rid for ref, rid in known.items() if rid in existing}


def with_ids(value: Any, refs: dict[str, int]) -> Any:
    """A field value with its bundle record refs (alone or in a list) replaced by ids."""
    if is_record_ref(value):
        return refs.get(value["ref"])
    if isinstance(value, list):
        return [refs.get(v["ref"]) if is_record_ref(v) else v for v in value]
    return value


def record_problems(
    conn: Connection, item: BundleRecordSpec, refs: dict[str, int], *, migrate: bool
) -> list[FieldError]:
    """Why the bundle's record ``item`` cannot be created: unknown refs, type or state."""
    problems = [
        FieldError(path, f"record '{ref}' was not imported")
        for field_key, value in item.data.items()
        for path, ref in record_refs(f"data.{field_key}", value)
        if ref not in refs
    ]
    if versions.current_version(conn, TYPE_KIND, item.type) is None:
        problems.append(FieldError("type", f"there is no object type '{item.type}'"))
    elif not isinstance(item.state, UnsetType):
        problems += _state_problems(conn, item.type, item.state, migrate=migrate)
    return problems


def _state_problems(
    conn: Connection, type_key: str, state: str, *, migrate: bool
) -> list[FieldError]:
    """A record enters its workflow's initial state; only a migration brings another."""
    workflow = type_model(conn, type_key).workflow
    if not workflow:
        return [FieldError("state", f"type '{type_key}' has no workflow, so no states")]
    try:
        table = state_table(conn, workflow)
    except NotFound:  # refused in the same bundle: reported there
        table = None
    states = [] if table is None else list(table.states)
    if table is None or state not in states:
        return [
            FieldError(
                "state",
                f"'{state}' is not a state of workflow '{workflow}' ({', '.join(states)})",
            )
        ]
    initial = table.initial_state
    if migrate or state == initial:
        return []
    return [
        FieldError(
            "state",
            f"a bundle's records enter their workflow's initial state '{initial}'; "
            f"bringing one in state '{state}' is a migration of history "
            "(config import --migrate, with the 'migrate_records' permission)",
        )
    ]
