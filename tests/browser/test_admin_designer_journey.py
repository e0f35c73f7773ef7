"""Journey: an admin uses what the designers offer beyond fields and states.

In the workflow designer the admin picks the fields a state lets people edit and
the fields it needs, the roles, states and fields of a transition, and gives the
transition a confirmation. In the type designer the admin adds a rule across
fields, a default expression, child numbering, summary fields and an alarm
value, watches the live preview show each, and publishes.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from labledger.identity.principal import SYSTEM
from labledger.metadata import versions
from labledger.metadata.types import KIND as TYPE_KIND
from labledger.workflows.definitions import WORKFLOW_KIND, publish_workflow
from tests.browser.conftest import sign_in_page
from tests.conftest import TEST_PASSWORD
from tests.definitions import add_roles, batch_type, measurement_type

pytestmark = pytest.mark.browser

ADMIN_PERMISSIONS = ("configure", "manage_users", "read_audit")
FLOW: dict[str, Any] = {
    "key": "measurement_flow",
    "label": "Measurement flow",
    "states": [
        {"key": "open", "label": "Open", "initial": True},
        {"key": "in_review", "label": "In review"},
        {"key": "released", "label": "Released", "final": True, "editable": "none"},
    ],
    "transitions": [
        {"key": "send", "label": "Send to review", "from": ["open"], "to": "in_review"},
        {"key": "release", "label": "Release", "from": ["open"], "to": "open"},
    ],
}


def click_op(page: Any, value: str) -> None:
    page.locator(f"#designer-form button[name=op][value='{value}']").click()


def tick(page: Any, picker: str, *keys: str) -> None:
    """Open the picker of fields ``picker`` and tick ``keys`` in it."""
    details = page.locator(f"details#{picker}")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    for key in keys:
        details.locator(f"input[value='{key}']").check()
    expect(details.locator(".picked")).to_contain_text(keys[-1])


def current(db: Any, kind: str, key: str) -> tuple[int, dict[str, Any]]:
    with db.read() as conn:
        found = versions.current(conn, kind, key)
    assert found is not None
    return found


def design_workflow(page: Any) -> None:
    page.goto("/admin/workflows/measurement_flow")
    expect(page.locator("#designer")).to_contain_text("Used by Measurement")
    expect(page.locator("details#state_fields_1")).to_be_hidden()
    page.select_option("#state_editable_1", "list")  # shows the fields to pick from
    tick(page, "state_fields_1", "value", "comment")
    tick(page, "state_required_2", "checked")
    page.click("#transition-rows button[value='select:1']")
    expect(page.locator("#t_key")).to_have_value("release")
    page.uncheck("#t_from_open")
    page.check("#t_from_in_review")
    page.select_option("#t_to", "released")
    page.check("#t_roles_qa")
    tick(page, "t_requires_fields", "value")
    tick(page, "t_sep_authors_of", "value")
    page.fill("#t_confirm_when", "out_of_limits == True")
    page.fill("#t_confirm_message", "The value is out of limits.")
    page.keyboard.press("Tab")
    preview = page.locator("#wf-preview")
    expect(preview).to_contain_text("fits every type that uses it (Measurement)")
    page.fill("#t_confirm_when", "out_of_limit == True")
    page.keyboard.press("Tab")
    expect(preview).to_contain_text(
        "Transition 2 (Release), confirmation, condition: unknown name 'out_of_limit'"
    )
    page.fill("#t_confirm_when", "out_of_limits == True")
    page.keyboard.press("Tab")
    expect(preview).to_contain_text("The machine is consistent")
    click_op(page, "publish")
    expect(page.locator("#designer [role=status]")).to_have_text("Published version 2.")


def design_type(page: Any) -> None:
    page.goto("/admin/types/measurement")
    click_op(page, "add_rule")
    page.fill("#rule_expression_0", "high >= low")
    page.fill("#rule_message_0", "The high limit is below the low limit.")
    tick(page, "rule_fields_0", "high")
    page.click("#field-rows button[value='select:9']")  # Measured on
    expect(page.locator("#f_label")).to_have_value("Measured on")
    page.fill("#f_default_expression", "today()")
    page.select_option("#child_field", "batch")
    page.fill("#child_pattern", "{parent}-M{##}")
    for count, key in enumerate(("name", "out_of_limits"), start=1):
        page.select_option("#new_summary", key)
        click_op(page, "add_summary")
        expect(page.locator("#summary-fields tbody tr")).to_have_count(count)
        expect(page.locator(f"#summary_{count - 1}")).to_have_value(key)
    page.click("#field-rows button[value='select:7']")  # Out of limits: yes/no
    expect(page.locator("#f_label")).to_have_value("Out of limits")
    page.select_option("#f_result_type", "number")
    expect(page.locator("#f_alarm")).to_be_hidden()
    page.select_option("#f_result_type", "boolean")
    page.select_option("#f_alarm", "no")
    page.keyboard.press("Tab")
    preview = page.locator("#preview")
    expect(preview.locator("#pv-summary")).to_contain_text("Name · Out of limits")
    expect(preview.locator("#pv-numbering")).to_contain_text("{parent}-M{##}")
    expect(preview.locator("#pv-rules")).to_contain_text("The high limit is below the low limit.")
    expect(preview).to_contain_text("When left empty: today()")
    expect(preview).to_contain_text("No is the alarm")
    page.fill("#child_pattern", "M{##}")
    page.keyboard.press("Tab")
    expect(preview).to_contain_text("Child numbering, pattern: needs {parent}")
    page.fill("#child_pattern", "{parent}-M{##}")
    page.keyboard.press("Tab")
    expect(preview).to_contain_text("Unpublished changes")
    click_op(page, "publish")
    expect(page.locator("#designer [role=status]")).to_have_text("Published version 2.")


def test_an_admin_uses_everything_the_designers_offer(page, db, make_person, publish):
    add_roles(db, "analyst", "reviewer", "qa")
    publish(batch_type())
    with db.write() as conn:
        publish_workflow(conn, SYSTEM, FLOW)
    publish(measurement_type(workflow="measurement_flow"))
    make_person("ada", "configurer", permissions=ADMIN_PERMISSIONS)
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in_page(page, "ada", TEST_PASSWORD)

    design_workflow(page)
    flow = current(db, WORKFLOW_KIND, "measurement_flow")[1]
    assert flow["states"][1]["editable"] == ["value", "comment"]
    assert flow["states"][2]["required"] == ["checked"]
    assert flow["transitions"][1] == {
        "key": "release",
        "label": "Release",
        "from": ["in_review"],
        "to": "released",
        "roles": ["qa"],
        "requires_fields": ["value"],
        "separation": {"authors_of": ["value"]},
        "confirm": {"when": "out_of_limits == True", "message": "The value is out of limits."},
    }

    design_type(page)
    version, stored = current(db, TYPE_KIND, "measurement")
    assert version == 2
    assert stored["rules"] == [
        {
            "expression": "high >= low",
            "message": "The high limit is below the low limit.",
            "fields": ["high"],
        }
    ]
    assert stored["child_numbering"] == {"field": "batch", "pattern": "{parent}-M{##}"}
    assert stored["summary_fields"] == ["name", "out_of_limits"]
    fields = {f["key"]: f for f in stored["fields"]}
    assert fields["measured_on"]["default_expression"] == "today()"
    assert fields["out_of_limits"]["alarm"] is False
