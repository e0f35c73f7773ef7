"""Admin pages under change control: with control on, the designers, the roles page, the
mapping editor and the bundle import save into a change request instead of publishing;
with control off they publish, and every admin page says that control is off."""

from __future__ import annotations

import json
import re

import pytest

from labledger.bundles.resolve import ROLE_KIND
from labledger.changes.control import OFF_NOTICE, set_control
from labledger.changes.store import BUNDLE_ITEM, Status, summaries
from labledger.identity.principal import SYSTEM
from labledger.integration.mappings import MAPPING_KIND
from labledger.metadata import versions
from labledger.metadata.types import KIND as TYPE_KIND
from labledger.records.states import WORKFLOW_KIND
from labledger.web.integration.mappings import starter_mapping
from tests.test_bundles import encode, snapshot, starter_bundle
from tests.web.changes_helpers import (
    ControlledLab,
    as_user,
    controlled_lab,
    proposed,
    stored,
    with_new_field,
)
from tests.web.helpers import csrf_token
from tests.web.test_admin_config import upload
from tests.web.test_admin_types import designer, post_form

_SAVED = re.compile(r"Saved to CR-(\d+) \(([^)]*)\)")


@pytest.fixture
def lab(db, make_person) -> ControlledLab:
    return controlled_lab(db, make_person)


def version_of(db, kind: str, key: str) -> int | None:
    with db.read() as conn:
        return versions.current_version(conn, kind, key)


def saved_into(html: str) -> int:
    found = _SAVED.search(html)
    assert found, "the page does not say where the definition was saved"
    assert f'href="/admin/changes/{found.group(1)}"' in html, "and links to it"
    return int(found.group(1))


def test_the_designers_save_into_a_change_request(client, db, lab):
    as_user(client, lab.author)
    page = client.get("/admin/types/lot").text
    assert "Save to change request" in page and ">Publish<" not in page
    page = designer(client, page, "add_field", new_type="text", new_label="Courier")
    before = summaries_of(db)
    untitled = designer(client, page, "publish")
    assert "give the change a title" in untitled and 'id="cr-title-error"' in untitled
    assert summaries_of(db) == before
    saved = designer(
        client, page, "publish", cr_title="Record the courier", cr_reason="Audit finding 12"
    )
    change_id = saved_into(saved)
    assert version_of(db, TYPE_KIND, "lot") == 1, "nothing is published"
    change = stored(db, change_id)
    assert change.title == "Record the courier" and change.status == Status.DRAFT
    (item,) = change.items
    assert (item.kind, item.key) == (TYPE_KIND, "lot")
    assert [f["label"] for f in item.body["fields"]][-1] == "Courier"
    assert f'<option value="{change_id}" selected>' in saved, "the next save goes there too"

    flow = client.get("/admin/workflows/lot_flow").text
    assert f'<option value="{change_id}"' in flow
    response = post_form(
        client,
        flow,
        "/admin/workflows/designer",
        op="publish",
        change={"label": "Lot review (courier)", "change_request": str(change_id)},
    )
    assert response.status_code == 200, response.text
    assert saved_into(response.text) == change_id
    assert [(i.kind, i.key) for i in stored(db, change_id).items] == [
        (TYPE_KIND, "lot"),
        (WORKFLOW_KIND, "lot_flow"),
    ]
    assert version_of(db, WORKFLOW_KIND, "lot_flow") == 1


def test_a_problem_of_the_definition_is_shown_at_its_own_path(client, db, lab):
    as_user(client, lab.author)
    page = client.get("/admin/types/lot").text
    page = designer(client, page, "add_field", new_type="text", new_label="Courier")
    before = summaries_of(db)
    refused = post_form(
        client,
        page,
        "/admin/types/designer",
        op="publish",
        change={"f_pattern": "([", "cr_title": "Courier", "cr_reason": "why"},
    )
    assert refused.status_code == 422
    assert "Not saved: fix these problems first." in refused.text
    assert re.search(r"Field \d+ \(Courier\), pattern</span>: ", refused.text), refused.text
    assert "items[" not in refused.text
    assert summaries_of(db) == before


def test_someone_elses_draft_is_refused_as_a_target(client, db, lab):
    theirs = proposed(db, lab.both, (TYPE_KIND, "lot", with_new_field("Carrier")))
    as_user(client, lab.author)
    page = client.get("/admin/types/lot").text
    assert f'<option value="{theirs}"' not in page, "only the admin's own drafts are offered"
    refused = post_form(
        client, page, "/admin/types/designer", op="publish", change={"change_request": str(theirs)}
    )
    assert refused.status_code == 422
    assert f"Only bea, who proposed CR-{theirs}, can change it." in refused.text
    assert len(stored(db, theirs).items) == 1


def test_the_roles_page_saves_a_role_into_a_change_request(client, db, lab):
    as_user(client, lab.author)
    token = csrf_token(client, "/admin/roles")
    response = client.post(
        "/admin/roles",
        data={
            "_csrf_token": token,
            "key": "auditor",
            "label": "Auditor",
            "description": "",
            "permissions": ["read_audit"],
            "change_request": "",
            "cr_title": "An auditor role",
            "cr_reason": "Inspection next month",
        },
    )
    assert response.status_code == 200, response.text
    change = stored(db, saved_into(response.text))
    assert [(i.kind, i.key) for i in change.items] == [(ROLE_KIND, "auditor")]
    assert 'name="key" value="auditor"' not in client.get("/admin/roles").text


def test_the_mapping_editor_saves_into_a_change_request(client, db, lab):
    with db.read() as conn:
        mapping = starter_mapping(conn, "lot")
    as_user(client, lab.author)
    page = client.get("/mappings/new").text
    assert "Save to change request" in page
    token = csrf_token(client, "/mappings/new")
    response = client.post(
        "/mappings/new",
        data={
            "_csrf_token": token,
            "op": "publish",
            "definition": json.dumps(mapping),
            "cr_title": "Lot import",
            "cr_reason": "Supplier lists",
        },
    )
    assert response.status_code == 200, response.text
    change = stored(db, saved_into(response.text))
    assert [(i.kind, i.key) for i in change.items] == [(MAPPING_KIND, mapping["key"])]
    assert version_of(db, MAPPING_KIND, mapping["key"]) is None


def test_a_bundle_import_becomes_a_change_request(client, db, lab):
    as_user(client, lab.author)
    preview = upload(client, encode(starter_bundle()))
    assert preview.status_code == 200
    assert "Propose the import as a change request" in preview.text
    assert 'value="Import starter 1.0"' in preview.text
    before = snapshot(db)
    carried = re.search(r'name="bundle" value="([^"]*)"', preview.text).group(1)
    token = csrf_token(client, "/admin/config")
    form = {"_csrf_token": token, "bundle": carried, "filename": "lab.json"}
    untitled = client.post("/admin/config/apply", data={**form, "cr_title": "Starter"})
    assert untitled.status_code == 422 and "say why the configuration changes" in untitled.text
    assert "Preview of starter 1.0" in untitled.text, "the preview stays on the page"
    assert snapshot(db) == before
    proposed_response = client.post(
        "/admin/config/apply",
        data={**form, "cr_title": "Starter", "cr_reason": "New lab"},
        follow_redirects=False,
    )
    assert proposed_response.status_code == 303
    change_id = int(proposed_response.headers["location"].split("/")[-1].split("?")[0])
    assert [i.kind for i in stored(db, change_id).items] == [BUNDLE_ITEM]
    after = snapshot(db)
    assert after.pop("audit") == before.pop("audit") + 1, "only the proposal is audited"
    assert after == before, "nothing is imported until the request is activated"
    page = client.get(proposed_response.headers["location"]).text
    assert "it imports the bundle once approved and activated" in page
    assert "Bundle <code>starter</code> is imported whole" in page


def test_with_control_off_every_admin_page_says_so_and_the_designers_publish(client, db, lab):
    as_user(client, lab.author)
    for path in ("/admin/types", "/admin/changes", "/mappings", "/admin/config"):
        assert OFF_NOTICE not in client.get(path).text, path
    with db.write() as conn:
        set_control(conn, SYSTEM, enabled=False, reason="training copy")
    for path in ("/admin/types", "/admin/changes", "/mappings", "/admin/config", "/admin/roles"):
        assert OFF_NOTICE in client.get(path).text, path
    assert OFF_NOTICE not in client.get("/records").text, "record pages are no admin pages"
    page = client.get("/admin/types/lot").text
    assert "Save to change request" not in page
    published = designer(client, page, "publish", label="Lot (renamed)")
    assert "Published version 2." in published
    assert version_of(db, TYPE_KIND, "lot") == 2
    assert "Change control is <strong>off</strong>" in client.get("/admin/changes").text


def summaries_of(db):
    with db.read() as conn:
        return summaries(conn)
