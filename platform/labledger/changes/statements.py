"""The sentences of a readable change and the words every kind of definition shares.

A reviewer reads what a change does, not its JSON: each :class:`Statement` is
one plain sentence about one thing, named as the reviewer names it (by its
label), and says whether it weakens a control, so the review can put those
first. Definitions refer to roles, fields, types and workflows by key; the
labels of those live elsewhere, and :class:`Names` brings them in when the
caller has them (a key stands in for a label it lacks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from msgspec import UNSET

from labledger.identity.principal import EVERYONE


@dataclass(frozen=True)
class Statement:
    """One thing a change does, in one sentence."""

    #: What it is about, as a reviewer names it: 'Field "pH"', 'Transition "Release"'.
    subject: str
    #: The sentence, readable on its own: 'Release no longer requires a signature'.
    text: str
    #: The change weakens a control (a signature, a separation of duties, a role
    #: restriction, a lock, a required value or reason, a guard, a permission).
    weakens: bool = False


def weakening(statements: Iterable[Statement]) -> list[Statement]:
    """The statements that weaken a control, in their order."""
    return [statement for statement in statements if statement.weakens]


@dataclass(frozen=True)
class Names:
    """Labels by key of what definitions name but do not hold: roles, the fields of
    the types a workflow or mapping serves, types and workflows."""

    roles: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, str] = field(default_factory=dict)
    types: Mapping[str, str] = field(default_factory=dict)
    workflows: Mapping[str, str] = field(default_factory=dict)

    def role_name(self, key: str) -> str:
        return "everyone" if key == EVERYONE else quoted(self.roles.get(key, key))

    def field_name(self, key: str) -> str:
        return quoted(self.fields.get(key, key))

    def type_name(self, key: str) -> str:
        return quoted(self.types.get(key, key))

    def workflow_name(self, key: str) -> str:
        return quoted(self.workflows.get(key, key))


NO_NAMES = Names()


def quoted(label: str) -> str:
    return f'"{label}"'


def listing(words: Iterable[str]) -> str:
    """``words`` joined with commas ("" for none)."""
    return ", ".join(words)


def said(value: Any) -> str:
    """A value of a definition as a reviewer reads it: text in quotes, yes/no, the
    members of a list, the settings of an object."""
    if value is None or value is UNSET:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return quoted(value)
    if isinstance(value, list | tuple):
        return listing(said(item) for item in value) or "none"
    if isinstance(value, msgspec.Struct):
        return said(msgspec.to_builtins(value))
    if isinstance(value, dict):
        settings = (f"{str(key).replace('_', ' ')} {said(item)}" for key, item in value.items())
        return listing(settings) or "none"
    return str(value)


def absent(value: Any) -> bool:
    """Whether a setting is not given: unset, null, empty text or an empty list."""
    return value is None or value is UNSET or value == "" or value == ()


def change_of(what: str, old: Any, new: Any) -> str:
    """'upper limit 8.5 → 9.0', 'upper limit set to 9.0', 'upper limit 8.5 removed'."""
    if absent(old):
        return f"{what} set to {said(new)}"
    if absent(new):
        return f"{what} {said(old)} removed"
    return f"{what} {said(old)} → {said(new)}"


T = TypeVar("T")


def paired(
    old: Sequence[T], new: Sequence[T], key: Callable[[T], Any]
) -> list[tuple[T | None, T | None]]:
    """The items of two versions of a list matched by ``key``: those of the new one
    in its order (None before an added one), then the removed ones in the old order.
    A key listed twice counts once (publishing refuses that; reading does not)."""
    before = _by_key(old, key)
    after = _by_key(new, key)
    kept: list[tuple[T | None, T | None]] = [(before.get(k), item) for k, item in after.items()]
    return kept + [(item, None) for k, item in before.items() if k not in after]


def _by_key(items: Sequence[T], key: Callable[[T], Any]) -> dict[Any, T]:
    found: dict[Any, T] = {}
    for item in items:
        found.setdefault(key(item), item)
    return found


def reordered(old: Sequence[T], new: Sequence[T], key: Callable[[T], Any]) -> bool:
    """Whether the items both versions hold come in another order."""
    before = [k for k in _by_key(old, key) if k in _by_key(new, key)]
    after = [k for k in _by_key(new, key) if k in _by_key(old, key)]
    return before != after


def added_and_removed(old: Iterable[T], new: Iterable[T]) -> tuple[list[T], list[T]]:
    """The members only ``new`` has and those only ``old`` has, each once, in its list's
    order. Members are compared, not hashed: an action holds a dict."""
    before, after = _distinct(old), _distinct(new)
    return [item for item in after if item not in before], [i for i in before if i not in after]


def _distinct(items: Iterable[T]) -> list[T]:
    found: list[T] = []
    for item in items:
        if item not in found:
            found.append(item)
    return found
