"""The object type designer: building, editing and publishing types in the page.

The tests drive the designer as a browser does: they read the form the
server rendered (every input, tick and choice), change what a person would
change, and post it back with the button pressed.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from labledger.db.tables import audit_event, config_version
from labledger.identity.principal import SYSTEM
from labledger.metadata import versions
from labledger.metadata.types import KIND
from tests.conftest import TEST_PASSWORD
from tests.definitions import add_roles, batch_type, measurement_type
from tests.web.helpers import csrf_token, sign_in

ADMIN_PERMISSIONS = ("configure", "manage_users", "read_audit")
HTMX = {"HX-Request": "true"}
#: Sent as raw bytes: a name may repeat (ticked boxes), in the order of the page.
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class _FormReader(HTMLParser):
    """The (name, value) pairs a browser would submit for one form of a page."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.pairs: list[tuple[str, str]] = []
        self._select: tuple[str, list[tuple[str, bool]]] | None = None
        self._option: list[str] | None = None
        self._textarea: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id") == self.form_id:
            self.inside = True
        if not self.inside or "disabled" in a:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind not in ("submit", "button", "file"):
                self.pairs.append((name, a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select" and name:
            self._select = (name, [])
        elif tag == "option" and self._select is not None:
            self._option = [a.get("value", ""), "selected" in a]  # type: ignore[list-item]
        elif tag == "textarea" and name:
            self._textarea = (name, [])

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "option" and self._select is not None and self._option is not None:
            self._select[1].append((self._option[0], bool(self._option[1])))
            self._option = None
        elif tag == "select" and self._select is not None:
            name, options = self._select
            chosen = [v for v, selected in options if selected] or [v for v, _ in options[:1]]
            self.pairs += [(name, v) for v in chosen[-1:]]
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            text = "".join(self._textarea[1])
            self.pairs.append((self._textarea[0], text[1:] if text.startswith("\n") else text))
            self._textarea = None
        elif tag == "form" and self.inside:
            self.inside = False


def form_pairs(html: str, form_id: str = "designer-form") -> list[tuple[str, str]]:
    reader = _FormReader(form_id)
    reader.feed(html)
    assert reader.pairs, f"no form #{form_id} in the page"
    return reader.pairs


def form_dict(html: str) -> dict[str, str]:
    return dict(form_pairs(html))


def post_form(
    client: Any,
    html: str,
    url: str,
    *,
    op: str | None = None,
    change: dict[str, Any] | None = None,
    form_id: str = "designer-form",
) -> Any:
    """Submit the form as shown in ``html`` with ``change`` applied and button ``op``."""
    change = change or {}
    pairs = [(k, v) for k, v in form_pairs(html, form_id) if k not in change]
    for name, value in change.items():
        values = value if isinstance(value, list) else [value]
        pairs += [(name, v) for v in values if v is not None]
    if op:
        pairs.append(("op", op))
    return client.post(url, content=urlencode(pairs).encode(), headers={**HTMX, **FORM})


def designer(client: Any, html: str, op: str | None = None, **change: Any) -> str:
    response = post_form(client, html, "/admin/types/designer", op=op, change=change)
    assert response.status_code in (200, 422), response.text
    return response.text


def config_rows(db: Any) -> tuple[int, int]:
    with db.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(config_version)).scalar_one(),
            conn.execute(select(func.count()).select_from(audit_event)).scalar_one(),
        )


@pytest.fixture
def signed_in_admin(client, make_person):
    make_person("ada", "configurer", permissions=ADMIN_PERMISSIONS)
    sign_in(client, "ada", TEST_PASSWORD)
    return client


def current(db: Any, key: str) -> tuple[int, dict[str, Any]] | None:
    with db.read() as conn:
        return versions.current(conn, KIND, key)


def test_type_pages_refuse_users_without_configure(client, db, make_person, publish):
    add_roles(db, "analyst")
    publish(batch_type())
    make_person("ann", "analyst")
    sign_in(client, "ann", TEST_PASSWORD)
    for path in ("/admin/types", "/admin/types/new", "/admin/types/batch"):
        response = client.get(path)
        assert response.status_code == 403 and "configure" in response.text, path
    before = config_rows(db)
    token = csrf_token(client, "/")
    draft = json.dumps(batch_type(label="Hijacked"))
    for path in ("/admin/types/designer", "/admin/types/preview"):
        response = client.post(
            path, data={"_csrf_token": token, "draft": draft, "original": "batch", "op": "publish"}
        )
        assert response.status_code == 403
    assert config_rows(db) == before
    assert current(db, "batch")[1]["label"] == "Batch"


def test_an_admin_designs_a_new_type_step_by_step(signed_in_admin, db):
    client = signed_in_admin
    add_roles(db, "analyst")
    page = client.get("/admin/types/new").text
    assert "New object type" in page
    page = designer(
        client,
        page,
        "add_field",
        key="instrument",
        label="Instrument",
        plural="Instruments",
        numbering="INS-{####}",
        new_type="text",
        new_label="Asset code",
    )
    assert 'name="f_key" value="asset_code"' in page, "the new field opens in the editor"
    page = designer(
        client,
        page,
        "add_field",
        f_max_length="20",
        f_pattern="^[A-Z]{2,4}-[0-9]{3,6}$",
        f_required="1",
        f_unique="1",
        f_filterable="1",
        f_help="The code on the asset label.",
        new_type="choice",
        new_label="Location",
    )
    page = designer(client, page, "add_option", opt_value_0="lab1", opt_label_0="Laboratory 1")
    page = designer(
        client,
        page,
        "add_field",
        opt_value_1="lab2",
        opt_label_1="Laboratory 2",
        f_default="",
        new_type="decimal",
        new_label="Scratch",
    )
    page = designer(client, page, "remove:2")
    page = designer(client, page, "add_section", new_section_label="Identity")
    page = designer(client, page, "select:1", section_key_0="identity")
    page = designer(client, page, "up:1", f_section="identity", f_in_list="1")
    page = designer(
        client,
        page,
        "publish",
        title="{asset_code}",
        perm_read=["*"],
        perm_create=["analyst"],
        perm_edit=["analyst"],
        require_reason="1",
    )
    assert "Published version 1." in page
    version, stored = current(db, "instrument")
    assert version == 1
    assert stored == {
        "key": "instrument",
        "label": "Instrument",
        "plural": "Instruments",
        "numbering": "INS-{####}",
        "title": "{asset_code}",
        "require_reason": True,
        "permissions": {"read": ["*"], "create": ["analyst"], "edit": ["analyst"]},
        "sections": [{"key": "identity", "label": "Identity"}],
        "fields": [
            {
                "key": "location",
                "label": "Location",
                "type": "choice",
                "options": [
                    {"value": "lab1", "label": "Laboratory 1"},
                    {"value": "lab2", "label": "Laboratory 2"},
                ],
                "section": "identity",
                "in_list": True,
            },
            {
                "key": "asset_code",
                "label": "Asset code",
                "type": "text",
                "max_length": 20,
                "pattern": "^[A-Z]{2,4}-[0-9]{3,6}$",
                "required": True,
                "unique": True,
                "filterable": True,
                "help": "The code on the asset label.",
            },
        ],
    }
    with db.read() as conn:
        event = (
            conn.execute(select(audit_event).where(audit_event.c.action == "config.publish"))
            .mappings()
            .one()
        )
    assert event["actor"] == "ada" and event["type_key"] == "instrument"


def test_publish_errors_show_next_to_the_field_and_change_nothing(signed_in_admin, db, publish):
    client = signed_in_admin
    add_roles(db, "analyst")
    publish(batch_type())
    page = client.get("/admin/types/batch").text
    page = designer(client, page, "add_field", new_type="computed", new_label="Doubled")
    page = designer(client, page, "close", f_expression="quantty * 2", f_result_type="number")
    before = config_rows(db)
    response = post_form(client, page, "/admin/types/designer", op="publish")
    assert response.status_code == 422
    text = response.text
    assert "Not published" in text and "Field 5 (Doubled), expression</span>: unknown name" in text
    assert "fields[4]" not in text, "no JSON path is shown"
    # The field with the problem opens in the editor, the message next to its expression.
    error = text.split('id="f_expression-error"')[1].split("</p>")[0]
    assert "unknown name &#39;quantty&#39; (did you mean &#39;quantity&#39;?)" in error
    assert 'aria-describedby="f_expression-error"' in text
    assert config_rows(db) == before
    assert current(db, "batch")[0] == 1


def test_opening_and_republishing_a_type_changes_nothing(signed_in_admin, db, publish):
    """Every field editor reads back exactly what the definition says."""
    client = signed_in_admin
    add_roles(db, "analyst", "reviewer")
    publish(batch_type())
    publish(measurement_type(due_field="measured_on", description="Line one\nline two"))
    page = client.get("/admin/types/measurement").text
    for index in range(len(measurement_type()["fields"])):
        page = designer(client, page, f"select:{index}")
    before = config_rows(db)
    page = designer(client, page, "publish")
    assert "Nothing changed: version 1 is current." in page
    assert config_rows(db) == before


def test_changing_a_field_type_offers_that_type_s_options(signed_in_admin, db, publish):
    client = signed_in_admin
    add_roles(db, "analyst")
    publish(batch_type())
    page = client.get("/admin/types/batch").text
    page = designer(client, page, "select:0")
    assert 'name="f_pattern"' in page and 'name="f_precision"' not in page
    page = designer(client, page, None, f_type="decimal", f_label="Code number")
    assert 'name="f_precision"' in page and 'name="f_pattern"' not in page
    draft = json.loads(form_dict(page)["draft"])
    assert draft["fields"][0] == {
        "key": "code",
        "label": "Code number",
        "type": "decimal",
        "required": True,
        "unique": True,
        "filterable": True,
    }
    # A field never changes type once published: the service says so, by path.
    response = post_form(client, page, "/admin/types/designer", op="publish")
    assert response.status_code == 422 and "Field 1 (Code number), type</span>" in response.text
    assert "a field never changes type" in response.text


def test_the_preview_follows_the_draft_and_shows_labels_as_text(signed_in_admin, db, publish):
    client = signed_in_admin
    add_roles(db, "analyst")
    publish(batch_type())
    page = client.get("/admin/types/batch").text
    page = designer(client, page, "select:1")
    response = post_form(
        client,
        page,
        "/admin/types/preview",
        change={
            "f_label": "<script>alert('label')</script>",
            "f_help": "<b>bold</b> & <img src=x onerror=alert(1)>",
        },
    )
    assert response.status_code == 200
    text = response.text
    assert text.startswith('\n<aside id="preview"') or '<aside id="preview"' in text
    assert "<script>alert" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(&#39;label&#39;)&lt;/script&gt;" in text
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;img src=x onerror=alert(1)&gt;" in text
    # The field list follows too, in a template (table rows cannot stand alone).
    assert re.search(r'<template>\s*<tbody id="field-rows" hx-swap-oob="true">', text)
    # Nothing is stored while designing.
    assert current(db, "batch")[1] == batch_type()


def test_every_field_type_previews_as_its_widget(signed_in_admin, db, publish):
    client = signed_in_admin
    add_roles(db, "analyst", "reviewer")
    publish(batch_type())
    publish(measurement_type())
    text = client.get("/admin/types/measurement").text
    preview = text.split('<aside id="preview"')[1].split("</aside>")[0]
    for widget in (
        'id="pv_name" disabled',
        '<textarea id="pv_notes" rows="3" disabled>',
        'placeholder="Search batch by number or title…"',
        'id="pv_value" type="number" disabled value="" min="-1000" max="1000"',
        '<output id="pv_out_of_limits" class="computed">= <code>value &lt; low or value &gt; high',
        'id="pv_measured_on" type="date"',
        'id="pv_measured_at" type="datetime-local"',
        '<select id="pv_method" disabled>',
        'id="pv_raw_file" type="file" disabled',
        'id="pv_analyst" disabled placeholder="username"',
        "Required when <code>out_of_limits == True</code>",
    ):
        assert widget in preview, widget
    assert preview.index("<legend>Main</legend>") < preview.index("<legend>Result</legend>")
    assert (
        "Ready to publish" not in preview and "No changes against the published version" in preview
    )


def test_the_designer_shows_the_version_history(signed_in_admin, db, publish):
    client = signed_in_admin
    add_roles(db, "analyst")
    publish(batch_type())
    publish(batch_type(label="Production batch"))
    text = client.get("/admin/types/batch").text
    history = text.split("Published versions")[1]
    assert history.index("<td>2 <span") < history.index("<td>1</td>")
    assert "&#34;label&#34;: &#34;Production batch&#34;" in history
    assert SYSTEM.username in history
    listing = client.get("/admin/types").text
    assert "Production batch" in listing and "<td>2</td>" in listing
