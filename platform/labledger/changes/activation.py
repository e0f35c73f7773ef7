"""Putting a change request's definitions in force -- or rehearsing it, to check them.

Every item is published by the service that owns its kind, exactly as an
admin's edit once was, so a change request is validated and audited like one:
roles, then workflows, then object types, then mappings and print templates
(each names a type), then dashboards, after any whole bundles the request
imports. A rehearsal runs the same publishing in a savepoint that is rolled
back; it is how a proposal and an approval learn, with JSON paths, whether
the definitions still fit the active configuration and platform.

Each item also remembers the active definition it was proposed against; an
item whose active definition has changed since (another change request was
activated first) is *stale*, and the request must be rebased -- its author
sees the new differences and approvers sign again -- before it is activated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from labledger.bundles.format import FORMAT, KEYED_SECTIONS, Bundle
from labledger.bundles.importer import import_bundle
from labledger.bundles.publish import ItemPublisher
from labledger.bundles.resolve import ROLE_KIND, SECTION_KIND
from labledger.canonical import content_hash
from labledger.change_gate import passage, rehearsed
from labledger.changes.store import BUNDLE_ITEM, ChangeItem, ChangeRequest
from labledger.db.engine import settings_of
from labledger.errors import FieldError, ServiceError
from labledger.identity.principal import Principal
from labledger.identity.roles import list_roles
from labledger.integration.allowlist import Allowlist
from labledger.integration.subscriptions import (
    WEBHOOK_KIND,
    save_subscription_definition,
    subscription_definition,
)
from labledger.metadata import versions

#: The configuration kinds a change request can propose, each with its bundle section.
SECTION_OF_KIND = {kind: section for section, kind in SECTION_KIND.items()}
#: What each kind is called in messages.
KIND_NOUN = {
    ROLE_KIND: "role",
    SECTION_KIND["workflows"]: "workflow",
    SECTION_KIND["types"]: "object type",
    SECTION_KIND["mappings"]: "import mapping",
    SECTION_KIND["print_templates"]: "print template",
    SECTION_KIND["dashboards"]: "dashboard",
    WEBHOOK_KIND: "webhook",
    BUNDLE_ITEM: "bundle",
}
#: Every kind a change request can propose on its own (whole bundles aside).
CHANGE_KINDS = (*SECTION_OF_KIND, WEBHOOK_KIND)


@dataclass(frozen=True)
class ActiveDefinition:
    """The definition in force for an item: version (None for a role), body and hash."""

    version: int | None
    body: dict[str, Any] | None
    hash: str | None


NOTHING_ACTIVE = ActiveDefinition(None, None, None)


def active_definition(conn: Connection, kind: str, key: str) -> ActiveDefinition:
    """What is in force now for (kind, key); NOTHING_ACTIVE for a new item or a bundle."""
    if kind == ROLE_KIND:
        body = next((r for r in list_roles(conn) if r["key"] == key), None)
        return NOTHING_ACTIVE if body is None else ActiveDefinition(None, body, content_hash(body))
    if kind == WEBHOOK_KIND:
        found = subscription_definition(conn, key)
        return (
            NOTHING_ACTIVE if found is None else ActiveDefinition(None, found, content_hash(found))
        )
    if kind == BUNDLE_ITEM:
        return NOTHING_ACTIVE
    state = versions.item_state(conn, kind, key)
    if state is None or state.version is None:
        return NOTHING_ACTIVE
    return ActiveDefinition(state.version, state.body, state.body_hash)


@dataclass(frozen=True)
class StaleItem:
    """An item whose active definition changed after it was proposed."""

    kind: str
    key: str
    base_version: int | None
    current_version: int | None

    def describe(self) -> str:
        noun = f"{KIND_NOUN.get(self.kind, self.kind)} '{self.key}'"
        if self.base_version is None and self.current_version is not None:
            return f"{noun} was created meanwhile (now version {self.current_version})"
        if self.current_version is None:
            return f"{noun} changed meanwhile"
        return (
            f"{noun} was proposed against version {self.base_version}; "
            f"version {self.current_version} is active now"
        )


def stale_items(conn: Connection, change: ChangeRequest) -> list[StaleItem]:
    """The items whose active definition is no longer the one they were proposed against."""
    found = []
    for item in change.items:
        if item.kind == BUNDLE_ITEM:
            continue  # the importer's three-way check guards a bundle's items
        active = active_definition(conn, item.kind, item.key)
        if active.hash != item.base_hash:
            found.append(StaleItem(item.kind, item.key, item.base_version, active.version))
    return found


def item_path(item: ChangeItem) -> str:
    """Where an item's problems are reported: ``items[2].body.fields[0].key``."""
    return f"items[{item.position}].body"


def apply_items(
    conn: Connection, actor: Principal, change: ChangeRequest, *, rehearsal: bool
) -> None:
    """Publish every item of ``change`` (a rehearsal: in a savepoint rolled back).

    Roles come first (whole bundles may name them), then whole bundles, then
    the other definitions in dependency order. Raises the first refusal, with
    the JSON path of the item at fault.
    """
    definitions = [i for i in change.items if i.kind in SECTION_OF_KIND]
    sections: dict[str, list[dict[str, Any]]] = {}
    for item in definitions:
        sections.setdefault(SECTION_OF_KIND[item.kind], []).append(item.body)
    together = Bundle(
        {"format": FORMAT, "name": change.label, "version": "1", **sections}, change.content_hash
    )
    with rehearsed(conn) if rehearsal else passage(conn, change.id):
        _publish(conn, actor, together, definitions, KEYED_SECTIONS[:1], rehearsal)
        for item in change.items:
            if item.kind == BUNDLE_ITEM:
                _import(conn, actor, item, rehearsal)
        _publish(conn, actor, together, definitions, KEYED_SECTIONS[1:], rehearsal)
        webhooks = [i for i in change.items if i.kind == WEBHOOK_KIND]
        if webhooks:
            allowlist = Allowlist.from_settings(settings_of(conn))
            for item in webhooks:
                _located(item, save_subscription_definition, conn, actor, item.body, allowlist)


def _publish(
    conn: Connection,
    actor: Principal,
    together: Bundle,
    definitions: list[ChangeItem],
    sections: tuple[str, ...],
    rehearsal: bool,
) -> None:
    """Publish the ``definitions`` of ``sections``, in that order, knowing what comes with them."""
    wanted = [i for i in definitions if SECTION_OF_KIND[i.kind] in sections]
    if not wanted:
        return
    publish = ItemPublisher(conn, actor, together, rehearsal=rehearsal)
    for section in sections:
        for item in wanted:
            if SECTION_OF_KIND[item.kind] == section:
                publish(section, item.body, item_path(item))


def _import(conn: Connection, actor: Principal, item: ChangeItem, rehearsal: bool) -> None:
    bundle = Bundle(item.body["document"], item.body["sha256"])
    _located(item, import_bundle, conn, actor, bundle, dry_run=rehearsal, within=".document")


def _located(
    item: ChangeItem, step: Callable[..., Any], *args: Any, within: str = "", **kwargs: Any
) -> None:
    """Run ``step`` for ``item``; its refusal names the item's path (``within`` its body)."""
    try:
        step(*args, **kwargs)
    except ServiceError as exc:
        exc.errors = [
            FieldError(f"{item_path(item)}{within}.{e.field}", e.message) for e in exc.errors
        ] or [FieldError(item_path(item), exc.detail)]
        raise
