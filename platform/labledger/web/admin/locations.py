"""Where a problem sits in a definition, in the designer's words.

The services locate every problem by a JSON path with positions counted from
zero (``fields[2].min``), and the API keeps those paths. The designers show
the same place as people read it: the item by its position counted from one
and its label, then the option by the name the editor gives it
("Field 3 (Value), minimum"), so nobody has to count from zero.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from labledger.web.admin.type_fields import OPTIONS

#: One step of a path: a member's name, or a position in a list.
_STEP = re.compile(r"\[(\d+)\]|([^.\[\]]+)")
#: The longest label quoted in a location.
_LABEL_CHARS = 40
#: The inputs of the change request a designer can save into (web/admin/proposing.py).
_CHANGE_REQUEST_WORDS = {
    "change_request": "change request",
    "cr_title": "title of the new change request",
    "cr_reason": "reason of the new change request",
}


@dataclass(frozen=True)
class Vocabulary:
    """The words of one designer for the parts of its definition."""

    #: Lists whose items have a label, by name: the word for one item.
    items: Mapping[str, str]
    #: The words for a member by its name, or by ``holder.name`` where the list or
    #: member holding it changes its meaning (a rule's ``fields``).
    words: Mapping[str, str]

    def lists(self, holder: str, name: str) -> bool:
        """Whether ``name`` inside ``holder`` is a list of labelled items (a rule's
        ``fields`` is a list of keys, unlike the type's)."""
        return name in self.items and f"{holder}.{name}" not in self.words

    def word(self, holder: str, name: str) -> str:
        return (
            self.words.get(f"{holder}.{name}")
            or self.words.get(name)
            or _CHANGE_REQUEST_WORDS.get(name)
            or name.replace("_", " ")
        )


def place(path: str, document: Any, vocabulary: Vocabulary) -> str:
    """``path`` (``transitions[1].separation.authors_of[0]``) in words, reading labels
    from ``document``: "Transition 2 (Review), separation, authored fields, item 1"."""
    steps: list[tuple[str, str]] = _STEP.findall(path)
    if not steps or path == "(document)":
        return "The definition"
    phrases: list[str] = []
    node, holder, position = document, "", 0
    while position < len(steps):
        index, name = steps[position]
        position += 1
        if index:
            phrases.append(f"item {int(index) + 1}")
            node = _at(node, int(index))
            continue
        following = steps[position][0] if position < len(steps) else ""
        if following and vocabulary.lists(holder, name):
            position += 1
            node = _at(_member(node, name), int(following))
            phrases.append(_item(vocabulary.items[name], int(following), node))
        else:
            phrases.append(vocabulary.word(holder, name))
            node = _member(node, name)
        holder = name
    text = ", ".join(phrases)
    return text[:1].upper() + text[1:]


def _member(node: Any, name: str) -> Any:
    return node.get(name) if isinstance(node, dict) else None


def _at(node: Any, index: int) -> Any:
    return node[index] if isinstance(node, list) and index < len(node) else None


def _item(noun: str, index: int, item: Any) -> str:
    """An item by its position, counted from one, and its label (or key) if it has one."""
    label = next(
        (item[k] for k in ("label", "key") if isinstance(item, dict) and item.get(k)), None
    )
    if not isinstance(label, str):
        return f"{noun} {index + 1}"
    if len(label) > _LABEL_CHARS:
        label = label[: _LABEL_CHARS - 1] + "…"
    return f"{noun} {index + 1} ({label})"


TYPE_WORDS = Vocabulary(
    items={"fields": "field", "rules": "rule", "sections": "section", "options": "option"},
    words={
        **{f"fields.{name}": o.label.lower() for name, o in OPTIONS.items() if name != "options"},
        "title": "title template",
        "workflow": "workflow",
        "due_field": "due date field",
        "summary_fields": "summary fields",
        "require_reason": "every change needs a reason",
        "child_numbering": "child numbering",
        "child_numbering.field": "parent reference",
        "child_numbering.pattern": "pattern",
        "rules.fields": "fields it is shown on",
        "fields.type": "type",
    },
)

WORKFLOW_WORDS = Vocabulary(
    items={"states": "state", "transitions": "transition", "actions": "action"},
    words={
        "states.editable": "editable fields",
        "states.required": "fields required to enter",
        "roles": "roles allowed",
        "guard_message": "message when the guard is false",
        "requires_fields": "fields required first",
        "reason_required": "a reason is required",
        "signature.meaning": "meaning",
        "separation.creator": "not the record's creator",
        "separation.transitions": "earlier transitions",
        "authors_of": "authored fields",
        "separation.message": "refusal message",
        "confirm": "confirmation",
        "confirm.when": "condition",
        "record_type": "type to create",
        "link_field": "link field",
        "for_each": "for each",
        "actions.fields": "field values",
        "reference": "reference field",
        "actions.transition": "transition to run there",
    },
)
