"""Where a problem sits, in the designers' words: positions counted from one, items by
their labels, options by the editor's names -- never a zero-based JSON path."""

from __future__ import annotations

import pytest

from labledger.web.admin.locations import TYPE_WORDS, WORKFLOW_WORDS, place

TYPE = {
    "fields": [
        {"key": "sample", "label": "Sample"},
        {"key": "analysis"},
        {
            "key": "value",
            "label": "Value",
            "options": [{"value": "x", "label": "Lab X"}],
        },
        {"key": "remarks", "label": "R" * 60},
    ],
    "rules": [{"expression": "value > 0", "message": "Positive", "fields": ["value"]}],
}
WORKFLOW = {
    "states": [{"key": "draft", "label": "Draft"}, {"key": "in_review"}],
    "transitions": [
        {"key": "submit", "label": "Submit"},
        {"key": "review", "label": "Review", "actions": [{"type": "set"}]},
    ],
}


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("fields[2].min", "Field 3 (Value), minimum"),
        ("fields[1].default_expression", "Field 2 (analysis), default expression"),
        ("fields[2].options[0].value", "Field 3 (Value), option 1 (Lab X), value"),
        ("fields[3].label", f"Field 4 ({'R' * 39}…), label"),
        ("fields[9].key", "Field 10, key"),
        ("rules[0].fields[0]", "Rule 1, fields it is shown on, item 1"),
        ("summary_fields[12]", "Summary fields, item 13"),
        ("child_numbering.field", "Child numbering, parent reference"),
        ("permissions.edit[1]", "Permissions, edit, item 2"),
        ("numbering", "Numbering"),
        ("cr_reason", "Reason of the new change request"),
        ("(document)", "The definition"),
    ],
)
def test_a_type_path_in_words(path, words):
    assert place(path, TYPE, TYPE_WORDS) == words


@pytest.mark.parametrize(
    ("path", "words"),
    [
        (
            "transitions[1].separation.authors_of[0]",
            "Transition 2 (Review), separation, authored fields, item 1",
        ),
        ("transitions[1].confirm.when", "Transition 2 (Review), confirmation, condition"),
        ("transitions[0].requires_fields", "Transition 1 (Submit), fields required first"),
        ("transitions[1].actions[0].field", "Transition 2 (Review), action 1, field"),
        (
            "transitions[1].separation.transitions[0]",
            "Transition 2 (Review), separation, earlier transitions, item 1",
        ),
        ("states[1]", "State 2 (in_review)"),
        ("states[0].required[2]", "State 1 (Draft), fields required to enter, item 3"),
        ("states", "States"),
    ],
)
def test_a_workflow_path_in_words(path, words):
    assert place(path, WORKFLOW, WORKFLOW_WORDS) == words


@pytest.mark.parametrize("document", [None, [], {"fields": "x"}, {"fields": [5]}])
def test_a_broken_draft_still_gives_positions(document):
    assert place("fields[0].key", document, TYPE_WORDS) == "Field 1, key"
