"""The parts of an object type the designer edits row by row besides its fields:
sections, rules across fields, ordered lists of fields (summary fields, the grid's
context and columns) and child numbering.

Each is read back from the posted form into the draft faithfully (what the
admin did not touch stays as written) and has its own buttons (add a row,
move it, remove it). What the rows may hold is the type service's to say:
a rule naming a missing field, a thirteenth summary field or a pattern without
``{parent}`` is refused with its message, shown next to the row.
"""

from __future__ import annotations

from typing import Any

from labledger.web.admin.common import Form, put
from labledger.web.admin.designer import key_for, swap

#: The ordered lists of field keys the designer edits: their form name -> where in the type.
FIELD_LISTS = {
    "summary": ("summary_fields",),
    "grid_context": ("grid", "context"),
    "grid_columns": ("grid", "columns"),
}


def field_list(draft: dict[str, Any], name: str) -> list[Any]:
    """The field keys of list ``name`` in the draft (the stored list itself, or a new one)."""
    *outer, key = FIELD_LISTS[name]
    holder: Any = draft
    for part in outer:
        holder = holder.get(part) if isinstance(holder, dict) else None
    found = holder.get(key) if isinstance(holder, dict) else None
    return found if isinstance(found, list) else []


def _set_field_list(draft: dict[str, Any], name: str, keys: list[Any]) -> None:
    """Store list ``name``; an empty one goes, and so does a grid left with no list."""
    *outer, key = FIELD_LISTS[name]
    if not outer:
        put(draft, key, keys, [])
        return
    (part,) = outer
    found = draft.get(part)
    holder: dict[str, Any] = found if isinstance(found, dict) else {}
    put(holder, key, keys, [])
    put(draft, part, holder, {})


def _dicts(draft: dict[str, Any], name: str) -> list[dict[str, Any]]:
    items = draft.get(name)
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def merge_lists(draft: dict[str, Any], form: Form) -> None:
    """Every list and setting of this module, updated from the form (in place)."""
    _merge_sections(draft, form)
    _merge_rules(draft, form)
    for name in FIELD_LISTS:
        _merge_field_list(draft, name, form)
    _merge_child_numbering(draft, form)


def _merge_sections(draft: dict[str, Any], form: Form) -> None:
    """Sections are edited in place; renaming one moves its fields along.

    A row whose key and label were both cleared is dropped, like a removed one.
    """
    old = _dicts(draft, "sections")
    rows = []
    for index in range(form.count("section_count")):
        key, label = form.text(f"section_key_{index}"), form.text(f"section_label_{index}")
        if not key and not label:
            continue
        row = dict(old[index]) if index < len(old) else {}
        previous = row.get("key")
        put(row, "key", key or None)
        put(row, "label", label or None)
        rows.append(row)
        if previous and key and previous != key:
            for fdef in draft["fields"]:
                if fdef.get("section") == previous:
                    fdef["section"] = key
    put(draft, "sections", rows, [])


def _merge_rules(draft: dict[str, Any], form: Form) -> None:
    """The rules: expression, message and the fields each is shown on. A rule stays
    until it is removed, so one just added survives other buttons before it is filled
    in (the preview says what it still lacks)."""
    old = _dicts(draft, "rules")
    rows = []
    for index in range(form.count("rule_count")):
        row = dict(old[index]) if index < len(old) else {}
        row["expression"] = form.text(f"rule_expression_{index}")
        row["message"] = form.text(f"rule_message_{index}")
        put(row, "fields", form.keys(f"rule_fields_{index}", row.get("fields")), [])
        rows.append(row)
    put(draft, "rules", rows, [])


def _merge_field_list(draft: dict[str, Any], name: str, form: Form) -> None:
    """A list of fields, one chosen field per row, in the order shown (untouched when the
    form does not show it)."""
    if not form.has(f"{name}_count"):
        return
    keys = [form.text(f"{name}_{index}") for index in range(form.count(f"{name}_count"))]
    _set_field_list(draft, name, [key for key in keys if key])


def _merge_child_numbering(draft: dict[str, Any], form: Form) -> None:
    """Child numbering: the parent reference and the pattern; both cleared removes it."""
    if not form.has("child_field"):
        return
    old = draft.get("child_numbering")
    numbering = dict(old) if isinstance(old, dict) else {}
    put(numbering, "field", form.text("child_field") or None)
    put(numbering, "pattern", form.text("child_pattern") or None)
    put(draft, "child_numbering", numbering, {})


def apply_list_op(draft: dict[str, Any], name: str, index: int | None, form: Form) -> bool:
    """Apply a button of these lists (``add_rule``, ``summary_up:2``...); whether it was one."""
    if name == "add_section":
        sections = draft.setdefault("sections", [])
        number = len(sections) + 1
        label = form.text("new_section_label") or f"Section {number}"
        sections.append({"key": key_for(label, f"section_{number}", sections), "label": label})
    elif name == "add_rule":
        draft.setdefault("rules", []).append({"expression": "", "message": ""})
    elif name.startswith("add_") and name[4:] in FIELD_LISTS:
        key = form.text(f"new_{name[4:]}")
        if key:
            _set_field_list(draft, name[4:], [*field_list(draft, name[4:]), key])
    elif index is None:
        return False
    elif name == "remove_section":
        _remove_section(draft, index)
    elif name == "remove_rule":
        _remove(draft, "rules", index)
    elif name.startswith("remove_") and name[7:] in FIELD_LISTS:
        keys = field_list(draft, name[7:])
        _set_field_list(draft, name[7:], [k for i, k in enumerate(keys) if i != index])
    elif name.endswith(("_up", "_down")) and name.rsplit("_", 1)[0] in FIELD_LISTS:
        listed, direction = name.rsplit("_", 1)
        swap(field_list(draft, listed), index, -1 if direction == "up" else 1)
    else:
        return False
    return True


def _remove(draft: dict[str, Any], name: str, index: int) -> None:
    items = draft.get(name)
    if isinstance(items, list) and index < len(items):
        del items[index]


def _remove_section(draft: dict[str, Any], index: int) -> None:
    sections = draft.get("sections") or []
    if index >= len(sections):
        return
    gone = sections.pop(index).get("key")
    for fdef in draft["fields"]:
        if fdef.get("section") == gone:
            del fdef["section"]
