"""The workflow designer: states, transitions, the diagram, and publishing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from labledger.identity.principal import SYSTEM
from labledger.metadata import versions
from labledger.web.admin.diagram import layout
from labledger.workflows.definitions import WORKFLOW_KIND, publish_workflow
from tests.conftest import TEST_PASSWORD
from tests.definitions import add_roles, batch_type
from tests.web.helpers import csrf_token, sign_in
from tests.web.test_admin_types import ADMIN_PERMISSIONS, config_rows, form_dict, post_form
from tests.workflow_definitions import JOB_FLOW, TASK_FLOW

SHIPPED = Path(__file__).resolve().parents[2] / "workflows"


def designer(client: Any, html: str, op: str | None = None, **change: Any) -> str:
    response = post_form(client, html, "/admin/workflows/designer", op=op, change=change)
    assert response.status_code in (200, 422), response.text
    return response.text


def current(db: Any, key: str) -> tuple[int, dict[str, Any]] | None:
    with db.read() as conn:
        return versions.current(conn, WORKFLOW_KIND, key)


def publish_flow(db: Any, definition: dict[str, Any]) -> None:
    with db.write() as conn:
        publish_workflow(conn, SYSTEM, definition)


@pytest.fixture
def signed_in_admin(client, make_person):
    make_person("ada", "configurer", permissions=ADMIN_PERMISSIONS)
    sign_in(client, "ada", TEST_PASSWORD)
    return client


def test_workflow_pages_refuse_users_without_configure(client, db, make_person):
    add_roles(db, "analyst")
    publish_flow(db, json.loads((SHIPPED / "simple_approval.json").read_text()))
    make_person("ann", "analyst")
    sign_in(client, "ann", TEST_PASSWORD)
    for path in ("/admin/workflows", "/admin/workflows/new", "/admin/workflows/simple_approval"):
        assert client.get(path).status_code == 403, path
    before = config_rows(db)
    token = csrf_token(client, "/")
    response = client.post(
        "/admin/workflows/designer",
        data={"_csrf_token": token, "draft": json.dumps(TASK_FLOW), "op": "publish"},
    )
    assert response.status_code == 403
    assert config_rows(db) == before and current(db, "task_flow") is None


def test_an_admin_designs_a_workflow_with_every_rule(signed_in_admin, db, publish):
    client = signed_in_admin
    add_roles(db, "analyst", "qa")
    publish(batch_type())
    page = client.get("/admin/workflows/new").text
    page = designer(
        client, page, "add_state", key="batch_flow", label="Batch flow", new_state_label="In review"
    )
    page = designer(client, page, "add_state", new_state_label="Released")
    page = designer(
        client,
        page,
        "add_transition",
        state_editable_1="list",
        state_fields_1="product, quantity",
        state_final_2="1",
        state_editable_2="none",
        state_required_2="made_on",
        new_transition_label="Send to review",
    )
    assert 'name="t_key" value="send_to_review"' in page
    page = designer(
        client,
        page,
        "add_transition",
        t_roles=["analyst"],
        t_requires_fields="product",
        new_transition_label="Release",
    )
    page = designer(client, page, "add_action", t_to="released", t_from=["in_review"])
    page = designer(
        client,
        page,
        "add_action",
        t_roles=["qa"],
        t_signature="Released for use",
        t_sep_creator="1",
        t_sep_transitions=["send_to_review"],
        t_sep_authors_of="quantity",
        t_sep_message="Not the one who sent it.",
        t_guard="quantity > 0",
        t_guard_message="Nothing to release.",
        a_field_0="made_on",
        a_expression_0="today()",
        new_action_type="create",
    )
    page = designer(client, page, "add_mapping:1", a_record_type_1="batch")
    page = designer(
        client,
        page,
        "add_transition",
        a_map_key_1_0="code",
        a_map_expression_1_0="code + '-R'",
        a_link_field_1="",
        new_transition_label="Return",
    )
    page = designer(
        client,
        page,
        "publish",
        t_from=["in_review", "released"],
        t_to="draft",
        t_roles=["*"],
        t_reason_required="1",
    )
    assert "Published version 1." in page, page
    assert current(db, "batch_flow")[1] == {
        "key": "batch_flow",
        "label": "Batch flow",
        "states": [
            {"key": "draft", "label": "Draft", "initial": True},
            {"key": "in_review", "label": "In review", "editable": ["product", "quantity"]},
            {
                "key": "released",
                "label": "Released",
                "final": True,
                "editable": "none",
                "required": ["made_on"],
            },
        ],
        "transitions": [
            {
                "key": "send_to_review",
                "label": "Send to review",
                "from": ["draft"],
                "to": "in_review",
                "roles": ["analyst"],
                "requires_fields": ["product"],
            },
            {
                "key": "release",
                "label": "Release",
                "from": ["in_review"],
                "to": "released",
                "roles": ["qa"],
                "guard": "quantity > 0",
                "guard_message": "Nothing to release.",
                "signature": {"meaning": "Released for use"},
                "separation": {
                    "creator": True,
                    "transitions": ["send_to_review"],
                    "authors_of": ["quantity"],
                    "message": "Not the one who sent it.",
                },
                "actions": [
                    {"type": "set", "field": "made_on", "expression": "today()"},
                    {"type": "create", "record_type": "batch", "fields": {"code": "code + '-R'"}},
                ],
            },
            {
                "key": "return",
                "label": "Return",
                "from": ["in_review", "released"],
                "to": "draft",
                "roles": ["*"],
                "reason_required": True,
            },
        ],
    }


def test_publish_errors_are_shown_in_words_and_change_nothing(signed_in_admin, db):
    client = signed_in_admin
    add_roles(db, "analyst", "reviewer")
    publish_flow(db, TASK_FLOW)
    page = client.get("/admin/workflows/task_flow").text
    page = designer(client, page, "select:0")
    before = config_rows(db)
    response = post_form(
        client, page, "/admin/workflows/designer", op="publish", change={"t_guard": "value >"}
    )
    assert response.status_code == 422
    guard_error = response.text.split('id="t_guard-error"')[1].split("</p>")[0]
    assert "syntax error" in guard_error
    response = post_form(
        client, page, "/admin/workflows/designer", op="publish", change={"state_key_3": ""}
    )
    assert response.status_code == 422
    row_error = response.text.split('class="error-row"')[1].split("</tr>")[0]
    assert "State 4 (Retest requested), key</span>: is required" in row_error
    assert "states[3]" not in response.text
    assert config_rows(db) == before and current(db, "task_flow")[0] == 1


def test_a_state_renamed_in_the_table_is_renamed_in_its_transitions(signed_in_admin, db):
    client = signed_in_admin
    add_roles(db, "analyst", "reviewer")
    publish_flow(db, TASK_FLOW)
    page = client.get("/admin/workflows/task_flow").text
    page = designer(client, page, "refresh", state_key_1="done")
    draft = json.loads(form_dict(page)["draft"])
    assert [t["from"] for t in draft["transitions"]] == [["pending"], ["done"], ["done"]]
    assert draft["transitions"][0]["to"] == "done"


@pytest.mark.parametrize("name", ["two_step_review", "simple_approval", "task_flow", "job_flow"])
def test_opening_and_republishing_a_workflow_changes_nothing(signed_in_admin, db, publish, name):
    """Every state row and transition editor reads back exactly what was published."""
    client = signed_in_admin
    add_roles(db, "analyst", "reviewer", "qa")
    flows = {"task_flow": TASK_FLOW, "job_flow": JOB_FLOW}
    definition = flows.get(name) or json.loads((SHIPPED / f"{name}.json").read_text())
    publish_flow(db, definition)
    page = client.get(f"/admin/workflows/{name}").text
    for index in range(len(definition["transitions"])):
        page = designer(client, page, f"select:{index}")
    before = config_rows(db)
    assert "Nothing changed: version 1 is current." in designer(client, page, "publish")
    assert config_rows(db) == before


def test_the_diagram_draws_every_state_and_transition_as_text(signed_in_admin, db):
    client = signed_in_admin
    flow = json.loads((SHIPPED / "two_step_review.json").read_text())
    flow["states"][1]["label"] = "<script>alert(1)</script>"
    flow["transitions"][0]["label"] = "Send <b>now</b>"
    publish_flow(db, flow)
    text = client.get("/admin/workflows/two_step_review").text
    svg = text.split('<div id="diagram"')[1].split("</svg>")[0]
    assert "<script>alert" not in text and "<b>now" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert "Send &lt;b&gt;now&lt;/b&gt;" in svg
    for state in ("draft", "in_review", "reviewed", "approved", "withdrawn"):
        assert f'data-state="{state}"' in svg
    assert svg.count('class="state initial"') == 1 and svg.count('class="state final"') == 2
    assert svg.count('<g class="edge ') == 7, "a transition from two states draws two arrows"
    assert svg.count("✍ ") == 2 and 'marker-end="url(#arrow-sign)"' in svg


def test_the_diagram_follows_the_draft_as_it_is_edited(signed_in_admin, db):
    client = signed_in_admin
    publish_flow(db, json.loads((SHIPPED / "simple_approval.json").read_text()))
    page = client.get("/admin/workflows/simple_approval").text
    response = post_form(
        client, page, "/admin/workflows/preview", change={"state_label_0": "Brand new label"}
    )
    assert response.status_code == 200
    assert '<aside id="wf-preview"' in response.text and "Brand new label" in response.text
    assert re.search(r'<template>\s*<tbody id="transition-rows" hx-swap-oob="true">', response.text)


def test_layout_puts_states_in_columns_by_distance_from_the_initial_state():
    flow = {
        "states": [
            {"key": "done", "label": "Done", "final": True},
            {"key": "start", "label": "Start", "initial": True},
            {"key": "middle", "label": "Middle"},
            {"key": "orphan", "label": "Orphan"},
        ],
        "transitions": [
            {"key": "go", "label": "Go", "from": ["start"], "to": "middle"},
            {
                "key": "finish",
                "label": "Finish",
                "from": ["middle"],
                "to": "done",
                "signature": {"meaning": "Done"},
            },
            {"key": "back", "label": "Back", "from": ["done"], "to": "start"},
            {"key": "again", "label": "Again", "from": ["middle"], "to": "middle"},
            {"key": "lost", "label": "Lost", "from": ["nowhere"], "to": "start"},
        ],
    }
    diagram = layout(flow)
    x = {n.key: n.x for n in diagram.nodes}
    assert x["start"] < x["middle"] < x["done"] < x["orphan"]
    kinds = {e.key: e.kind for e in diagram.edges}
    assert kinds == {"go": "forward", "finish": "forward", "back": "back", "again": "self"}
    assert next(e for e in diagram.edges if e.key == "finish").signature == "Done"
    assert [n.key for n in diagram.nodes if n.initial] == ["start"]
    assert diagram.width > x["orphan"] and diagram.height > 0


@pytest.mark.parametrize(
    "draft",
    [
        None,
        [],
        {},
        {"states": "x"},
        {"states": [{"label": "no key"}, 5]},
        {"states": [{"key": "a"}], "transitions": [{"from": "a", "to": "a"}, "x"]},
    ],
)
def test_layout_draws_whatever_it_can_of_a_broken_draft(draft):
    diagram = layout(draft)
    assert len(diagram.edges) == 0 and len(diagram.nodes) <= 1
