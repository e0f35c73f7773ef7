"""The type designer says everything the type service can: rules across fields, default
expressions, child numbering, multiple references, summary fields and alarm values,
with the live preview showing each and every problem placed in words."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import TEST_PASSWORD
from tests.definitions import add_roles, batch_type, measurement_type
from tests.web.helpers import sign_in
from tests.web.test_admin_types import (
    ADMIN_PERMISSIONS,
    config_rows,
    current,
    designer,
    form_dict,
    post_form,
)

FIELD_KEYS = [f["key"] for f in measurement_type()["fields"]]


def field_index(key: str) -> int:
    return FIELD_KEYS.index(key)


def draft_of(page: str) -> dict[str, Any]:
    return json.loads(form_dict(page)["draft"])


def preview(client: Any, page: str, **change: Any) -> str:
    response = post_form(client, page, "/admin/types/preview", change=change)
    assert response.status_code == 200, response.text
    return response.text


@pytest.fixture
def measurement_page(client, db, make_person, publish) -> str:
    """The measurement type (a reference to batch, a yes/no computed flag) in the designer."""
    add_roles(db, "analyst", "reviewer")
    publish(batch_type())
    publish(measurement_type())
    make_person("ada", "configurer", permissions=ADMIN_PERMISSIONS)
    sign_in(client, "ada", TEST_PASSWORD)
    return client.get("/admin/types/measurement").text


def test_an_admin_adds_a_rule_a_default_child_numbering_summary_and_alarm(
    client, db, measurement_page
):
    page = designer(client, measurement_page, "add_rule")
    page = designer(
        client,
        page,
        f"select:{field_index('measured_on')}",
        rule_expression_0="high >= low",
        rule_message_0="The high limit is below the low limit.",
        rule_fields_0=["high", "low"],
    )
    page = designer(
        client,
        page,
        f"select:{field_index('out_of_limits')}",
        f_default_expression="today()",
    )
    assert 'name="f_alarm"' in page, "a yes/no result offers its alarm value"
    page = designer(client, page, "add_summary", f_alarm="no", new_summary="name")
    for key in ("value", "out_of_limits"):
        page = designer(client, page, "add_summary", new_summary=key)
    page = designer(client, page, "summary_up:2")
    page = designer(
        client, page, "remove_summary:2", child_field="batch", child_pattern="{parent}-M{##}"
    )
    text = preview(client, page)
    glance = text.split('id="pv-summary">')[1].split("</dd>")[0]
    assert "Name · Out of limits" in glance and "Value" not in glance
    assert "<code>{parent}-M{##}</code>" in text and "a record whose Batch is set" in text
    assert "The high limit is below the low limit." in text
    assert "When left empty: <code>today()</code>" in text
    assert "⚑ No is the alarm" in text
    assert "Ready to publish" not in text and "Unpublished changes" in text

    page = designer(client, page, "publish")
    assert "Published version 2." in page
    stored = current(db, "measurement")[1]
    assert stored["rules"] == [
        {
            "expression": "high >= low",
            "message": "The high limit is below the low limit.",
            "fields": ["high", "low"],
        }
    ]
    assert stored["summary_fields"] == ["name", "out_of_limits"]
    assert stored["child_numbering"] == {"field": "batch", "pattern": "{parent}-M{##}"}
    fields = {f["key"]: f for f in stored["fields"]}
    assert fields["measured_on"]["default_expression"] == "today()"
    assert fields["out_of_limits"]["alarm"] is False


@pytest.mark.parametrize(
    ("choice", "stored"), [("yes", "absent"), ("no", False), ("neither", None)]
)
def test_the_alarm_value_is_stored_as_json(client, db, measurement_page, choice, stored):
    index = field_index("out_of_limits")
    page = designer(client, measurement_page, f"select:{index}")
    page = designer(client, page, "publish", f_alarm=choice)
    field = current(db, "measurement")[1]["fields"][index]
    if stored == "absent":
        assert "alarm" not in field and "Nothing changed" in page
    else:
        assert field["alarm"] is stored


def test_a_result_type_that_is_not_yes_or_no_takes_no_alarm(client, measurement_page):
    page = designer(client, measurement_page, f"select:{field_index('out_of_limits')}")
    page = designer(client, page, None, f_alarm="no")
    assert draft_of(page)["fields"][field_index("out_of_limits")]["alarm"] is False
    page = designer(client, page, None, f_result_type="number")
    assert "alarm" not in draft_of(page)["fields"][field_index("out_of_limits")]
    assert 'data-shown-when="f_result_type=boolean" hidden>' in page, "no alarm value shown"


def test_a_reference_field_may_hold_several_records(client, db, measurement_page):
    index = field_index("batch")
    page = designer(client, measurement_page, f"select:{index}")
    assert 'name="f_multiple"' in page
    page = designer(client, page, "publish", f_multiple="1", f_filterable=None)
    assert "Published version 2." in page
    assert current(db, "measurement")[1]["fields"][index] == {
        "key": "batch",
        "label": "Batch",
        "type": "reference",
        "to": "batch",
        "multiple": True,
    }
    assert "Holds several batch records." in page


def test_bad_input_gets_messages_in_words_next_to_its_inputs(client, db, measurement_page):
    """The service's checks, placed for people: no 500, no JSON path, nothing stored."""
    page = designer(client, measurement_page, "add_rule")
    page = designer(client, page, f"select:{field_index('batch')}")
    before = config_rows(db)
    response = post_form(
        client,
        page,
        "/admin/types/designer",
        op="publish",
        change={
            "rule_expression_0": "hgh > low",
            "rule_message_0": "<script>alert('rule')</script>",
            "child_field": "batch",
            "child_pattern": "M-{##}",
            "f_multiple": "1",
        },
    )
    assert response.status_code == 422
    text = response.text
    assert "unknown name &#39;hgh&#39;" in text.split('id="rule_expression_0-error"')[1]
    assert "needs {parent} and exactly one counter" in text.split('id="child_pattern-error"')[1]
    for placed in (
        "Rule 1, expression</span>: unknown name",
        "Child numbering, pattern</span>: needs {parent}",
        "Field 3 (Batch), several records</span>: a multiple reference cannot be unique",
    ):
        assert placed in text, placed
    assert "&lt;script&gt;alert(&#39;rule&#39;)&lt;/script&gt;" in text
    assert "<script>alert" not in text
    assert "rules[0]" not in text and "fields[2]" not in text
    assert config_rows(db) == before and current(db, "measurement")[0] == 1


def test_more_than_twelve_summary_fields_are_refused(client, db, measurement_page):
    before = config_rows(db)
    change = {"summary_count": "13", **{f"summary_{i}": FIELD_KEYS[i] for i in range(13)}}
    response = post_form(
        client, measurement_page, "/admin/types/designer", op="publish", change=change
    )
    assert response.status_code == 422
    assert "Summary fields</span>: takes at most 12 item(s)" in response.text
    assert config_rows(db) == before


def test_a_limit_problem_names_the_field_by_position_and_label(client, measurement_page):
    index = field_index("value")
    page = designer(client, measurement_page, f"select:{index}")
    text = preview(client, page, f_min="2000")
    assert "Field 5 (Value), minimum</span>: must not be greater than max" in text


def test_a_problem_of_the_type_s_workflow_is_placed_in_its_words(client, db, make_person, publish):
    from tests.web.test_admin_workflows import publish_flow

    add_roles(db, "analyst")
    flow = {
        "key": "batch_flow",
        "label": "Batch flow",
        "states": [
            {"key": "open", "label": "Open", "initial": True},
            {"key": "made", "label": "Made", "required": ["made_on"]},
        ],
        "transitions": [{"key": "make", "label": "Make", "from": ["open"], "to": "made"}],
    }
    publish_flow(db, flow)
    publish(batch_type(workflow="batch_flow"))
    make_person("ada", "configurer", permissions=ADMIN_PERMISSIONS)
    sign_in(client, "ada", TEST_PASSWORD)
    page = client.get("/admin/types/batch").text
    response = post_form(client, page, "/admin/types/designer", op="remove:3")
    text = preview(client, response.text)
    assert (
        "Workflow</span>: workflow &#39;batch_flow&#39;, state 2 (Made): "
        "names unknown field &#39;made_on&#39; (for type &#39;batch&#39;)"
    ) in text
    assert "states[1]" not in text


def test_designer_posts_without_the_csrf_token_are_refused(client, db, measurement_page):
    before = config_rows(db)
    response = post_form(
        client,
        measurement_page,
        "/admin/types/designer",
        op="publish",
        change={"_csrf_token": None, "label": "Forged"},
    )
    assert response.status_code == 403
    assert config_rows(db) == before and current(db, "measurement")[1]["label"] == "Measurement"


@pytest.mark.parametrize(
    "broken",
    [
        {"rules": "x", "summary_fields": 5, "child_numbering": "x"},
        {"rules": [5, {"expression": 3, "fields": "value"}], "summary_fields": [1, None]},
        {"child_numbering": {"field": 7}, "fields": [{"key": "f", "label": 5, "alarm": "?"}]},
        {
            "fields": [
                {"key": "ok", "label": "OK", "type": "computed", "alarm": [], "result_type": 3},
                {"key": "ref", "label": "Ref", "type": "reference", "multiple": "y"},
            ]
        },
    ],
)
def test_a_damaged_draft_is_answered_with_messages_never_a_500(client, measurement_page, broken):
    draft = {**draft_of(measurement_page), **broken}
    for url, op in (("/admin/types/preview", None), ("/admin/types/designer", "publish")):
        for editing in (None, "0", "1"):
            change = {"draft": json.dumps(draft), "editing": editing, "rule_count": "2"}
            response = post_form(client, measurement_page, url, op=op, change=change)
            assert response.status_code in (200, 422), (url, editing, response.text[:2000])


def test_an_admin_lays_out_the_grid_and_offers_answers_from_another_field(
    client, db, measurement_page
):
    page = designer(client, measurement_page, "add_grid_context", new_grid_context="name")
    for key in ("value", "low", "high"):
        page = designer(client, page, "add_grid_columns", new_grid_columns=key)
    page = designer(client, page, "grid_columns_down:0")
    page = designer(client, page, "remove_grid_columns:2")
    assert 'name="f_options_from"' not in page, "no text field is open yet"
    page = designer(client, page, f"select:{field_index('name')}")
    assert '<option value="comment">Comment (comment)</option>' in page, "other text fields"
    page = designer(client, page, "publish", f_options_from="comment")
    assert "Published version 2." in page, page
    stored = current(db, "measurement")[1]
    assert stored["grid"] == {"context": ["name"], "columns": ["low", "value"]}
    assert next(f for f in stored["fields"] if f["key"] == "name")["options_from"] == "comment"


def test_a_grid_column_that_is_also_context_is_refused_in_words(client, db, measurement_page):
    page = designer(client, measurement_page, "add_grid_context", new_grid_context="value")
    page = designer(client, page, "add_grid_columns", new_grid_columns="value")
    refused = post_form(client, page, "/admin/types/designer", op="publish")
    assert refused.status_code == 422
    assert "is a context column already" in refused.text
    assert "grid.columns[0]" not in refused.text, "placed in words, not a path"
