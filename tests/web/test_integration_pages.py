"""The integration pages: webhooks and their delivery monitor, import mappings and
their editor, running an import; permissions, CSRF, bad input and escaping."""

from __future__ import annotations

import base64
import html
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from markupsafe import escape
from sqlalchemy import select

from labledger.canonical import sha256_hex
from labledger.db.integration_tables import import_run, webhook_delivery
from labledger.db.tables import audit_event, record
from labledger.identity.principal import SYSTEM
from labledger.integration.allowlist import Allowlist
from labledger.integration.delivery import Answer, DeliveryPolicy, deliver_due
from labledger.integration.mappings import load_mapping, mapping_errors, publish_mapping
from labledger.integration.subscriptions import create_subscription, list_subscriptions
from labledger.records.service import create_record
from labledger.settings import WEBHOOK_ALLOWLIST_ENV
from tests.conftest import TEST_PASSWORD
from tests.definitions import acting, add_roles, batch_type, measurement_type, unchanged
from tests.test_integration_mappings import HEADER, batch_mapping, results_mapping
from tests.test_integration_support import allow_webhooks
from tests.web.helpers import csrf_token, sign_in
from tests.web.test_admin_types import ADMIN_PERMISSIONS

ANALYST = acting("ann", "analyst")
T0 = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
POLICY = DeliveryPolicy(timeout=5, base_delay=60, max_delay=3600)
HOSTILE = '<script>alert("x")</script>'
GOOD = HEADER + "B-1,pH,3.5,mg/L,2026-05-01\nB-2,Lead,0.004,g/L,2026-05-02\n"
ONE_BAD = GOOD + "B-9,Zinc,2,mg/L,2026-05-02\n"


@pytest.fixture
def lab(db, publish):
    """Batch and measurement types, batches B-1 and B-2, and two mappings."""
    add_roles(db, "analyst", "reviewer")
    publish(batch_type())
    publish(measurement_type())
    with db.write() as conn:
        for code in ("B-1", "B-2"):
            create_record(conn, ANALYST, "batch", {"code": code})
        publish_mapping(conn, SYSTEM, results_mapping())
        publish_mapping(conn, SYSTEM, batch_mapping(mode="row"))


@pytest.fixture
def admin_client(client, make_person, lab):
    """Signed in as an admin who may also create records of the lab's types."""
    make_person("ada", "configurer", "analyst", permissions=ADMIN_PERMISSIONS)
    sign_in(client, "ada", TEST_PASSWORD)
    return client


def post_form(client, path: str, form: dict[str, Any], *, page: str | None = None, **kw: Any):
    token = csrf_token(client, page or path)
    return client.post(path, data={"_csrf_token": token, **form}, **kw)


def hidden(page: str, name: str) -> str:
    found = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)">', page)
    assert found, f"no hidden input {name}"
    return html.unescape(found.group(1))


def text_of(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', page, re.S)
    assert found, f"no element #{element_id}"
    return html.unescape(found.group(1))


def audit_actions(db, action: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(
            select(audit_event.c.details, audit_event.c.changes)
            .where(audit_event.c.action == action)
            .order_by(audit_event.c.seq)
        ).mappings()
        return [dict(r) for r in rows]


# --- permissions and CSRF ---


def test_pages_refuse_users_without_the_permission(db, client, make_person, lab):
    make_person("ann", "analyst")
    sign_in(client, "ann", TEST_PASSWORD)
    with db.write() as conn:
        create_subscription(
            conn,
            SYSTEM,
            {"name": "erp", "url": "http://127.0.0.1:9/in"},
            Allowlist.parse("127.0.0.1"),
        )
    home = client.get("/").text
    assert 'href="/imports"' in home and 'href="/admin/webhooks"' not in home
    for path in (
        "/admin/webhooks",
        "/admin/webhooks/new",
        "/admin/webhooks/erp/edit",
        "/admin/webhooks/erp/monitor",
        "/admin/webhooks/erp/monitor/status",
        "/mappings/new",
        "/mappings/plate_results/edit",
    ):
        refused = client.get(path)
        assert refused.status_code == 403, path
        assert "Forbidden" in refused.text and "configure" in refused.text
    token = csrf_token(client, "/imports")
    definition = json.dumps(results_mapping(label="Changed"))
    with unchanged(db):
        for path, form in (
            ("/admin/webhooks/new", {"name": "x", "url": "http://127.0.0.1:9/x"}),
            ("/admin/webhooks/erp/edit", {"url": "http://127.0.0.1:9/y"}),
            ("/admin/webhooks/erp/replay", {}),
            ("/mappings/plate_results/edit", {"op": "publish", "definition": definition}),
            ("/mappings/new", {"op": "check", "definition": definition}),
        ):
            assert client.post(path, data={"_csrf_token": token, **form}).status_code == 403, path
    # Reading mappings and importing follow the target type's permissions instead.
    listed = client.get("/mappings")
    assert listed.status_code == 200 and "Plate reader results" in listed.text
    assert "/mappings/plate_results/edit" not in listed.text
    assert client.get("/mappings/plate_results").status_code == 200


def test_importing_needs_create_permission_on_the_target_type(db, client, make_person, lab):
    make_person("otto", "viewer")
    sign_in(client, "otto", TEST_PASSWORD)
    listed = client.get("/mappings").text
    assert "batch_list" in listed and "plate_results" not in listed
    assert client.get("/mappings/plate_results").status_code == 403
    assert client.get("/mappings/nope").status_code == 404
    with unchanged(db):
        refused = client.post(
            "/imports/preview",
            data={"_csrf_token": csrf_token(client, "/imports"), "mapping": "batch_list"},
            files={"file": ("b.csv", b"Code,Product\nB-7,Aspirin\n", "text/csv")},
        )
    assert refused.status_code == 403 and "You may not create Batches." in refused.text


def test_forms_without_the_csrf_token_are_refused(db, admin_client):
    with unchanged(db):
        refused = admin_client.post(
            "/admin/webhooks/new", data={"name": "erp", "url": "http://127.0.0.1:9/in"}
        )
    assert refused.status_code == 403
    with db.read() as conn:
        assert list_subscriptions(conn, SYSTEM) == []


# --- webhooks ---


def test_a_webhook_is_created_and_changed_and_its_secret_is_write_only(
    db, admin_client, monkeypatch
):
    allow_webhooks(monkeypatch, db, "hooks.example.com")
    client = admin_client
    assert 'href="/admin/webhooks"' in client.get("/").text
    form = {
        "name": "erp",
        "url": "https://elsewhere.example.org/in",
        "types": ["batch"],
        "kinds": "record.*",
        "states": "",
        "active": "1",
        "max_attempts": "5",
    }
    with unchanged(db):
        refused = post_form(client, "/admin/webhooks/new", form)
    assert refused.status_code == 422
    assert "is not in the webhook allowlist" in text_of(refused.text, "url-error")
    assert 'value="https://elsewhere.example.org/in"' in refused.text, "what was typed is kept"
    form.update(url="https://hooks.example.com/labledger", kinds="record.*, Not A Kind")
    with unchanged(db):
        refused = post_form(client, "/admin/webhooks/new", form)
    assert refused.status_code == 422
    assert "<code>kinds[1]</code> does not match the required format" in refused.text
    assert 'value="record.*, Not A Kind"' in refused.text

    form.update(kinds="record.*")
    created = post_form(client, "/admin/webhooks/new", form)
    assert created.status_code == 200 and "Webhook erp was created." in created.text
    secret = text_of(created.text, "webhook-secret")
    assert secret.startswith("whsec_")
    assert secret not in client.get("/admin/webhooks").text
    edit = client.get("/admin/webhooks/erp/edit")
    assert edit.status_code == 200 and secret not in edit.text
    assert (
        'value="https://hooks.example.com/labledger"' in edit.text
        and "A secret is set" in edit.text
    )

    typed = "a-secret-of-our-own-1234"
    saved = post_form(
        client,
        "/admin/webhooks/erp/edit",
        {"url": "https://hooks.example.com/v2", "kinds": "", "states": "released", "secret": typed},
    )
    assert saved.status_code == 200 and "Webhook erp was saved." in saved.text
    assert typed not in saved.text and 'id="webhook-secret"' not in saved.text
    with db.read() as conn:
        [hook] = list_subscriptions(conn, SYSTEM)
    assert hook["url"] == "https://hooks.example.com/v2" and hook["active"] is False
    assert hook["filter"] == {"types": [], "kinds": [], "states": ["released"]}
    assert hook["max_attempts"] == 5, "a blank field leaves the number as it was"

    rotated = post_form(
        client,
        "/admin/webhooks/erp/edit",
        {"url": "https://hooks.example.com/v2", "rotate_secret": "1", "active": "1"},
    )
    assert text_of(rotated.text, "webhook-secret") not in (secret, typed)
    too_short = post_form(
        client, "/admin/webhooks/erp/edit", {"url": "https://hooks.example.com/v2", "secret": "x"}
    )
    assert too_short.status_code == 422
    assert "must be at least 16 characters" in text_of(too_short.text, "secret-error")
    bad_number = post_form(
        client,
        "/admin/webhooks/erp/edit",
        {"url": "https://hooks.example.com/v2", "max_attempts": "many"},
    )
    assert bad_number.status_code == 422
    assert "must be a whole number" in text_of(bad_number.text, "max_attempts-error")
    taken = post_form(client, "/admin/webhooks/new", {"name": "erp", "url": form["url"]})
    assert "exists already" in text_of(taken.text, "name-error")
    [create] = audit_actions(db, "webhook.create")
    assert create["changes"]["secret"]["new"] == "(set)"
    assert len(audit_actions(db, "webhook.update")) == 2
    assert client.get("/admin/webhooks/nope/edit").status_code == 404
    missing = post_form(
        client, "/admin/webhooks/nope/edit", {"url": form["url"]}, page="/admin/webhooks"
    )
    assert missing.status_code == 404 and "There is no webhook &#39;nope&#39;." in missing.text


def test_a_misconfigured_allowlist_is_said_above_the_form(db, admin_client, monkeypatch):
    allow_webhooks(monkeypatch, db, "ftp://files.example.com")
    refused = post_form(
        admin_client, "/admin/webhooks/new", {"name": "erp", "url": "https://a.example.com/"}
    )
    assert refused.status_code == 422
    assert "The webhook allowlist is misconfigured." in refused.text
    assert f"<code>{WEBHOOK_ALLOWLIST_ENV}</code>" in refused.text


def _failing(status: int, body: str):
    def transport(url: str, content: bytes, headers: dict[str, str], timeout: float) -> Answer:
        return Answer(status, body)

    return transport


def _dead_delivery(db) -> int:
    """A webhook 'erp' with one dead delivery: its receiver answered 500 with hostile text."""
    allowlist = Allowlist.parse("127.0.0.1:9")
    with db.write() as conn:
        create_subscription(
            conn,
            SYSTEM,
            {
                "name": "erp",
                "url": "http://127.0.0.1:9/in",
                "kinds": ["record.*"],
                "max_attempts": 1,
            },
            allowlist,
        )
        create_record(conn, ANALYST, "batch", {"code": "B-3"})
    result = deliver_due(
        db, now=T0, policy=POLICY, allowlist=allowlist, transport=_failing(500, HOSTILE)
    )
    assert result.dead == 1
    with db.read() as conn:
        return conn.execute(select(webhook_delivery.c.id)).scalar_one()


def _status(db, delivery_id: int) -> str:
    with db.read() as conn:
        return conn.execute(
            select(webhook_delivery.c.status).where(webhook_delivery.c.id == delivery_id)
        ).scalar_one()


def test_the_monitor_shows_failures_and_replays_dead_deliveries(db, admin_client):
    client = admin_client
    dead = _dead_delivery(db)
    listed = client.get("/admin/webhooks").text
    assert '<span class="badge overdue">1</span>' in listed
    monitor = client.get("/admin/webhooks/erp/monitor")
    assert monitor.status_code == 200
    page = monitor.text
    assert text_of(page, "stat-dead") == "1" and text_of(page, "stat-queue") == "0"
    assert text_of(page, "stat-last-success") == "never"
    assert "HTTP 500" in page and HOSTILE not in page and str(escape(HOSTILE)) in page
    assert f'name="delivery" value="{dead}"' in page and "Replay all 1 dead" in page
    status = client.get("/admin/webhooks/erp/monitor/status")
    assert status.status_code == 200 and 'hx-trigger="every 10s"' in status.text
    assert "<html" not in status.text

    replayed = post_form(
        client,
        "/admin/webhooks/erp/replay",
        {"delivery": str(dead)},
        page="/admin/webhooks/erp/monitor",
        follow_redirects=False,
    )
    assert replayed.status_code == 303
    assert replayed.headers["location"] == "/admin/webhooks/erp/monitor?replayed=1"
    assert "1 dead delivery was replayed" in client.get(replayed.headers["location"]).text
    assert _status(db, dead) == "pending"
    [event] = audit_actions(db, "webhook.replay")
    assert event["details"] == {"webhook": "erp", "deliveries": [dead]}
    waiting = client.get("/admin/webhooks/erp/monitor?status=pending").text
    assert f'id="delivery-{dead}"' in waiting

    with unchanged(db):
        again = post_form(
            client, "/admin/webhooks/erp/replay", {"delivery": str(dead)}, page="/admin/webhooks"
        )
        assert again.status_code == 422
        assert "Only dead deliveries of this webhook can be replayed." in again.text
        garbled = post_form(
            client, "/admin/webhooks/erp/replay", {"delivery": "all"}, page="/admin/webhooks"
        )
        assert garbled.status_code == 422 and "is not a delivery number" in garbled.text
    nothing = post_form(client, "/admin/webhooks/erp/replay", {}, page="/admin/webhooks")
    assert nothing.status_code == 200 and "There was no dead delivery to replay." in nothing.text

    deliver_due(
        db,
        now=T0,
        policy=POLICY,
        allowlist=Allowlist.parse("127.0.0.1:9"),
        transport=_failing(200, "ok"),
    )
    after = client.get("/admin/webhooks/erp/monitor?status=all").text
    assert text_of(after, "stat-last-success") == "2030-01-01 08:00:00 UTC"
    assert text_of(after, "stat-dead") == "0" and "delivered</span>" in after
    assert client.get("/admin/webhooks/nope/monitor").status_code == 404
    assert post_form(client, "/admin/webhooks/nope/replay", {}, page="/imports").status_code == 404


def test_replay_all_revives_every_dead_delivery(db, admin_client):
    dead = _dead_delivery(db)
    replayed = post_form(admin_client, "/admin/webhooks/erp/replay", {}, page="/admin/webhooks")
    assert replayed.status_code == 200 and "1 dead delivery was replayed" in replayed.text
    assert _status(db, dead) == "pending"


# --- mappings ---


def test_a_mapping_reads_as_a_table_with_its_versions(db, admin_client):
    client = admin_client
    listed = client.get("/mappings").text
    assert "Plate reader results" in listed and "/mappings/plate_results/edit" in listed
    page = client.get("/mappings/plate_results").text
    assert "<code>Sample</code>" in page and "the value of code of the record it refers to" in page
    assert "unit named in column <code>Unit</code>" in page
    assert "<code>g/L</code> \u00d7 1000" in page
    assert '<code>method</code> = <code>"hplc"</code>' in page
    assert "all or nothing" in page and '<span class="badge">current</span>' in page
    with db.write() as conn:
        publish_mapping(conn, SYSTEM, results_mapping(label="Plate reader, v2"))
    older = client.get("/mappings/plate_results?version=1").text
    assert "not current (version 2 is)" in older and "Plate reader results" in older
    assert client.get("/mappings/plate_results?version=7").status_code == 404


@pytest.mark.parametrize("target", ["batch", "measurement"])
def test_a_new_mapping_starts_from_its_types_fields(db, admin_client, target):
    page = admin_client.get(f"/mappings/new?target={target}")
    assert page.status_code == 200
    starter = json.loads(html.unescape(text_of(page.text, "definition")))
    assert starter["key"] == f"{target}_import" and starter["target"] == target
    with db.read() as conn:
        assert mapping_errors(conn, starter) == [], "the template publishes as it is"
    if target == "measurement":
        columns = {c["field"]: c for c in starter["columns"]}
        assert columns["batch"]["lookup"] == {"by": "number"}
        assert columns["value"]["unit"] == {"expected": "mg/L"}
        assert "raw_file" not in columns and "out_of_limits" not in columns
        assert "optional" not in columns["name"] and columns["notes"]["optional"] is True


def test_the_editor_checks_by_json_path_and_publishes_versions(db, admin_client):
    client = admin_client
    starter = html.unescape(text_of(client.get("/mappings/new?target=batch").text, "definition"))
    checked = post_form(client, "/mappings/new", {"op": "check", "definition": starter})
    assert checked.status_code == 200
    assert "No problems found. Publishing creates mapping batch_import, version 1." in checked.text
    published = post_form(
        client, "/mappings/new", {"op": "publish", "definition": starter}, follow_redirects=False
    )
    assert published.status_code == 303
    assert published.headers["location"] == "/mappings/batch_import?published=1"
    assert "Version 1 was published." in client.get(published.headers["location"]).text
    [event] = [
        e for e in audit_actions(db, "config.publish") if e["details"]["key"] == "batch_import"
    ]
    assert event["details"]["kind"] == "mapping"

    edit = client.get("/mappings/batch_import/edit").text
    text = html.unescape(text_of(edit, "definition"))
    assert json.loads(text) == json.loads(starter)
    with unchanged(db):
        broken = post_form(
            client, "/mappings/batch_import/edit", {"op": "publish", "definition": text[:-3]}
        )
        assert broken.status_code == 422
        assert "<code>(document)</code> is not valid JSON" in broken.text
        assert text[:-3].split("\n")[1] in html.unescape(broken.text), "the text is kept"
        wrong = json.loads(text)
        wrong["columns"][0]["field"] = "nope"
        wrong["mode"] = "sometimes"
        for op in ("check", "publish"):
            refused = post_form(
                client, "/mappings/batch_import/edit", {"op": op, "definition": json.dumps(wrong)}
            )
            assert refused.status_code == 422
            assert "<code>mode</code> must be one of" in refused.text
        del wrong["mode"]
        refused = post_form(
            client, "/mappings/batch_import/edit", {"op": "check", "definition": json.dumps(wrong)}
        )
        assert "<code>columns[0].field</code> Batch has no field &#39;nope&#39;" in refused.text
        same = post_form(
            client, "/mappings/batch_import/edit", {"op": "publish", "definition": text}
        )
        assert same.status_code == 200 and "Nothing changed: version 1 is current." in same.text
    changed = json.loads(text)
    changed["label"] = "Supplier batch list"
    check = post_form(
        client, "/mappings/batch_import/edit", {"op": "check", "definition": json.dumps(changed)}
    )
    assert "Publishing creates version 2." in check.text
    second = post_form(
        client,
        "/mappings/batch_import/edit",
        {"op": "publish", "definition": json.dumps(changed)},
        follow_redirects=False,
    )
    assert second.headers["location"] == "/mappings/batch_import?published=2"
    with db.read() as conn:
        assert load_mapping(conn, "batch_import").spec.label == "Supplier batch list"
    history = client.get("/mappings/batch_import/edit").text
    assert "Published versions" in history and history.count("<td>ada</td>") == 2


def test_hostile_names_and_urls_are_escaped(db, admin_client, monkeypatch):
    client = admin_client
    hostile = results_mapping(key="hostile", label=HOSTILE, description=HOSTILE)
    hostile["columns"][1]["source"] = HOSTILE
    published = post_form(
        client, "/mappings/new", {"op": "publish", "definition": json.dumps(hostile)}
    )
    assert published.status_code == 200, "after the redirect"
    allow_webhooks(monkeypatch, db, "127.0.0.1:9")
    url = 'http://127.0.0.1:9/"><script>alert("u")</script>'
    created = post_form(client, "/admin/webhooks/new", {"name": "odd", "url": url, "active": "1"})
    assert created.status_code == 200
    for path in (
        "/mappings",
        "/mappings/hostile",
        "/mappings/hostile/edit",
        "/imports?mapping=hostile",
        "/admin/webhooks",
        "/admin/webhooks/odd/edit",
        "/admin/webhooks/odd/monitor",
    ):
        page = client.get(path).text
        assert "<script>alert" not in page, path
    assert str(escape(HOSTILE)) in client.get("/mappings/hostile").text


# --- imports ---


def preview(client, raw: bytes, mapping: str = "plate_results", filename: str = "plate.csv"):
    return client.post(
        "/imports/preview",
        data={"_csrf_token": csrf_token(client, "/imports"), "mapping": mapping},
        files={"file": (filename, raw, "text/csv")},
    )


def apply(client, preview_page: str, **extra: str):
    form = {name: hidden(preview_page, name) for name in ("mapping", "filename", "file")}
    return post_form(client, "/imports/apply", {**form, **extra}, page="/imports")


def test_a_file_is_previewed_row_by_row_then_applied(db, admin_client):
    client = admin_client
    with unchanged(db):
        bad = preview(client, ONE_BAD.encode())
    assert bad.status_code == 200
    assert "1 of 3 row(s) have errors" in bad.text and 'id="apply"' not in bad.text
    assert "line 4, column <code>Sample</code> (field <code>batch</code>)" in bad.text
    assert "there is no batch record with code &#39;B-9&#39;" in bad.text
    assert 'id="line-4" class="error-row"' in bad.text

    good = preview(client, GOOD.encode(), filename="plate-0501.csv")
    assert good.status_code == 200 and "Preview only: nothing was written yet." in good.text
    assert good.text.count('<span class="badge ok">create</span>') == 2
    assert base64.b64decode(hidden(good.text, "file")) == GOOD.encode()
    applied = apply(client, good.text)
    assert applied.status_code == 200
    with db.read() as conn:
        run = conn.execute(select(import_run)).mappings().one()
        made = conn.execute(
            select(record.c.id, record.c.number).where(record.c.type_key == "measurement")
        ).all()
    assert f'<a href="/imports/{run["id"]}" id="import-link">import {run["id"]}</a>' in applied.text
    detail = client.get(f"/imports/{run['id']}")
    assert detail.status_code == 200
    assert text_of(detail.text, "import-sha256") == sha256_hex(GOOD.encode())
    assert '<a href="/mappings/plate_results?version=1">plate_results</a> version 1' in detail.text
    for record_id, number in made:
        assert f'<a href="/records/measurement/{record_id}">{number}</a>' in detail.text
    assert f"/audit?action=import.apply&amp;before={run['audit_seq'] + 1}" in detail.text
    past = client.get("/imports").text
    assert f'<a href="/imports/{run["id"]}">' in past and "plate-0501.csv" in past

    with unchanged(db):
        again = preview(client, GOOD.encode(), filename="copy.csv")
    assert again.status_code == 409 and "already imported" in again.text
    assert f'<a href="/imports/{run["id"]}">See import {run["id"]}</a>' in again.text
    assert client.get("/imports/999").status_code == 404


def test_a_row_by_row_import_writes_good_rows_with_the_reason_given(db, admin_client):
    client = admin_client
    raw = b"Code,Product\nB-1,Aspirin\nB-3,Ibuprofen\nbad code,Nothing\n"
    shown = preview(client, raw, mapping="batch_list", filename="batches.csv")
    assert "would be skipped; the others would be written" in shown.text
    assert '<span class="badge ok">update</span>' in shown.text and 'id="reason"' in shown.text
    applied = apply(client, shown.text, reason="Supplier list of May")
    assert applied.status_code == 200 and "1 row(s) with errors skipped" in applied.text
    with db.read() as conn:
        run = conn.execute(select(import_run)).mappings().one()
        reason = conn.execute(
            select(audit_event.c.reason).where(audit_event.c.action == "record.update")
        ).scalar_one()
    assert reason == "Supplier list of May"
    detail = client.get(f"/imports/{run['id']}").text
    assert "Rows skipped" in detail and "line 4, column <code>Code</code>" in detail


def test_files_that_cannot_be_imported_are_explained(db, admin_client):
    client = admin_client
    with db.write() as conn:
        publish_mapping(conn, SYSTEM, results_mapping(key="tiny", max_bytes=40))
    with unchanged(db):
        nothing = client.post(
            "/imports/preview", data={"_csrf_token": csrf_token(client, "/imports")}
        )
        assert nothing.status_code == 422
        assert "choose the mapping to import through" in text_of(nothing.text, "mapping-error")
        assert "choose a file (.csv or .json) to upload" in text_of(nothing.text, "file-error")
        header = preview(client, b"Sample,Test,Value\nB-1,pH,3\n")
        assert header.status_code == 422
        assert "The file&#39;s header does not fit the mapping." in header.text
        assert "the column 'Result' is missing (line 1)" in text_of(header.text, "file-error")
        large = preview(client, GOOD.encode(), mapping="tiny")
        assert large.status_code == 413
        assert "mapping &#39;tiny&#39; takes at most 40." in large.text
        assert "must be at most 40 bytes" in text_of(large.text, "file-error")
        latin = preview(client, HEADER.encode() + "B-1,pH é,3,mg/L,2026-05-01\n".encode("latin-1"))
        assert latin.status_code == 422 and "is not valid utf-8: byte 0xe9 at line 2" in latin.text
        unknown = preview(client, GOOD.encode(), mapping="nope")
        assert unknown.status_code == 404
        assert "There is no import mapping 'nope'." in text_of(unknown.text, "mapping-error")
        damaged = post_form(
            client,
            "/imports/apply",
            {"mapping": "plate_results", "filename": "x.csv", "file": "%%%"},
            page="/imports",
        )
        assert damaged.status_code == 422 and "damaged file" in damaged.text
        carried = base64.b64encode(ONE_BAD.encode()).decode()
        refused = post_form(
            client,
            "/imports/apply",
            {"mapping": "plate_results", "filename": "x.csv", "file": carried},
            page="/imports",
        )
        assert refused.status_code == 422 and "Nothing was written" in refused.text
        assert "there is no batch record with code &#39;B-9&#39;" in refused.text
