"""What changed between two versions of a definition, item by item.

Used for the audit entry of every publish and for import previews. Lists of
keyed items (fields, sections, states, transitions, a mapping's columns) are
compared by their identity, so a moved field is not reported as removed and
added.
"""

from __future__ import annotations

from typing import Any

#: Lists of items with an identity, and the member holding it: a mapping maps
#: each field from one column, so its columns are known by their field.
KEYED_LISTS = {
    "fields": "key",
    "sections": "key",
    "states": "key",
    "transitions": "key",
    "columns": "field",
}


def diff_definitions(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """``{"added": {...}, "removed": {...}, "changed": {path: {"old", "new"}}}``."""
    result: dict[str, Any] = {"added": {}, "removed": {}, "changed": {}}
    old = old or {}
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if name in KEYED_LISTS and isinstance(before or after, list):
            _diff_keyed(name, before or [], after or [], result)
        elif before != after:
            result["changed"][name] = {"old": before, "new": after}
    return {k: v for k, v in result.items() if v}


def _diff_keyed(
    name: str, before: list[dict[str, Any]], after: list[dict[str, Any]], result: dict[str, Any]
) -> None:
    identity = KEYED_LISTS[name]
    old_items = {item[identity]: item for item in before}
    new_items = {item[identity]: item for item in after}
    added = [k for k in new_items if k not in old_items]
    removed = [k for k in old_items if k not in new_items]
    if added:
        result["added"][name] = added
    if removed:
        result["removed"][name] = removed
    for key in new_items.keys() & old_items.keys():
        a, b = old_items[key], new_items[key]
        for option in sorted(set(a) | set(b)):
            if a.get(option) != b.get(option):
                result["changed"][f"{name}.{key}.{option}"] = {
                    "old": a.get(option),
                    "new": b.get(option),
                }
    if [k for k in old_items if k in new_items] != [k for k in new_items if k in old_items]:
        result["changed"][f"{name}.order"] = {
            "old": [k for k in old_items if k in new_items],
            "new": [k for k in new_items if k in old_items],
        }
