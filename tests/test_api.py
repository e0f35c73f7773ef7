"""The REST API end to end: every endpoint, every refusal as RFC 9457 problem JSON."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.definitions import batch_type, counts, measurement_type, unchanged

RECORD_KEYS = {
    "id",
    "type",
    "type_version",
    "number",
    "title",
    "state",
    "version",
    "data",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
}


@pytest.fixture
def ann(make_person, publish):
    """An analyst, with the batch and measurement types published."""
    person = make_person("ann", "analyst", "reviewer")
    publish(batch_type())
    publish(measurement_type())
    return person


def problem(response, status: int) -> dict:
    """Check that ``response`` is an RFC 9457 problem with ``status``; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_types_endpoints(db, client, admin, ann):
    listed = client.get("/api/v1/types", headers=ann.headers).json()["items"]
    assert [(t["key"], t["version"]) for t in listed] == [("batch", 1), ("measurement", 1)]
    assert client.get("/api/v1/types/batch", headers=ann.headers).json()["json_schema"]
    changed = batch_type(label="Lot")
    del changed["key"]  # the address names the type
    published = client.put("/api/v1/types/batch", json=changed, headers=admin.headers)
    assert published.json() == {"key": "batch", "version": 2, "changed": True}
    again = client.put("/api/v1/types/batch", json=changed, headers=admin.headers)
    assert again.json() == {"key": "batch", "version": 2, "changed": False}
    with unchanged(db):
        body = problem(
            client.put("/api/v1/types/batch", json=batch_type(key="lot"), headers=admin.headers),
            422,
        )
        assert body["errors"] == [{"field": "key", "message": "must be 'batch'"}]
        broken = batch_type()
        broken["fields"][1]["type"] = "colour"
        body = problem(client.put("/api/v1/types/batch", json=broken, headers=admin.headers), 422)
        assert body["errors"][0]["field"] == "fields[1].type"
        problem(client.get("/api/v1/types/nothing", headers=admin.headers), 404)


def test_records_create_read_update_list_and_audit(db, client, ann):
    created = client.post(
        "/api/v1/records/batch", json={"data": {"code": "B-1", "quantity": 5}}, headers=ann.headers
    )
    assert created.status_code == 201
    record = created.json()
    assert set(record) == RECORD_KEYS
    assert created.headers["etag"] == '"1"'
    assert record["created_by"] == "ann" and record["data"] == {"code": "B-1", "quantity": 5}
    assert re.fullmatch(r"BAT-\d{4}-0001", record["number"])
    url = f"/api/v1/records/batch/{record['id']}"

    read = client.get(url, headers=ann.headers)
    assert read.json() == record and read.headers["etag"] == '"1"'

    patched = client.patch(
        url, json={"data": {"quantity": 6}}, headers={**ann.headers, "If-Match": '"1"'}
    )
    assert patched.status_code == 200 and patched.headers["etag"] == '"2"'
    assert patched.json()["version"] == 2 and patched.json()["data"]["quantity"] == 6
    patched = client.patch(
        url, json={"data": {"quantity": 7}}, headers={**ann.headers, "If-Match": "2"}
    )
    assert patched.json()["version"] == 3

    listed = client.get("/api/v1/records/batch?quantity__gte=7&sort=number", headers=ann.headers)
    assert listed.json() == {"items": [patched.json()], "next": None}

    history = client.get(f"{url}/audit", headers=ann.headers).json()["items"]
    assert [e["action"] for e in history] == ["record.create", "record.update", "record.update"]
    assert history[2]["changes"] == {"quantity": {"old": 6, "new": 7}}


def test_authentication_is_a_bearer_token_never_a_cookie(db, client, ann):
    for headers in (
        {},
        {"Authorization": "Bearer llt_unknown"},
        {"Authorization": "Bearer "},
        {"Authorization": f"Basic {ann.token}"},
    ):
        body = problem(client.get("/api/v1/types", headers=headers), 401)
        assert "token" in body["detail"]
    response = client.get("/api/v1/types")
    assert response.headers["www-authenticate"].startswith("Bearer")
    with unchanged(db):
        for cookie in ("session", "token", "Authorization"):
            client.cookies.set(cookie, ann.token)
        problem(client.post("/api/v1/records/batch", json={"data": {"code": "B-1"}}), 401)
        problem(client.get("/api/v1/records/batch"), 401)
    client.cookies.clear()


def test_unknown_things_and_wrong_methods(db, client, ann):
    created = client.post(
        "/api/v1/records/batch", json={"data": {"code": "B-1"}}, headers=ann.headers
    )
    url = f"/api/v1/records/batch/{created.json()['id']}"
    with unchanged(db):
        problem(client.get("/api/v1/records/nothing", headers=ann.headers), 404)
        problem(client.post("/api/v1/records/nothing", json={"data": {}}, headers=ann.headers), 404)
        problem(client.get("/api/v1/records/batch/999999", headers=ann.headers), 404)
        problem(client.get(url.replace("batch", "measurement"), headers=ann.headers), 404)
        problem(client.get("/api/v1/nowhere", headers=ann.headers), 404)
        body = problem(client.delete(url, headers=ann.headers), 405)
        assert "DELETE" in body["detail"]
        problem(client.put(url, json={"data": {}}, headers=ann.headers), 405)
    assert client.get(url, headers=ann.headers).status_code == 200, "records are never deleted"


def test_bad_bodies_are_refused_with_field_errors(db, client, ann):
    created = client.post(
        "/api/v1/records/batch", json={"data": {"code": "B-1"}}, headers=ann.headers
    )
    url = f"/api/v1/records/batch/{created.json()['id']}"
    json_headers = {**ann.headers, "Content-Type": "application/json"}
    with unchanged(db):
        problem(
            client.post("/api/v1/records/batch", content=b'{"data": {', headers=json_headers), 400
        )
        problem(client.post("/api/v1/records/batch", content=b"[1, 2]", headers=json_headers), 400)
        problem(
            client.post("/api/v1/records/batch", json={"code": "B-2"}, headers=ann.headers), 400
        )
        problem(
            client.post(
                "/api/v1/records/batch",
                json={"data": {"code": "B-2"}, "extra": 1},
                headers=ann.headers,
            ),
            400,
        )
        problem(client.patch(url, content=b"{oops", headers={**json_headers, "If-Match": "1"}), 400)
        body = problem(
            client.post(
                "/api/v1/records/batch",
                json={
                    "data": {
                        "code": "B-2",
                        "colour": "red",
                        "quantity": "many",
                        "made_on": "2026-13-01",
                    }
                },
                headers=ann.headers,
            ),
            422,
        )
        assert {e["field"] for e in body["errors"]} == {"data.colour", "data.quantity"}
        assert all(e["message"] for e in body["errors"])
        body = problem(
            client.post(
                "/api/v1/records/measurement",
                json={"data": {"name": "x", "value": 5000}},
                headers=ann.headers,
            ),
            422,
        )
        assert body["errors"] == [{"field": "data.value", "message": "must be at most 1000"}]


def test_optimistic_concurrency_over_http(db, client, ann):
    created = client.post(
        "/api/v1/records/batch", json={"data": {"code": "B-1"}}, headers=ann.headers
    )
    url = f"/api/v1/records/batch/{created.json()['id']}"
    client.patch(url, json={"data": {"quantity": 1}}, headers={**ann.headers, "If-Match": "1"})
    with unchanged(db):
        body = problem(client.patch(url, json={"data": {"quantity": 2}}, headers=ann.headers), 428)
        assert "If-Match" in body["detail"]
        body = problem(
            client.patch(
                url, json={"data": {"quantity": 2}}, headers={**ann.headers, "If-Match": "x"}
            ),
            422,
        )
        assert body["errors"][0]["field"] == "If-Match"
        body = problem(
            client.patch(
                url, json={"data": {"quantity": 2}}, headers={**ann.headers, "If-Match": "1"}
            ),
            409,
        )
        assert body["current_version"] == 2
    assert client.get(url, headers=ann.headers).json()["data"]["quantity"] == 1


def test_attachments_upload_download_and_size_limits(db, client, admin, ann, make_person, settings):
    content = b"time,value\n0,7.25\n"
    uploaded = client.post(
        "/api/v1/attachments?filename=../../raw%20data.csv",
        content=content,
        headers={**ann.headers, "Content-Type": "text/csv"},
    )
    assert uploaded.status_code == 201
    info = uploaded.json()
    assert info["filename"] == "raw data.csv" and info["size"] == len(content)
    assert info["sha256"] == hashlib.sha256(content).hexdigest()
    created = client.post(
        "/api/v1/records/measurement",
        json={"data": {"name": "pH", "raw_file": info["id"]}},
        headers=ann.headers,
    )
    assert created.status_code == 201
    download = client.get(f"/api/v1/attachments/{info['id']}", headers=ann.headers)
    assert download.content == content
    assert download.headers["x-content-sha256"] == info["sha256"]
    assert client.get(f"/api/v1/attachments/{info['id']}").status_code == 401
    outsider = make_person("olga", "visitor")
    problem(client.get(f"/api/v1/attachments/{info['id']}", headers=outsider.headers), 403)
    as_admin = client.get(f"/api/v1/attachments/{info['id']}", headers=admin.headers)
    assert as_admin.content == content, "readers of the record read its files"
    with unchanged(db):
        body = problem(
            client.post(
                "/api/v1/attachments",
                content=b"x" * (settings.attachment_max_bytes + 1),
                headers=ann.headers,
            ),
            413,
        )
        assert str(settings.attachment_max_bytes) in body["detail"]
        problem(client.post("/api/v1/attachments", content=b"", headers=ann.headers), 422)
        big = client.post("/api/v1/attachments", content=b"x" * 101, headers=ann.headers).json()
        body = problem(
            client.post(
                "/api/v1/records/measurement",
                json={"data": {"name": "pH", "raw_file": big["id"]}},
                headers=ann.headers,
            ),
            422,
        )
        assert body["errors"][0]["field"] == "data.raw_file"


def test_system_audit_trail_filters_by_user_type_and_time(db, client, admin, ann, make_person):
    bob = make_person("bob", "analyst")
    before = datetime.now(UTC) - timedelta(seconds=1)
    client.post("/api/v1/records/batch", json={"data": {"code": "B-1"}}, headers=ann.headers)
    client.post("/api/v1/records/batch", json={"data": {"code": "B-2"}}, headers=bob.headers)
    client.post("/api/v1/records/measurement", json={"data": {"name": "m"}}, headers=bob.headers)
    after = datetime.now(UTC) + timedelta(seconds=1)

    def search(query: str) -> list[tuple[str, str | None]]:
        response = client.get(f"/api/v1/audit?{query}", headers=admin.headers)
        assert response.status_code == 200, response.text
        return [(e["actor"], e["record_number"]) for e in response.json()["items"]]

    by_bob = search("user=bob")
    assert [n[:3] for _, n in by_bob] == ["MEA", "BAT"], "newest first"
    assert [a for a, _ in search("type=batch&action=record.create")] == ["bob", "ann"]
    start, end = (moment.isoformat().replace("+00:00", "Z") for moment in (before, after))
    assert len(search(f"from={start}&to={end}&action=record.create")) == 3
    assert search(f"to={start}&action=record.create") == []
    assert search(f"from={end}") == []
    first = client.get("/api/v1/audit?limit=2", headers=admin.headers).json()
    second = client.get(
        f"/api/v1/audit?limit=2&before={first['next']}", headers=admin.headers
    ).json()
    assert first["items"][-1]["seq"] - 1 == second["items"][0]["seq"]
    body = problem(client.get("/api/v1/audit?from=yesterday", headers=admin.headers), 422)
    assert body["errors"][0]["field"] == "from"
    problem(client.get("/api/v1/audit?from=2026-01-01T00:00:00", headers=admin.headers), 422)
    problem(client.get("/api/v1/audit", headers=ann.headers), 403)
    verified = client.get("/api/v1/audit/verify", headers=admin.headers).json()
    assert verified["ok"] is True and verified["events"] == counts(db)[1]


def test_openapi_and_an_offline_viewer(client):
    schema = client.get("/schema/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/v1/types",
        "/api/v1/types/{type_key}",
        "/api/v1/records/{type_key}",
        "/api/v1/records/{type_key}/{record_id}",
        "/api/v1/records/{type_key}/{record_id}/audit",
        "/api/v1/audit",
        "/api/v1/attachments",
    ):
        assert path in paths, sorted(paths)


def test_the_api_viewer_loads_nothing_from_the_internet(client):
    """Labs run air-gapped: every script, style sheet and icon comes from /static."""
    page = client.get("/schema/swagger")
    assert page.status_code == 200
    assets = re.findall(r"""(?:src|href)=["']([^"']*)["']""", page.text)
    assert [a for a in assets if not a.startswith("/static/")] == []
    assert len(assets) >= 3
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200 and served.content, asset
