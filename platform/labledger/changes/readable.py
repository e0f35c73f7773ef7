"""A configuration change in words a reviewer reads: the readable diff of a change request.

QA approves a change for what it does (EU GMP Annex 11 §10, 21 CFR 11.10(k)),
so it must read that in words, not JSON: :func:`describe_change` turns the
stored definition of one item before and after into :class:`Statement`
sentences, type-level first, then fields (states, then transitions) in
definition order, and marks each that weakens a control; :func:`weakening`
picks those out.

Definitions are decoded into the meta-model structs, a stored object type
leniently as it is compiled (metadata.spec.stored). A document the structs
refuse, which publishing would refuse too, is still told property by property
instead of raising: a review must never fail on what it shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic

import msgspec

from labledger.bundles.resolve import ROLE_KIND
from labledger.changes.dashboard_changes import describe_dashboard
from labledger.changes.item_changes import (
    describe_mapping,
    describe_role,
    describe_template,
    describe_webhook,
)
from labledger.changes.statements import NO_NAMES, Names, Statement, weakening
from labledger.changes.type_changes import describe_type
from labledger.changes.wording import quoted
from labledger.changes.workflow_changes import describe_workflow
from labledger.dashboards.definitions import KIND as DASHBOARD_KIND
from labledger.integration.mappings import MAPPING_KIND
from labledger.integration.subscriptions import WEBHOOK_KIND
from labledger.metadata.spec import (
    DashboardSpec,
    MappingSpec,
    ObjectTypeSpec,
    PrintTemplateSpec,
    RoleSpec,
    WorkflowSpec,
    decode,
)
from labledger.metadata.spec.base import SpecT
from labledger.metadata.spec.stored import decode_stored
from labledger.metadata.types import KIND as TYPE_KIND
from labledger.metadata.workflow_fit import WORKFLOW_KIND
from labledger.printing.templates import KIND as TEMPLATE_KIND

__all__ = ["Names", "Statement", "describe_change", "weakening"]


@dataclass(frozen=True)
class _Kind(Generic[SpecT]):
    """How one kind of configuration is named, read and told."""

    name: str
    read: Callable[[dict[str, Any]], SpecT]
    describe: Callable[[SpecT | None, SpecT, Names], list[Statement]]

    def __call__(
        self, old: dict[str, Any] | None, new: dict[str, Any], names: Names
    ) -> list[Statement]:
        return self.describe(None if old is None else self.read(old), self.read(new), names)


_KINDS: dict[str, _Kind[Any]] = {
    TYPE_KIND: _Kind("Type", lambda d: decode_stored(d, ObjectTypeSpec), describe_type),
    WORKFLOW_KIND: _Kind("Workflow", lambda d: decode(d, WorkflowSpec), describe_workflow),
    TEMPLATE_KIND: _Kind(
        "Print template", lambda d: decode(d, PrintTemplateSpec), describe_template
    ),
    MAPPING_KIND: _Kind("Import mapping", lambda d: decode(d, MappingSpec), describe_mapping),
    ROLE_KIND: _Kind("Role", lambda d: decode(d, RoleSpec), describe_role),
    DASHBOARD_KIND: _Kind("Dashboard", lambda d: decode(d, DashboardSpec), describe_dashboard),
}


def describe_change(
    kind: str,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    names: Names = NO_NAMES,
) -> list[Statement]:
    """What changing the ``kind`` item ``old`` into ``new`` does, in order (``old`` None:
    the item is new; ``new`` None: it is removed; nothing changed: []). ``names``
    gives the labels of roles, fields, types and workflows the definitions name
    by key."""
    if old == new:
        return []
    if kind == WEBHOOK_KIND and new is not None:
        return describe_webhook(old, new)
    found = _KINDS.get(kind)
    subject = f"{found.name if found else kind} {quoted(_label(new or old))}"
    if new is None:
        return [Statement(subject, f"{subject} removed")]
    if found is not None:
        try:
            return found(old, new, names)
        except msgspec.ValidationError:
            pass
    if old is None:
        return [Statement(subject, f"{subject} added")]
    return _by_property(subject, old, new)


def _label(definition: Any) -> str:
    """A definition's label as it stands, whatever its shape."""
    if not isinstance(definition, dict):
        return "?"
    return str(definition.get("label") or definition.get("key") or "?")


def _by_property(subject: str, old: dict[str, Any], new: dict[str, Any]) -> list[Statement]:
    """A definition the structs cannot read, told by its top-level properties."""
    changed = [name for name in dict.fromkeys([*new, *old]) if old.get(name) != new.get(name)]
    return [Statement(subject, f"{subject}: {quoted(name)} changed") for name in changed]
