"""What a change does to an object type, in words: the type itself first (names,
numbering, workflow, reasons, permissions, sections, rules), then its fields in
the order the new version lists them, the removed ones last.

Granting a role the right to read, create or edit records, detaching the
workflow, no longer asking a reason for changes and dropping a rule weaken a
control.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from msgspec import UnsetType

from labledger.changes.field_changes import describe_field
from labledger.changes.pairing import added_and_removed, label_changes, paired, reordered
from labledger.changes.statements import Names, Statement
from labledger.changes.wording import change_of, listing, quoted, said
from labledger.identity.principal import EVERYONE
from labledger.metadata.spec import ObjectTypeSpec
from labledger.metadata.spec.object_type import RuleSpec

#: The record permissions of a type, as a reviewer names granting each ...
ACTIONS = {"read": "reading", "create": "creating", "edit": "editing"}
#: ... and as a new type's permissions read.
DONE = {"read": "read", "create": "created", "edit": "edited"}


def describe_type(old: ObjectTypeSpec | None, new: ObjectTypeSpec, names: Names) -> list[Statement]:
    """What changes for the type ``old`` becoming ``new`` (``old`` None: it is new)."""
    if old is None:
        return _new_type(new, names)
    sections = _section_labels(old, new)
    found = _type_level(old, new, names)
    for was, now in paired(old.fields, new.fields, lambda spec: spec.key):
        found += describe_field(was, now, sections, names)
    if reordered(old.fields, new.fields, lambda spec: spec.key):
        found.append(Statement(_subject(new), f"{_subject(new)}: the fields come in a new order"))
    return found


def _subject(spec: ObjectTypeSpec) -> str:
    return f"Type {quoted(spec.label)}"


def _section_labels(*versions: ObjectTypeSpec) -> dict[str, str]:
    """Section labels by key, the newest version's winning."""
    return {s.key: s.label for version in versions for s in version.sections}


def _new_type(spec: ObjectTypeSpec, names: Names) -> list[Statement]:
    subject = _subject(spec)
    fields = listing(quoted(f.label) for f in spec.fields)
    found = [
        Statement(
            subject,
            f"New type {quoted(spec.label)} (plural {quoted(spec.plural)}, "
            f"numbered {said(spec.numbering)}) with fields {fields}",
        )
    ]
    if spec.workflow:
        found.append(Statement(subject, f"{subject} follows {_workflow(spec.workflow, names)}"))
    roles = [
        f"{done} by {listing(map(names.role_name, spec.permissions.roles_for(action))) or 'nobody'}"
        for action, done in DONE.items()
    ]
    found.append(Statement(subject, f"{subject}: records may be {'; '.join(roles)}"))
    if spec.require_reason:
        found.append(Statement(subject, f"{subject}: every change after creation needs a reason"))
    return found


def _workflow(key: str, names: Names) -> str:
    return f"workflow {names.workflow_name(key)}"


def _type_level(old: ObjectTypeSpec, new: ObjectTypeSpec, names: Names) -> list[Statement]:
    subject = _subject(new)
    fields = {f.key: f.label for version in (old, new) for f in version.fields}

    def noted(text: str, weakens: bool = False) -> Statement:
        return Statement(subject, f"{subject}: {text}", weakens)

    found: list[Statement] = []
    if old.label != new.label:
        found.append(Statement(subject, f"Type {quoted(old.label)} renamed to {quoted(new.label)}"))
    for words, was, now in (
        ("plural", old.plural, new.plural),
        ("numbering", old.numbering, new.numbering),
        ("numbering of child records", _child(old, fields), _child(new, fields)),
        ("record title", old.title, new.title),
        ("due date field", _label(old.due_field, fields), _label(new.due_field, fields)),
        (
            "summary fields",
            _labels(old.summary_fields, fields),
            _labels(new.summary_fields, fields),
        ),
        ("grid layout", _grid(old, fields), _grid(new, fields)),
    ):
        if was != now:
            found.append(noted(change_of(words, was, now)))
    if old.description != new.description:
        found.append(noted("description changed"))
    if old.workflow != new.workflow:
        text, weakens = _workflow_change(old.workflow, new.workflow, names)
        found.append(noted(text, weakens))
    if old.require_reason != new.require_reason:
        found.append(
            noted("every change after creation now needs a reason")
            if new.require_reason
            else noted("changes after creation no longer need a reason", weakens=True)
        )
    found += [noted(text, weakens) for text, weakens in _permission_changes(old, new, names)]
    found += [noted(text) for text in _section_changes(old, new)]
    rules = _rule_changes(old.rules, new.rules, fields)
    found += [noted(text, weakens) for text, weakens in rules]
    return found


def _label(key: str, labels: Mapping[str, str]) -> str:
    return labels.get(key, key)


def _labels(keys: Sequence[str], labels: Mapping[str, str]) -> str:
    return ", ".join(_label(key, labels) for key in keys)


def _grid(spec: ObjectTypeSpec, fields: Mapping[str, str]) -> str:
    grid = spec.grid
    if isinstance(grid, UnsetType):
        return ""
    return f"context {_labels(grid.context, fields)}; columns {_labels(grid.columns, fields)}"


def _child(spec: ObjectTypeSpec, fields: Mapping[str, str]) -> str:
    child = spec.child_numbering
    if isinstance(child, UnsetType):
        return ""
    return f"{child.pattern} for records created under {quoted(_label(child.field, fields))}"


def _workflow_change(was: str | None, now: str | None, names: Names) -> tuple[str, bool]:
    """Detaching the workflow drops every control it held (signatures, locks, roles)."""
    if was is None and now is not None:
        return f"records now follow {_workflow(now, names)}", False
    if now is None and was is not None:
        return f"records no longer follow a workflow (was {names.workflow_name(was)})", True
    assert was is not None and now is not None
    return f"records now follow {_workflow(now, names)} (was {names.workflow_name(was)})", False


def _permission_changes(
    old: ObjectTypeSpec, new: ObjectTypeSpec, names: Names
) -> list[tuple[str, bool]]:
    """Roles granted and withdrawn each permission; a grant that lets in someone the
    old version kept out (everyone counts for every role) weakens the control."""
    found = []
    for action, words in ACTIONS.items():
        before = old.permissions.roles_for(action)
        after = new.permissions.roles_for(action)
        granted, withdrawn = added_and_removed(before, after)
        if granted:
            roles = listing(map(names.role_name, granted))
            found.append((f"{words} records granted to {roles}", EVERYONE not in before))
        if withdrawn:
            roles = listing(map(names.role_name, withdrawn))
            found.append((f"{words} records withdrawn from {roles}", False))
    return found


def _section_changes(old: ObjectTypeSpec, new: ObjectTypeSpec) -> list[str]:
    return label_changes("section", old.sections, new.sections, lambda section: section.key)


def _rule_changes(
    old: tuple[RuleSpec, ...], new: tuple[RuleSpec, ...], fields: Mapping[str, str]
) -> list[tuple[str, bool]]:
    """Rules have no key: one is known by its condition, or else by its message. A rule
    dropped no longer checks records, which weakens a control."""
    by_condition = paired(old, new, lambda rule: rule.expression)
    matched = [(was, now) for was, now in by_condition if was is not None and now is not None]
    dropped = [was for was, now in by_condition if now is None and was is not None]
    new_ones = [now for was, now in by_condition if was is None and now is not None]
    found = []
    for was, now in [*matched, *paired(dropped, new_ones, lambda rule: rule.message)]:
        if was is None and now is not None:
            found.append((f"new rule {quoted(now.message)}: {said(now.expression)}", False))
        elif now is None and was is not None:
            found.append((f"rule {quoted(was.message)} removed ({said(was.expression)})", True))
        elif was is not None and now is not None:
            found += [(text, False) for text in _rule_change(was, now, fields)]
    return found


def _rule_change(was: RuleSpec, now: RuleSpec, fields: Mapping[str, str]) -> list[str]:
    rule = f"rule {quoted(now.message)}"
    found = []
    if was.message != now.message:
        found.append(f"rule {quoted(was.message)} now says {quoted(now.message)}")
    if was.expression != now.expression:
        found.append(f"{rule}: {change_of('condition', was.expression, now.expression)}")
    if was.fields != now.fields:
        shown = [tuple(_label(key, fields) for key in rule.fields) for rule in (was, now)]
        found.append(f"{rule}: {change_of('shown on fields', *shown)}")
    return found
