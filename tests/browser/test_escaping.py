"""Markup an admin wrote into labels and help texts, or a user typed into a field, shows as text."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from labledger.identity.principal import SYSTEM
from labledger.metadata.types import publish_type
from tests.browser.conftest import sign_in_page
from tests.conftest import TEST_PASSWORD
from tests.definitions import add_roles
from tests.web.record_fixtures import create

pytestmark = pytest.mark.browser

TYPE_LABEL = 'Memo <script>alert("type")</script>'
FIELD_LABEL = 'Subject <img src=x onerror=alert("field")>'
HELP = '<script>alert("help")</script> <b>not bold</b>'
OPTION = '<i onmouseover=alert("option")>Urgent</i>'
SECTION = '<svg onload=alert("section")>Details'
VALUE = '<script>alert("value")</script><img src=x onerror=alert("value")>'


def memo_type():
    return {
        "key": "memo",
        "label": TYPE_LABEL,
        "plural": TYPE_LABEL + "s",
        "numbering": "MEMO-{###}",
        "title": "{subject}",
        "sections": [{"key": "details", "label": SECTION}],
        "permissions": {"read": ["*"], "create": ["writer"], "edit": ["writer"]},
        "fields": [
            {
                "key": "subject",
                "label": FIELD_LABEL,
                "type": "text",
                "help": HELP,
                "in_list": True,
                "filterable": True,
            },
            {
                "key": "priority",
                "label": "Priority",
                "type": "choice",
                "options": [{"value": "urgent", "label": OPTION}],
                "in_list": True,
                "section": "details",
            },
            {"key": "body", "label": "Body", "type": "long_text", "section": "details"},
        ],
    }


def test_markup_from_metadata_and_data_is_never_run(page, db, make_person):
    writer = make_person("wendy", "writer")
    add_roles(db, "writer")
    with db.write() as conn:
        publish_type(conn, SYSTEM, memo_type())
    memo = create(db, writer, "memo", {"subject": VALUE, "priority": "urgent", "body": VALUE})
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    sign_in_page(page, "wendy", TEST_PASSWORD)

    def no_markup():
        """Nothing the metadata or the data hold became an element."""
        for selector in ("main script", "img[src=x]", "main b", "main svg", "main i"):
            assert page.locator(selector).count() == 0, selector

    page.goto("/records/memo")
    expect(page.locator("h1")).to_have_text(TYPE_LABEL + "s")
    expect(page.locator("table.list thead")).to_contain_text(FIELD_LABEL)
    expect(page.locator("table.list tbody")).to_contain_text(VALUE)
    expect(page.locator("table.list tbody")).to_contain_text(OPTION)
    no_markup()

    page.goto(f"/records/memo/{memo['id']}")
    expect(page.locator("section.fields").first).to_contain_text(FIELD_LABEL)
    expect(page.locator("h2", has_text="Details")).to_have_text(SECTION)
    expect(page.locator("dd.pre")).to_have_text(VALUE)
    expect(page.locator("table.history")).to_contain_text(VALUE)
    no_markup()

    page.goto(f"/records/memo/{memo['id']}/edit")
    expect(page.locator("#lbl-subject")).to_contain_text(FIELD_LABEL)
    expect(page.locator("#help-subject")).to_have_text(HELP)
    expect(page.locator("#in-subject")).to_have_value(VALUE)
    expect(page.locator("#in-priority option[value=urgent]")).to_have_text(OPTION)
    page.fill("#in-subject", VALUE + " again")
    page.locator("#in-subject").press("Tab")  # a round trip of live validation
    expect(page.locator("#err-subject")).to_have_text("")
    no_markup()

    page.goto(f"/records/memo/{memo['id']}/print")
    expect(page.locator("body")).to_contain_text(VALUE)
    no_markup()
    page.goto("/")
    expect(page.locator("ul.cards")).to_contain_text(TYPE_LABEL + "s")

    no_markup()
    assert alerts == [], f"markup ran: {alerts}"
