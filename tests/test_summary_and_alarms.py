"""A type's summary fields (what a record is at a glance) and which value of a computed
yes/no is its alarm: both checked when published, the alarm shown as a flag only at its
alarm value."""

from __future__ import annotations

from typing import Any

import pytest

from labledger.errors import ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.metadata.types import definition_context, publish_type
from tests.conftest import TEST_PASSWORD
from tests.web.helpers import sign_in
from tests.web.record_fixtures import create, make_lab, result_type


@pytest.fixture
def lab(db, make_person):
    return make_lab(db, make_person)


def _refused(db, definition: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        publish_type(conn, SYSTEM, definition, context=definition_context(conn, "result"))
    return [(e.field, e.message) for e in refused.value.errors]


def _with_within_limit(alarm: Any) -> dict[str, Any]:
    """The result type with a yes/no that is good when yes, its alarm as given."""
    definition = result_type()
    definition["fields"].append(
        {
            "key": "within_limit",
            "label": "Within limit",
            "type": "computed",
            "result_type": "boolean",
            "expression": "value >= low and value <= high",
            "alarm": alarm,
        }
    )
    return definition


def test_summary_fields_must_be_fields_of_the_type_each_once(db, lab):
    assert _refused(db, result_type(summary_fields=["test", "valeu", "test"])) == [
        ("summary_fields[1]", "there is no field 'valeu'"),
        ("summary_fields[2]", "'test' is listed twice"),
    ]


def test_only_a_yes_no_result_has_an_alarm(db, lab):
    definition = result_type()
    definition["fields"].append(
        {
            "key": "deviation",
            "label": "Deviation",
            "type": "computed",
            "result_type": "number",
            "expression": "value - high",
            "alarm": True,
        }
    )
    assert _refused(db, definition) == [
        (
            f"fields[{len(definition['fields']) - 1}].alarm",
            "only a yes/no result can raise an alarm",
        )
    ]


@pytest.mark.parametrize(
    ("alarm", "value", "flagged"),
    [
        (False, 7, True),  # no is the alarm: out of limits is flagged
        (False, 3, False),
        (None, 7, False),  # neither value is an alarm
        (True, 3, True),  # yes is the alarm
    ],
)
def test_a_computed_yes_no_is_flagged_only_at_its_alarm_value(
    db, client, lab, alarm, value, flagged
):
    with db.write() as conn:
        publish_type(
            conn, SYSTEM, _with_within_limit(alarm), context=definition_context(conn, "result")
        )
    data = {"test": "pH", "value": value, "explanation": "Checked."}
    result = create(db, lab.analyst, "result", data if value > 5 else data | {"explanation": None})
    sign_in(client, "ann", TEST_PASSWORD)
    page = client.get(f"/records/result/{result['id']}").text
    within = "Yes" if 1 <= value <= 5 else "No"
    assert (f'<span class="flag">{within}</span>' in page) is flagged
