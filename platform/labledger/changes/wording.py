"""How a statement writes what it is about: labels quoted, values as a reviewer reads
them, lists joined, a setting's change from old to new."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
from msgspec import UNSET


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
