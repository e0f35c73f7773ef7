"""The workflow designer picks fields, states and roles instead of taking typed names,
edits per-state field lists and confirmations, and checks a draft against every type
that uses the workflow -- in its live preview as publishing does."""

from __future__ import annotations

import json
from typing import Any

import pytest

from labledger.errors import ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.metadata.types import definition_context, publish_type
from labledger.workflows.definitions import publish_workflow
from tests.conftest import TEST_PASSWORD
from tests.definitions import add_roles, batch_type
from tests.web.helpers import sign_in
from tests.web.test_admin_types import ADMIN_PERMISSIONS, config_rows, form_dict, post_form
from tests.web.test_admin_workflows import current, designer, publish_flow
from tests.workflow_definitions import JOB_FLOW, TASK_FLOW, job_type, task_type

BATCH_FLOW: dict[str, Any] = {
    "key": "batch_flow",
    "label": "Batch flow",
    "states": [
        {"key": "open", "label": "Open", "initial": True},
        {"key": "in_review", "label": "In review"},
        {"key": "released", "label": "Released", "final": True, "editable": "none"},
    ],
    "transitions": [
        {"key": "send", "label": "Send to review", "from": ["open"], "to": "in_review"},
        {"key": "release", "label": "Release", "from": ["in_review"], "to": "released"},
    ],
}


def preview(client: Any, page: str, **change: Any) -> str:
    response = post_form(client, page, "/admin/workflows/preview", change=change)
    assert response.status_code == 200, response.text
    return response.text


@pytest.fixture
def flow_page(client, db, make_person, publish) -> str:
    """BATCH_FLOW, used by the batch type, open in the designer."""
    add_roles(db, "analyst", "qa")
    publish_flow(db, BATCH_FLOW)
    publish(batch_type(workflow="batch_flow"))
    make_person("ada", "configurer", permissions=ADMIN_PERMISSIONS)
    sign_in(client, "ada", TEST_PASSWORD)
    return client.get("/admin/workflows/batch_flow").text


def test_fields_are_picked_from_the_types_that_use_the_workflow(client, db, flow_page):
    page = flow_page
    for key in ("code", "product", "quantity", "made_on"):
        assert f'name="state_required_1" value="{key}"' in page, key
    page = designer(client, page, "select:1", state_editable_1="list")
    assert 'name="state_fields_1" value="quantity"' in page, "'these fields' offers the fields"
    for name in ("t_requires_fields", "t_sep_authors_of"):
        assert f'name="{name}" value="product"' in page, name
    assert '<select id="a_field_0"' not in page
    page = designer(client, page, "add_action", new_action_type="set")
    assert '<select id="a_field_0" name="a_field_0"' in page
    page = designer(
        client,
        page,
        "publish",
        state_fields_1=["product", "quantity"],
        state_required_2=["made_on"],
        t_requires_fields=["product", "quantity"],
        t_roles=["qa"],
        t_sep_authors_of=["quantity"],
        a_field_0="made_on",
        a_expression_0="today()",
    )
    assert "Published version 2." in page, page
    stored = current(db, "batch_flow")[1]
    assert stored["states"][1]["editable"] == ["product", "quantity"]
    assert stored["states"][2]["required"] == ["made_on"]
    release = stored["transitions"][1]
    assert release["requires_fields"] == ["product", "quantity"]
    assert release["roles"] == ["qa"]
    assert release["separation"] == {"authors_of": ["quantity"]}
    assert release["actions"] == [{"type": "set", "field": "made_on", "expression": "today()"}]


def test_without_a_type_using_it_field_names_are_typed(client, db, make_person):
    add_roles(db, "analyst")
    make_person("ada", "configurer", permissions=ADMIN_PERMISSIONS)
    sign_in(client, "ada", TEST_PASSWORD)
    page = client.get("/admin/workflows/new").text
    assert "No type uses this workflow yet" in page
    assert '<input id="state_required_0" name="state_required_0"' in page
    page = designer(client, page, "add_transition", key="free_flow", label="Free flow")
    assert '<input id="t_requires_fields" name="t_requires_fields"' in page
    page = designer(client, page, "refresh", t_requires_fields="amount, lot")
    assert json.loads(form_dict(page)["draft"])["transitions"][0]["requires_fields"] == [
        "amount",
        "lot",
    ]


def test_each_state_edits_all_no_or_chosen_fields(client, db, flow_page):
    page = designer(client, flow_page, "refresh", state_editable_0="none")
    page = designer(client, page, "refresh", state_editable_1="list")
    page = designer(client, page, "publish", state_fields_1=["code"], state_editable_2="all")
    assert "Published version 2." in page
    states = current(db, "batch_flow")[1]["states"]
    assert [s.get("editable", "all") for s in states] == ["none", ["code"], "all"]


def test_a_transition_asks_for_a_confirmation(client, db, flow_page):
    page = designer(client, flow_page, "select:1")
    response = post_form(
        client,
        page,
        "/admin/workflows/designer",
        op="publish",
        change={"t_confirm_message": "The quantity is unusually large."},
    )
    assert response.status_code == 422
    assert "Transition 2 (Release), confirmation, condition</span>: is required" in response.text
    text = preview(client, page, t_confirm_when="quantty > 1000", t_confirm_message="Large!")
    assert (
        "Transition 2 (Release), confirmation, condition</span>: unknown name &#39;quantty&#39;"
    ) in text
    assert "The machine is consistent" not in text
    page = designer(
        client,
        page,
        "publish",
        t_confirm_when="quantity > 1000",
        t_confirm_message="The quantity is unusually large.",
    )
    assert "Published version 2." in page
    assert current(db, "batch_flow")[1]["transitions"][1]["confirm"] == {
        "when": "quantity > 1000",
        "message": "The quantity is unusually large.",
    }
    assert "asks to confirm when quantity &gt; 1000" in page
    page = designer(client, page, "publish", t_confirm_when="", t_confirm_message="")
    assert "confirm" not in current(db, "batch_flow")[1]["transitions"][1]


@pytest.mark.parametrize(
    ("change", "placed"),
    [
        (
            {"state_required_1": ["made_on", "mde_on"]},
            "State 2 (In review)</span>: names unknown field &#39;mde_on&#39; "
            "(for type &#39;batch&#39;)",
        ),
        (
            {"t_requires_fields": "prodct"},
            "Transition 1 (Send to review), fields required first</span>: names unknown field "
            "&#39;prodct&#39; (for type &#39;batch&#39;)",
        ),
    ],
)
def test_a_misspelt_field_is_not_consistent_and_is_not_published(
    client, db, flow_page, change, placed
):
    page = designer(client, flow_page, "select:0")
    text = preview(client, page, **change)
    assert "The machine is consistent" not in text
    assert placed in text
    before = config_rows(db)
    response = post_form(client, page, "/admin/workflows/designer", op="publish", change=change)
    assert response.status_code == 422
    assert placed in response.text and "Not published" in response.text
    assert config_rows(db) == before and current(db, "batch_flow")[0] == 1


def test_the_preview_says_which_types_the_workflow_fits(client, flow_page):
    text = preview(client, flow_page)
    assert "The machine is consistent and fits every type that uses it (Batch)." in text


def test_the_service_refuses_the_same_workflow_naming_the_type(db, flow_page):
    """The designer's check is publishing's: the service refuses it, by its JSON path."""
    broken = json.loads(json.dumps(BATCH_FLOW))
    broken["states"][1]["required"] = ["mde_on"]
    broken["transitions"][0]["requires_fields"] = ["prodct"]
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        publish_workflow(conn, SYSTEM, broken)
    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("states[1]", "names unknown field 'mde_on' (for type 'batch')"),
        ("transitions[0].requires_fields", "names unknown field 'prodct' (for type 'batch')"),
    ]


def test_roles_and_states_are_picked_and_unknown_ones_kept_visible(client, db, flow_page):
    page = designer(client, flow_page, "select:0")
    for role in ("*", "analyst", "qa"):
        assert f'id="t_roles_{role}" name="t_roles" value="{role}"' in page
    for state in ("open", "in_review", "released"):
        assert f'id="t_from_{state}" name="t_from" value="{state}"' in page
        assert f'<option value="{state}"' in page.split('id="t_to"')[1].split("</select>")[0]
    page = designer(client, page, "refresh", t_roles=["qa", "gone"])
    assert 'value="gone" checked> gone (missing)' in page
    response = post_form(client, page, "/admin/workflows/designer", op="publish")
    assert response.status_code == 422
    assert "Transition 1 (Send to review), roles allowed, item 2</span>: there is no role" in (
        response.text
    )


@pytest.mark.parametrize(
    "broken",
    [
        {"states": [{"key": "open", "editable": 5, "required": "x"}], "transitions": "x"},
        {
            "transitions": [
                {"key": "t", "confirm": "x", "separation": [], "from": "open", "roles": 3}
            ]
        },
        {"transitions": [{"key": "t", "confirm": {"when": 5}, "actions": [{"type": "set"}, 4]}]},
    ],
)
def test_a_damaged_draft_is_answered_with_messages_never_a_500(client, flow_page, broken):
    draft = {**json.loads(form_dict(flow_page)["draft"]), **broken}
    for url, op in (("/admin/workflows/preview", None), ("/admin/workflows/designer", "publish")):
        for editing in (None, "0"):
            change = {"draft": json.dumps(draft), "editing": editing, "a_count": "2"}
            response = post_form(client, flow_page, url, op=op, change=change)
            assert response.status_code in (200, 422), (url, editing, response.text[:2000])


def test_a_field_only_some_types_have_says_which_lack_it(client, db, flow_page, publish):
    publish(
        {
            "key": "lot",
            "label": "Lot",
            "plural": "Lots",
            "numbering": "LOT-{###}",
            "workflow": "batch_flow",
            "fields": [
                {"key": "code", "label": "Code", "type": "text"},
                {"key": "expiry", "label": "Expiry", "type": "date"},
            ],
        }
    )
    page = client.get("/admin/workflows/batch_flow").text
    picker = page.split('<details class="picker" id="state_required_0">')[1].split("</details>")[0]
    assert 'value="code"> Code <code class="muted">code</code></label>' in picker
    assert 'value="product"> Product <code class="muted">product</code> ' in picker
    assert "(not in Lot)" in picker.split('value="product"')[1].split("</label>")[0]
    assert "(not in Batch)" in picker.split('value="expiry"')[1].split("</label>")[0]
    text = preview(client, page, state_required_0=["expiry"])
    assert "names unknown field &#39;expiry&#39; (for type &#39;batch&#39;)" in text


def test_actions_suggest_the_fields_and_steps_of_the_type_they_name(client, db, make_person):
    """A created record's fields and a referenced record's step are offered by name."""
    add_roles(db, "analyst", "qa", "reviewer")
    publish_flow(db, JOB_FLOW)
    publish_flow(db, TASK_FLOW)
    with db.write() as conn:
        context = definition_context(conn, "job", extra_types={"task"})
        publish_type(conn, SYSTEM, job_type(), context=context)
        publish_type(conn, SYSTEM, task_type())
    make_person("ada", "configurer", permissions=ADMIN_PERMISSIONS)
    sign_in(client, "ada", TEST_PASSWORD)
    page = designer(client, client.get("/admin/workflows/job_flow").text, "select:0")
    assert 'list="dl-fields-task"' in page
    fields = page[page.index('<datalist id="dl-fields-task">') :].split("</datalist>")[0]
    assert '<option value="name">' in fields and '<option value="job">' in fields
    steps = page[page.index('<datalist id="dl-steps-task">') :].split("</datalist>")[0]
    assert "<option value=" in steps, "the task workflow's steps"
