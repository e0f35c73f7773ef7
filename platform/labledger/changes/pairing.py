"""Matching the items of two versions of a definition: the same field, state or
transition before and after, what was added or removed, whether they moved."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from labledger.changes.wording import quoted

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


class Labelled(Protocol):
    """An item a reviewer knows by its label (an option, a section)."""

    @property
    def label(self) -> str: ...


L = TypeVar("L", bound=Labelled)


def label_changes(
    noun: str, old: Sequence[L], new: Sequence[L], key: Callable[[L], Any]
) -> list[str]:
    """'option "Red" added', '... removed', '... renamed to "Crimson"', by ``key``."""
    found = []
    for was, now in paired(old, new, key):
        if was is None and now is not None:
            found.append(f"{noun} {quoted(now.label)} added")
        elif now is None and was is not None:
            found.append(f"{noun} {quoted(was.label)} removed")
        elif was is not None and now is not None and was.label != now.label:
            found.append(f"{noun} {quoted(was.label)} renamed to {quoted(now.label)}")
    return found
