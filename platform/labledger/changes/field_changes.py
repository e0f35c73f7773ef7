"""What a change does to one field of an object type, in words.

A field's attributes depend on its kind (see metadata/spec/fields.py), so
each attribute is read by name from both versions: one a kind does not have
counts as not given, and a field whose kind changes shows what it gained and
lost. Making a field optional, or writable after creation or by people where
only the system wrote it, weakens a control.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from msgspec import UNSET

from labledger.changes.pairing import label_changes, reordered
from labledger.changes.statements import Names, Statement
from labledger.changes.wording import absent, change_of, listing, quoted, said
from labledger.metadata.spec import FieldSpec, OptionSpec

#: Each kind of field as a reviewer names it.
KIND_WORDS = {
    "text": "text",
    "long_text": "long text",
    "integer": "whole number",
    "decimal": "number",
    "boolean": "yes/no",
    "date": "date",
    "datetime": "date and time",
    "choice": "choice",
    "multi_choice": "multiple choice",
    "reference": "reference",
    "user": "user",
    "attachment": "attachment",
    "computed": "computed",
}


@dataclass(frozen=True)
class Switch:
    """A yes/no attribute: what turning it on and off means, and its short name."""

    on: str
    off: str
    short: str
    weakens_when_off: bool = False


#: The yes/no attributes, in the order they are told.
SWITCHES = {
    "required": Switch("is now required", "is no longer required", "required", True),
    "read_only": Switch(
        "can now be set only when a record is created",
        "can now be changed after a record is created",
        "set at creation only",
        True,
    ),
    "system_set": Switch(
        "is now written only by the system",
        "can now be written by people, not only by the system",
        "written by the system",
        True,
    ),
    "unique": Switch("must now be unique", "no longer needs to be unique", "unique"),
    "multiple": Switch(
        "now holds several references", "now holds one reference", "several references"
    ),
    "filterable": Switch("can now be filtered on", "can no longer be filtered on", ""),
    "in_list": Switch("is now shown in lists", "is no longer shown in lists", ""),
}


@dataclass(frozen=True)
class Setting:
    """An attribute with a value: its words, and whether removing it weakens a control."""

    words: str
    weakens_when_removed: bool = False


#: The attributes with a value, in the order they are told.
SETTINGS = {
    "required_if": Setting("required when", weakens_when_removed=True),
    "min": Setting("lower limit"),
    "max": Setting("upper limit"),
    "max_length": Setting("maximum length"),
    "precision": Setting("decimal places"),
    "pattern": Setting("pattern"),
    "options_from": Setting("answers offered from"),
    "unit": Setting("unit"),
    "max_size": Setting("largest file (bytes)"),
    "accept": Setting("accepted files"),
    "default": Setting("default"),
    "default_expression": Setting("default calculation"),
    "expression": Setting("calculation"),
    "result_type": Setting("calculated value type"),
    "visible_if": Setting("shown when"),
    "alarm": Setting("alarm value"),
}


def _get(spec: FieldSpec, attribute: str) -> Any:
    return getattr(spec, attribute, UNSET)


def describe_field(
    old: FieldSpec | None, new: FieldSpec | None, sections: Mapping[str, str], names: Names
) -> list[Statement]:
    """What changes for one field (None: it is new, or removed); ``sections`` gives the
    label of each section key."""
    if old is None and new is not None:
        return [_new_field(new, sections, names)]
    if new is None and old is not None:
        subject = _subject(old)
        return [Statement(subject, f"{subject} removed")]
    assert old is not None and new is not None
    return _changed_field(old, new, sections, names)


def _subject(spec: FieldSpec) -> str:
    return f"Field {quoted(spec.label)}"


def _new_field(spec: FieldSpec, sections: Mapping[str, str], names: Names) -> Statement:
    subject = _subject(spec)
    return Statement(subject, f"New field {quoted(spec.label)}: {summary(spec, sections, names)}")


def summary(spec: FieldSpec, sections: Mapping[str, str], names: Names) -> str:
    """A field in brief: its kind and what it is given, e.g. 'number, required, upper limit 9'."""
    parts = [KIND_WORDS[spec.kind]]
    if (target := _get(spec, "to")) is not UNSET:
        parts.append(f"refers to {names.type_name(target)}")
    parts += [s.short for a, s in SWITCHES.items() if s.short and _get(spec, a) is True]
    parts += [
        f"{s.words} {said(_get(spec, a))}" for a, s in SETTINGS.items() if not absent(_get(spec, a))
    ]
    if options := _get(spec, "options"):
        parts.append(f"options {listing(quoted(o.label) for o in options)}")
    if spec.section:
        parts.append(f"in section {quoted(sections.get(spec.section, spec.section))}")
    return listing(parts)


def _changed_field(
    old: FieldSpec, new: FieldSpec, sections: Mapping[str, str], names: Names
) -> list[Statement]:
    subject = _subject(new)

    def told(text: str, weakens: bool = False) -> Statement:
        """'Field "pH" is now required'."""
        return Statement(subject, f"{subject} {text}", weakens)

    def noted(text: str, weakens: bool = False) -> Statement:
        """'Field "pH": upper limit 8.5 → 9.0'."""
        return Statement(subject, f"{subject}: {text}", weakens)

    found: list[Statement] = []
    if old.label != new.label:
        found.append(
            Statement(subject, f"Field {quoted(old.label)} renamed to {quoted(new.label)}")
        )
    if old.kind != new.kind:
        found.append(told(f"changes type: {KIND_WORDS[old.kind]} → {KIND_WORDS[new.kind]}"))
    if (before := _get(old, "to")) != (after := _get(new, "to")):
        found.append(told(_target_change(before, after, names)))
    for attribute, switch in SWITCHES.items():
        was, now = _get(old, attribute) is True, _get(new, attribute) is True
        if was != now:
            found.append(told(switch.on if now else switch.off, was and switch.weakens_when_off))
    for attribute, setting in SETTINGS.items():
        was, now = _get(old, attribute), _get(new, attribute)
        if was != now and not (absent(was) and absent(now)):
            weakens = setting.weakens_when_removed and absent(now)
            found.append(noted(change_of(setting.words, was, now), weakens))
    found += [noted(text) for text in _option_changes(_get(old, "options"), _get(new, "options"))]
    if old.section != new.section:
        section = quoted(sections.get(new.section, new.section))
        found.append(told(f"moves to section {section}" if new.section else "leaves its section"))
    if old.help != new.help:
        found.append(noted("help text changed"))
    return found


def _target_change(before: Any, after: Any, names: Names) -> str:
    if before is UNSET:
        return f"now refers to {names.type_name(after)}"
    if after is UNSET:
        return f"no longer refers to {names.type_name(before)}"
    return f"now refers to {names.type_name(after)} (was {names.type_name(before)})"


def _option_changes(old: Any, new: Any) -> list[str]:
    """Options added, removed and relabelled (a kind without options has none)."""
    before: tuple[OptionSpec, ...] = () if old is UNSET else old
    after: tuple[OptionSpec, ...] = () if new is UNSET else new
    found = label_changes("option", before, after, lambda option: option.value)
    if reordered(before, after, lambda option: option.value):
        found.append("options reordered")
    return found
