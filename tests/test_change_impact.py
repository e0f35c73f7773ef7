"""A proposed change's impact on the records stored now: counts per state, the states
whose rules change, and the open records the new rules would refuse."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from labledger.changes.impact import (
    LISTED_RECORDS,
    FailingRecord,
    Problem,
    StateCount,
    StateRulesChange,
    TypeImpact,
    change_impact,
)
from labledger.db.engine import Database
from labledger.errors import ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.records.create import RecordBatch
from labledger.records.service import create_record
from labledger.workflows.definitions import publish_workflow
from tests.definitions import add_roles, batch_type

FLOW: dict[str, Any] = {
    "key": "sample_flow",
    "label": "Sample flow",
    "states": [
        {"key": "registered", "label": "Registered", "initial": True},
        {
            "key": "testing",
            "label": "Testing",
            "editable": ["lab", "ph", "method", "tags", "notes", "reviewer"],
            "required": ["ph"],
        },
        {"key": "review", "label": "In review", "editable": ["reviewer"]},
        {"key": "approved", "label": "Approved", "final": True, "editable": "none"},
        {"key": "cancelled", "label": "Cancelled", "final": True, "editable": "none"},
    ],
    "transitions": [
        {"key": "start", "label": "Start", "from": ["registered"], "to": "testing"},
        {"key": "submit", "label": "Submit", "from": ["testing"], "to": "review"},
        {"key": "approve", "label": "Approve", "from": ["review"], "to": "approved"},
        {"key": "cancel", "label": "Cancel", "from": ["registered", "testing"], "to": "cancelled"},
    ],
}

SAMPLE: dict[str, Any] = {
    "key": "sample",
    "label": "Sample",
    "plural": "Samples",
    "numbering": "S-{#####}",
    "workflow": "sample_flow",
    "permissions": {"read": ["*"], "create": ["*"], "edit": ["*"]},
    "fields": [
        {"key": "name", "label": "Name", "type": "text", "required": True},
        {"key": "lab", "label": "Lab", "type": "text"},
        {"key": "ph", "label": "pH", "type": "decimal", "min": 0, "max": 14},
        {
            "key": "method",
            "label": "Method",
            "type": "choice",
            "options": [
                {"value": "hplc", "label": "HPLC"},
                {"value": "gc", "label": "GC"},
                {"value": "titration", "label": "Titration"},
            ],
        },
        {
            "key": "tags",
            "label": "Tags",
            "type": "multi_choice",
            "options": [
                {"value": "urgent", "label": "Urgent"},
                {"value": "repeat", "label": "Repeat"},
            ],
        },
        {"key": "notes", "label": "Notes", "type": "text", "max_length": 200},
        {"key": "reviewer", "label": "Reviewer", "type": "text"},
    ],
}

#: Make a sample in a state with the given values; returns its number.
MakeSample = Callable[..., str]


@pytest.fixture
def make_sample(db: Database, publish: Callable[[dict[str, Any]], int]) -> MakeSample:
    """The sample type and its workflow published; records made straight into a state."""
    with db.write() as conn:
        publish_workflow(conn, SYSTEM, FLOW)
    publish(SAMPLE)

    def make(state: str = "registered", **data: Any) -> str:
        with db.write() as conn:
            view = create_record(conn, SYSTEM, "sample", {"name": "s", **data}, state=state)
        number: str = view["number"]
        return number

    return make


def sample_with(**changes: Any) -> dict[str, Any]:
    """The sample type with some fields' attributes changed (None: the attribute removed)."""
    definition = copy.deepcopy(SAMPLE)
    for fdef in definition["fields"]:
        for attribute, value in changes.get(fdef["key"], {}).items():
            if value is None:
                fdef.pop(attribute, None)
            else:
                fdef[attribute] = value
    return definition


def impact_of(db: Database, *items: tuple[str, dict[str, Any]]) -> list[TypeImpact]:
    proposed = {(kind, body["key"]): body for kind, body in items}
    with db.read() as conn:
        return change_impact(conn, proposed)


def sample_impact(db: Database, *items: tuple[str, dict[str, Any]]) -> TypeImpact:
    (impact,) = impact_of(db, *items)
    assert impact.type_key == "sample"
    return impact


def test_counts_records_per_state_labelled_by_the_proposed_workflow(
    db: Database, make_sample: MakeSample, publish: Callable[[dict[str, Any]], int]
) -> None:
    add_roles(db, "analyst")
    publish(batch_type())  # follows no workflow: not touched by a workflow change
    for state in ("registered", "registered", "testing", "review", "approved"):
        make_sample(state)
    flow = copy.deepcopy(FLOW)
    flow["states"][1]["label"] = "Under test"
    del flow["states"][2]  # review
    flow["transitions"] = [t for t in flow["transitions"] if t["key"] not in ("submit", "approve")]

    impact = sample_impact(db, ("workflow", flow), ("role", {"key": "ignored"}))

    assert (impact.label, impact.records) == ("Sample", 5)
    assert impact.states == (
        StateCount("registered", "Registered", 2, final=False, removed=False),
        StateCount("testing", "Under test", 1, final=False, removed=False),
        StateCount("approved", "Approved", 1, final=True, removed=False),
        StateCount("review", "In review", 1, final=False, removed=True),
    )
    assert StateRulesChange("review", "In review", ("the state is removed",), 1) in (
        impact.changed_states
    )


def test_a_new_required_field_lists_the_open_records_without_a_value(
    db: Database, make_sample: MakeSample
) -> None:
    make_sample("registered", lab="North")
    lacking = [make_sample("registered"), make_sample("testing", notes="x")]
    make_sample("approved")  # final: the new rule does not reach it

    impact = sample_impact(db, ("object_type", sample_with(lab={"required": True})))

    assert impact.problems == (Problem("lab", "required", 'no value for "Lab"', 2),)
    assert impact.failing == 2
    assert impact.listed == (
        FailingRecord(lacking[0], "registered", ('no value for "Lab"',)),
        FailingRecord(lacking[1], "testing", ('no value for "Lab"',)),
    )


def test_a_tightened_limit_lists_only_the_records_outside_it(
    db: Database, make_sample: MakeSample
) -> None:
    for ph in (7.0, 9.0, 2):
        make_sample("testing", ph=ph)
    high, low = make_sample("testing", ph=9.1), make_sample("registered", ph=1.5)
    make_sample("approved", ph=13.2)

    impact = sample_impact(db, ("object_type", sample_with(ph={"min": 2, "max": 9.0})))

    assert impact.problems == (
        Problem("ph", "minimum", '"pH" below the new minimum 2', 1),
        Problem("ph", "maximum", '"pH" above the new maximum 9.0', 1),
    )
    assert impact.listed == (
        FailingRecord(high, "testing", ('"pH" 9.1 above the new maximum 9.0',)),
        FailingRecord(low, "registered", ('"pH" 1.5 below the new minimum 2',)),
    )
    loosened = sample_impact(db, ("object_type", sample_with(ph={"min": None, "max": 20})))
    assert (loosened.problems, loosened.failing, loosened.listed) == ((), 0, ())


def test_a_shorter_maximum_length_lists_the_longer_texts(
    db: Database, make_sample: MakeSample
) -> None:
    make_sample("testing", notes="short")
    long = make_sample("testing", notes="too long")

    impact = sample_impact(db, ("object_type", sample_with(notes={"max_length": 5})))

    assert impact.listed == (
        FailingRecord(
            long, "testing", ('"Notes" has 8 characters, more than the new maximum of 5',)
        ),
    )


def test_a_removed_option_lists_the_records_holding_it(
    db: Database, make_sample: MakeSample
) -> None:
    make_sample("testing", method="hplc", tags=["urgent"])
    gc = make_sample("testing", method="gc")
    repeat = make_sample("registered", tags=["urgent", "repeat"])
    make_sample("cancelled", method="gc", tags=["repeat"])
    options = copy.deepcopy(SAMPLE["fields"][3]["options"])
    del options[1]  # gc

    impact = sample_impact(
        db,
        (
            "object_type",
            sample_with(
                method={"options": options}, tags={"options": [{"value": "urgent", "label": "U"}]}
            ),
        ),
    )

    assert impact.problems == (
        Problem("method", "options", '"Method" holding an option taken away ("gc")', 1),
        Problem("tags", "options", '"Tags" holding an option taken away ("repeat")', 1),
    )
    assert impact.listed == (
        FailingRecord(gc, "testing", ('"Method" "gc" no longer among the options',)),
        FailingRecord(repeat, "registered", ('"Tags" "repeat" no longer among the options',)),
    )


def test_a_state_rules_change_names_the_states_and_what_they_now_require(
    db: Database, make_sample: MakeSample
) -> None:
    # Testing already requires a pH these lack (they were made straight into the
    # state): not the change's doing, so not listed.
    for state in ("registered", "testing", "testing"):
        make_sample(state)
    make_sample("review", reviewer="Rob")
    unreviewed = make_sample("review")
    flow = copy.deepcopy(FLOW)
    flow["states"][1]["editable"] = ["ph"]
    flow["states"][2]["required"] = ["reviewer"]
    flow["transitions"][3]["reason_required"] = True  # cancel, out of registered and testing

    impact = sample_impact(db, ("workflow", flow))

    assert impact.changed_states == (
        StateRulesChange("registered", "Registered", ("the transitions out of it change",), 1),
        StateRulesChange(
            "testing",
            "Testing",
            ("the fields editable in it change", "the transitions out of it change"),
            2,
        ),
        StateRulesChange("review", "In review", ("the fields required in it change",), 2),
    )
    assert impact.records_in_changed_states == 5
    assert impact.problems == (
        Problem("reviewer", "required", 'no value for "Reviewer", required in "In review"', 1),
    )
    assert impact.listed == (FailingRecord(unreviewed, "review", ('no value for "Reviewer"',)),)


def test_lists_at_most_the_cap_and_counts_every_failing_record(
    db: Database, make_sample: MakeSample
) -> None:
    with db.write() as conn:
        batch = RecordBatch(conn, SYSTEM, "sample")
        for i in range(LISTED_RECORDS + 3):
            batch.add({"name": f"s{i}"})
        numbers = [view["number"] for view in batch.store()]

    impact = sample_impact(db, ("object_type", sample_with(lab={"required": True})))

    assert impact.failing == LISTED_RECORDS + 3
    assert impact.problems[0].records == LISTED_RECORDS + 3
    assert [failing.number for failing in impact.listed] == numbers[:LISTED_RECORDS]


def test_a_proposed_definition_that_does_not_decode_is_refused_with_its_path(
    db: Database, make_sample: MakeSample
) -> None:
    broken = sample_with(ph={"max": "high"})
    with pytest.raises(ValidationFailed) as refused:
        impact_of(db, ("object_type", broken))
    assert refused.value.errors[0].field == "object_type.sample.fields[2].max"

    with db.read() as conn, pytest.raises(ValidationFailed) as refused:
        change_impact(conn, {("object_type", "other"): SAMPLE})
    assert refused.value.errors[0].field == "object_type.other.key"
