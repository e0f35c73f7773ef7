"""The sentences of a readable change, and the names definitions refer to by key.

A reviewer reads what a change does, not its JSON: each :class:`Statement` is
one plain sentence about one thing, named as the reviewer names it (by its
label), and says whether it weakens a control, so the review can put those
first. Definitions refer to roles, fields, types and workflows by key; the
labels of those live elsewhere, and :class:`Names` brings them in when the
caller has them (a key stands in for a label it lacks).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from labledger.changes.wording import quoted
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
