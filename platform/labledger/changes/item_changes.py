"""What a change does to a role, a print template or an import mapping, in words.

A role granting a system permission it did not (identity.principal) weakens a
control: whoever holds the role gains it. Print templates and mappings are
told one statement per changed property, a mapping's columns by the field
each fills.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from msgspec import UNSET

from labledger.changes.pairing import added_and_removed, paired
from labledger.changes.statements import Names, Statement
from labledger.changes.wording import change_of, listing, quoted
from labledger.identity.principal import (
    APPROVE_CONFIGURATION,
    CONFIGURE,
    MANAGE_USERS,
    MIGRATE_RECORDS,
    READ_AUDIT,
)
from labledger.metadata.spec import MappingSpec, PrintTemplateSpec, RoleSpec
from labledger.metadata.spec.mapping import ColumnSpec

#: The system permissions as a reviewer names them.
PERMISSION_WORDS = {
    CONFIGURE: "configure the system",
    MANAGE_USERS: "manage users",
    READ_AUDIT: "read the audit trail",
    MIGRATE_RECORDS: "migrate records from another system",
    APPROVE_CONFIGURATION: "approve configuration changes",
}


def _permissions(keys: Iterable[str]) -> str:
    return listing(PERMISSION_WORDS.get(key, key) for key in keys)


def _renamed(what: str, old: str, new: str) -> Statement:
    return Statement(f"{what} {quoted(new)}", f"{what} {quoted(old)} renamed to {quoted(new)}")


def describe_role(old: RoleSpec | None, new: RoleSpec, names: Names) -> list[Statement]:
    """A role's label, description and the system permissions it grants. A new role's
    grants are told as grants: whoever is given the role gains them."""
    subject = f"Role {quoted(new.label)}"
    found = []
    if old is None:
        found.append(Statement(subject, f"New role {quoted(new.label)}"))
    elif old.label != new.label:
        found.append(_renamed("Role", old.label, new.label))
    if old is not None and old.description != new.description:
        found.append(Statement(subject, f"{subject}: description changed"))
    granted, withdrawn = added_and_removed(old.permissions if old else (), new.permissions)
    if granted:
        found.append(Statement(subject, f"{subject} now grants: {_permissions(granted)}", True))
    if withdrawn:
        text = f"{subject} no longer grants: {_permissions(withdrawn)}"
        found.append(Statement(subject, text))
    return found


#: The properties of a print template and of a mapping, as a reviewer names them,
#: in the order they are told; None: too long to quote, told as changed.
TEMPLATE_WORDS: Mapping[str, str | None] = {
    "kind": "kind",
    "page": "page",
    "labels": "label grid",
    "description": None,
    "template": None,
    "style": None,
}
MAPPING_WORDS: Mapping[str, str | None] = {
    "format": "file format",
    "encoding": "encoding",
    "delimiter": "delimiter",
    "skip_lines": "lines skipped before the header",
    "decimal_separator": "decimal separator",
    "list_separator": "list separator",
    "strict_header": "refuse unknown columns",
    "mode": "mode (atomic: the whole file or nothing)",
    "max_bytes": "largest file (bytes)",
    "match": "matching of existing records",
    "constants": "values every row gets",
    "description": None,
}
_LONG_WORDS = {"description": "description", "template": "template body", "style": "style sheet"}


def _properties(
    subject: str, old: object, new: object, words: Mapping[str, str | None]
) -> list[Statement]:
    """One statement per property in ``words`` that differs."""
    found = []
    for name, what in words.items():
        was, now = getattr(old, name, UNSET), getattr(new, name, UNSET)
        if was == now:
            continue
        text = change_of(what, was, now) if what else f"{_LONG_WORDS[name]} changed"
        found.append(Statement(subject, f"{subject}: {text}"))
    return found


def describe_template(
    old: PrintTemplateSpec | None, new: PrintTemplateSpec, names: Names
) -> list[Statement]:
    subject = f"Print template {quoted(new.label)}"
    if old is None:
        text = (
            f"New {new.kind} template {quoted(new.label)} for {names.type_name(new.type)} records"
        )
        return [Statement(subject, text)]
    found = [_renamed("Print template", old.label, new.label)] if old.label != new.label else []
    if old.type != new.type:
        text = (
            f"{subject} now prints {names.type_name(new.type)} records "
            f"(was {names.type_name(old.type)})"
        )
        found.append(Statement(subject, text))
    return found + _properties(subject, old, new, TEMPLATE_WORDS)


def describe_mapping(old: MappingSpec | None, new: MappingSpec, names: Names) -> list[Statement]:
    subject = f"Import mapping {quoted(new.label)}"
    if old is None:
        text = f"New import mapping {quoted(new.label)} into {names.type_name(new.target)} records"
        return [Statement(subject, text)] + [_column(None, c, names)[0] for c in new.columns]
    found = [_renamed("Import mapping", old.label, new.label)] if old.label != new.label else []
    if old.target != new.target:
        text = (
            f"{subject} now imports into {names.type_name(new.target)} records "
            f"(was {names.type_name(old.target)})"
        )
        found.append(Statement(subject, text))
    found += _properties(subject, old, new, MAPPING_WORDS)
    for was, now in paired(old.columns, new.columns, lambda column: column.field):
        found += _column(was, now, names)
    return found


def _column(old: ColumnSpec | None, new: ColumnSpec | None, names: Names) -> list[Statement]:
    """A column, known by the field it fills: 'Column "pH" now maps from "PH value"'."""
    column = new or old
    assert column is not None
    subject = f"Column {names.field_name(column.field)}"
    if old is None and new is not None:
        return [Statement(subject, f"{subject} now maps from {quoted(new.source)} (new column)")]
    if new is None:
        return [Statement(subject, f"{subject} removed: the field is no longer imported")]
    assert old is not None
    found = []
    if old.source != new.source:
        text = f"{subject} now maps from {quoted(new.source)} (was {quoted(old.source)})"
        found.append(Statement(subject, text))
    for what, was, now in (
        ("optional", old.optional, new.optional),
        ("lookup", old.lookup, new.lookup),
        ("unit", old.unit, new.unit),
    ):
        if was != now:
            found.append(Statement(subject, f"{subject}: {change_of(what, was, now)}"))
    return found


#: What a webhook sends, by the filter that says it (an empty filter sends everything).
_WEBHOOK_FILTERS = {"types": "types", "kinds": "event kinds", "states": "states"}


def describe_webhook(old: dict[str, Any] | None, new: dict[str, Any]) -> list[Statement]:
    """A webhook in words. Data sent to a new address, or more of it, weakens a control:
    records leave the system."""
    subject = f"Webhook {quoted(str(new.get('name')))}"
    if old is None:
        sends = listing(
            f"{words} {listing(map(quoted, new[key]))}"
            for key, words in _WEBHOOK_FILTERS.items()
            if new.get(key)
        )
        text = f"New webhook sends {sends or 'every event'} to {new.get('url')}"
        return [Statement(subject, f"{subject}: {text}", True)]
    found = []
    if old.get("url") != new.get("url"):
        found.append(
            Statement(
                subject, f"{subject} now sends to {new.get('url')} (was {old.get('url')})", True
            )
        )
    for key, words in _WEBHOOK_FILTERS.items():
        was, now = list(old.get(key) or []), list(new.get(key) or [])
        if was != now:
            wider = bool(was) and (not now or bool(set(now) - set(was)))
            shown = listing(map(quoted, now)) or "all"
            found.append(Statement(subject, f"{subject} {words}: {shown}", wider))
    for key, words in (("active", "active"), ("max_attempts", "attempts per delivery")):
        if old.get(key) != new.get(key):
            found.append(
                Statement(subject, f"{subject}: {change_of(words, old.get(key), new.get(key))}")
            )
    return found
