"""What a reviewer sees of a change request: each definition's changes in words, and its impact.

Every front end shows the same review: item by item (a whole bundle
unfolded into its definitions), what the proposal changes against what is
active now, in sentences (``changes.readable``), with the changes that
weaken a control gathered first, the items whose active definition moved
since they were proposed, and how many approvals are still needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from labledger.bundles.resolve import SECTION_KIND
from labledger.change_gate import control_setting
from labledger.changes.activation import (
    KIND_NOUN,
    StaleItem,
    active_definition,
    stale_items,
)
from labledger.changes.impact import TypeImpact, change_impact
from labledger.changes.readable import Names, Statement, describe_change
from labledger.changes.store import BUNDLE_ITEM, ChangeRequest
from labledger.identity.roles import list_roles
from labledger.metadata import versions
from labledger.metadata.types import KIND as TYPE_KIND
from labledger.metadata.workflow_fit import WORKFLOW_KIND


@dataclass(frozen=True)
class ItemReview:
    """One proposed definition against the active one."""

    kind: str
    key: str
    #: 'object type "Sample"'.
    title: str
    #: The active version (None: new, or a role).
    active_version: int | None
    new: bool
    statements: tuple[Statement, ...]
    #: The whole bundle this definition arrives in (None: proposed on its own).
    bundle: str | None = None

    @property
    def weakening(self) -> tuple[Statement, ...]:
        return tuple(s for s in self.statements if s.weakens)


@dataclass(frozen=True)
class Review:
    """A change request as its reviewers see it."""

    change: ChangeRequest
    items: tuple[ItemReview, ...]
    stale: tuple[StaleItem, ...]
    approvals_required: int
    control_on: bool

    @property
    def weakening(self) -> tuple[tuple[ItemReview, Statement], ...]:
        """Every change that weakens a control, with its item: what QA reads first."""
        return tuple((item, s) for item in self.items for s in item.weakening)

    @property
    def approvals_missing(self) -> int:
        return max(0, self.approvals_required - len(self.change.valid_approvals))


def review(conn: Connection, change: ChangeRequest) -> Review:
    """The review of ``change`` against the configuration active now."""
    proposed = list(_proposed_definitions(change))
    names = _names(conn, [body for _, _, body, _ in proposed])
    items = []
    for kind, key, body, bundle in proposed:
        active = active_definition(conn, kind, key)
        items.append(
            ItemReview(
                kind=kind,
                key=key,
                title=f'{KIND_NOUN.get(kind, kind)} "{body.get("label") or key}"',
                active_version=active.version,
                new=active.body is None,
                statements=tuple(describe_change(kind, active.body, body, names)),
                bundle=bundle,
            )
        )
    setting = control_setting(conn)
    return Review(
        change=change,
        items=tuple(items),
        stale=tuple(stale_items(conn, change)),
        approvals_required=setting.approvals_required,
        control_on=setting.enabled,
    )


@dataclass(frozen=True)
class Overtaken:
    """An item whose active definition changed after it was proposed: what the request
    changes and what changed meanwhile, each against the version it was proposed
    against, so its author and reviewers see both before a rebase."""

    stale: StaleItem
    proposed: tuple[Statement, ...]
    meanwhile: tuple[Statement, ...]
    #: False for a role: roles keep no versions, so the base cannot be shown.
    base_known: bool


def overtaken(conn: Connection, change: ChangeRequest, stale: StaleItem) -> Overtaken:
    """Both changes of the ``stale`` item of ``change``."""
    item = change.item(stale.kind, stale.key)
    assert item is not None, "a stale item is one of the request's"
    if item.base_version is None and item.base_hash is not None:
        return Overtaken(stale, (), (), base_known=False)
    base = (
        None
        if item.base_version is None
        else versions.body_at(conn, item.kind, item.key, item.base_version)
    )
    active = active_definition(conn, item.kind, item.key).body
    return Overtaken(
        stale,
        proposed=tuple(describe_change(item.kind, base, item.body)),
        meanwhile=tuple(describe_change(item.kind, base, active)),
        base_known=True,
    )


def impact(conn: Connection, change: ChangeRequest) -> list[TypeImpact]:
    """What ``change`` means for the records stored now, type by type (``changes.impact``)."""
    proposed = {(kind, key): body for kind, key, body, _ in _proposed_definitions(change)}
    return change_impact(conn, proposed)


def _proposed_definitions(
    change: ChangeRequest,
) -> Iterator[tuple[str, str, dict[str, Any], str | None]]:
    """(kind, key, body, bundle name) of every definition, bundles unfolded."""
    for item in change.items:
        if item.kind != BUNDLE_ITEM:
            yield item.kind, item.key, item.body, None
            continue
        document = item.body.get("document", {})
        for section, kind in SECTION_KIND.items():
            for body in document.get(section, []):
                if isinstance(body, dict) and isinstance(body.get("key"), str):
                    yield kind, body["key"], body, item.key


def _names(conn: Connection, proposed: list[dict[str, Any]]) -> Names:
    """Labels of the roles, types, workflows and fields named, the proposed ones winning."""
    roles = {r["key"]: r["label"] for r in list_roles(conn)}
    types: dict[str, str] = {}
    workflows: dict[str, str] = {}
    fields: dict[str, str] = {}
    named = {kind: versions.keys(conn, kind) for kind in (TYPE_KIND, WORKFLOW_KIND)}
    versions.prefetch_states(conn, [(kind, key) for kind, keys in named.items() for key in keys])
    for kind, labels in ((TYPE_KIND, types), (WORKFLOW_KIND, workflows)):
        for key in named[kind]:
            body = (versions.current(conn, kind, key) or (0, {}))[1]
            labels[key] = str(body.get("label") or key)
            if kind == TYPE_KIND:
                fields.update(_field_labels(body))
    for body in proposed:
        if "fields" in body:
            types[body["key"]] = str(body.get("label") or body["key"])
            fields.update(_field_labels(body))
        elif "states" in body:
            workflows[body["key"]] = str(body.get("label") or body["key"])
        elif "permissions" in body and isinstance(body.get("permissions"), list):
            roles[body["key"]] = str(body.get("label") or body["key"])
    return Names(roles=roles, fields=fields, types=types, workflows=workflows)


def _field_labels(body: dict[str, Any]) -> dict[str, str]:
    return {
        f["key"]: str(f.get("label") or f["key"])
        for f in body.get("fields", [])
        if isinstance(f, dict) and isinstance(f.get("key"), str)
    }
