"""Configuration bundles in the browser: export, upload and preview, apply, conflicts."""

from __future__ import annotations

import base64
import copy
import re

from labledger.bundles.export import export_bundle
from labledger.bundles.format import dump_bundle
from labledger.identity.principal import SYSTEM
from labledger.metadata.types import publish_type
from tests.conftest import TEST_PASSWORD
from tests.definitions import add_roles, batch_type
from tests.test_bundles import audit_events, encode, snapshot, starter_bundle
from tests.web.helpers import csrf_token, sign_in
from tests.web.test_admin_types import ADMIN_PERMISSIONS

_BUNDLE = re.compile(r'<input type="hidden" name="bundle" value="([^"]*)">')


def upload(client, raw: bytes, filename: str = "lab.json"):
    token = csrf_token(client, "/admin/config")
    return client.post(
        "/admin/config/preview",
        data={"_csrf_token": token},
        files={"file": (filename, raw, "application/json")},
    )


def apply(client, preview_html: str, *, force: bool = False):
    token = csrf_token(client, "/admin/config")
    carried = _BUNDLE.search(preview_html).group(1)
    form = {"_csrf_token": token, "bundle": carried, "filename": "lab.json"}
    if force:
        form["force"] = "1"
    return client.post("/admin/config/apply", data=form)


def signed_in(client, make_person):
    make_person("ada", "configurer", permissions=ADMIN_PERMISSIONS)
    sign_in(client, "ada", TEST_PASSWORD)
    return client


def test_bundle_pages_need_configure(client, db, make_person):
    make_person("ann", "analyst")
    sign_in(client, "ann", TEST_PASSWORD)
    assert client.get("/admin/config").status_code == 403
    assert client.get("/admin/config/export").status_code == 403
    before = snapshot(db)
    token = csrf_token(client, "/")
    raw = encode(starter_bundle())
    response = client.post(
        "/admin/config/preview", data={"_csrf_token": token}, files={"file": ("b.json", raw)}
    )
    assert response.status_code == 403
    response = client.post(
        "/admin/config/apply",
        data={"_csrf_token": token, "bundle": base64.b64encode(raw).decode()},
    )
    assert response.status_code == 403
    assert snapshot(db) == before


def test_the_export_is_the_canonical_bundle(client, db, make_person):
    signed_in(client, make_person)
    add_roles(db, "analyst")
    with db.write() as conn:
        publish_type(conn, SYSTEM, batch_type())
    page = client.get("/admin/config").text
    assert 'name="types" value="batch"' in page
    response = client.get(
        "/admin/config/export",
        params={"types": "batch", "name": "our-lab", "version": "2026.1", "description": ""},
    )
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="our-lab-2026.1.json"'
    with db.read() as conn:
        expected = dump_bundle(
            export_bundle(conn, SYSTEM, types=["batch"], name="our-lab", version="2026.1")
        )
    assert response.content == expected
    everything = client.get("/admin/config/export").content
    with db.read() as conn:
        assert everything == dump_bundle(export_bundle(conn, SYSTEM))


def test_upload_preview_then_apply(client, db, make_person):
    signed_in(client, make_person)
    before = snapshot(db)
    preview = upload(client, encode(starter_bundle()))
    assert preview.status_code == 200
    text = preview.text
    assert "Preview of starter 1.0" in text and "Preview only: nothing was changed yet." in text
    assert "type <code>batch</code>" in text and "workflow <code>review</code>" in text
    assert "Records: 2 to create, 0 already imported." in text
    assert snapshot(db) == before, "a preview changes nothing"
    applied = apply(client, text)
    assert applied.status_code == 200 and "Imported:" in applied.text
    (event,) = audit_events(db, "config.import")
    assert event["details"]["sha256"] in applied.text
    again = upload(client, encode(starter_bundle()))
    assert "Nothing to change" in again.text and "Apply the import" not in again.text


def test_local_changes_are_conflicts_until_forced(client, db, make_person):
    signed_in(client, make_person)
    apply(client, upload(client, encode(starter_bundle())).text)
    with db.write() as conn:
        publish_type(conn, SYSTEM, batch_type(workflow="review", label="Our batch"))
    newer = copy.deepcopy(starter_bundle())
    newer["version"] = "1.1"
    newer["types"][1]["label"] = "Lot"
    preview = upload(client, encode(newer))
    assert preview.status_code == 200
    text = preview.text
    assert "Conflict: type was changed here since it was imported from starter 1.0" in text
    assert (
        "label <strong>changed</strong>: <code>&#34;Our batch&#34;</code> → <code>&#34;Lot&#34;"
        in text
    )
    assert 'name="force"' in text
    before = snapshot(db)
    refused = apply(client, text)
    assert refused.status_code == 409 and "would be overwritten" in refused.text
    assert 'name="force"' in refused.text
    assert snapshot(db) == before
    forced = apply(client, refused.text, force=True)
    assert forced.status_code == 200 and "(overwritten: forced)" in forced.text
    assert audit_events(db, "config.import")[-1]["details"]["force"] is True


def test_an_invalid_bundle_is_refused_by_json_path(client, db, make_person):
    signed_in(client, make_person)
    bad = starter_bundle()
    bad["types"][0]["fields"][2]["type"] = "colour"
    bad["workflows"][0]["transitions"][0]["to"] = "nowhere"
    before = snapshot(db)
    response = upload(client, encode(bad), "broken.json")
    assert response.status_code == 422
    assert "<code>types[0].fields[2].type</code>" in response.text
    assert "<code>workflows[0].transitions[0].to</code> there is no state &#39;nowhere&#39;" in (
        response.text
    )
    assert "broken.json" in response.text
    malformed = upload(client, b'{"format": "labledger.bundle/1", ')
    assert malformed.status_code == 422 and "<code>(document)</code> is not valid JSON" in (
        malformed.text
    )
    empty = upload(client, b"")
    assert empty.status_code == 422 and "choose a bundle file" in empty.text
    damaged = client.post(
        "/admin/config/apply",
        data={"_csrf_token": csrf_token(client, "/admin/config"), "bundle": "%%%"},
    )
    assert damaged.status_code == 422
    assert snapshot(db) == before
