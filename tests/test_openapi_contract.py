"""The OpenAPI document tells the truth: error statuses and shapes, bodies, media types.

Real responses are validated with ``jsonschema`` against the schemas the
served document declares, so a drift between ``api/problems.py`` (or a
handler) and the document fails here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from labledger.settings import RateLimits
from tests.definitions import batch_type, unchanged

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
WRITES = {"post", "put", "patch", "delete"}
ALWAYS = {"401", "403", "422", "429"}
RECORD = "/api/v1/records/{type_key}/{record_id}"


@pytest.fixture
def document(client) -> dict[str, Any]:
    return client.get("/schema/openapi.json").json()


@pytest.fixture
def ann(make_person, publish):
    """An analyst who may create and edit batches."""
    person = make_person("ann", "analyst")
    publish(batch_type())
    return person


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in item.items()
    ]


def _validate(document: dict[str, Any], schema: dict[str, Any], instance: Any) -> None:
    """Validate ``instance`` against ``schema``, resolving refs within the document."""
    root = {**schema, "components": document["components"]}
    Draft202012Validator(root).validate(instance)


def _conforms(document: dict[str, Any], method: str, path: str, response: Any) -> dict[str, Any]:
    """Check a real error against the operation's documented problem response; return its body."""
    documented = document["paths"][path][method]["responses"]
    status = str(response.status_code)
    assert status in documented, f"{method.upper()} {path} answered an undocumented {status}"
    media_type = response.headers["content-type"].split(";")[0]
    assert media_type == "application/problem+json"
    body = response.json()
    _validate(document, documented[status]["content"][media_type]["schema"], body)
    return body


def test_every_api_operation_documents_its_problem_responses(document):
    problem_schema = document["components"]["schemas"]["Problem"]
    assert set(problem_schema["required"]) == {"type", "title", "status", "detail"}
    operations = _operations(document)
    assert len(operations) > 30
    for method, path, operation in operations:
        responses = operation["responses"]
        expected = set(ALWAYS)
        if "{" in path:
            expected |= {"400", "404"}
        if method in WRITES:
            expected |= {"409", "413", "503"}
        # A body read as sent (a bundle) is never refused for its media type.
        body = operation.get("requestBody", {}).get("content", {})
        if "application/json" in body and not operation.get("x-raw-body"):
            expected.add("415")
        assert expected <= set(responses), f"{method.upper()} {path}: {sorted(responses)}"
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert response["content"] == {"application/problem+json": {"schema": PROBLEM_REF}}
    assert "428" in document["paths"][RECORD]["patch"]["responses"]
    assert "Retry-After" in document["paths"][RECORD]["get"]["responses"]["429"]["headers"]


def test_no_error_is_documented_in_the_shape_the_app_never_sends(document):
    assert '"status_code"' not in json.dumps(document["paths"])


def test_real_problems_match_the_documented_problem_schema(db, client, document, ann):
    create = "/api/v1/records/{type_key}"
    with unchanged(db):
        missing = client.get("/api/v1/records/batch/999", headers=ann.headers)
        assert _conforms(document, "get", RECORD, missing)["status"] == 404
        invalid = client.post("/api/v1/records/batch", json={"data": {}}, headers=ann.headers)
        body = _conforms(document, "post", create, invalid)
        assert body["status"] == 422 and body["errors"][0]["field"] == "data.code"
        anonymous = client.get("/api/v1/records/batch/1")
        assert _conforms(document, "get", RECORD, anonymous)["status"] == 401
    created = client.post(
        "/api/v1/records/batch", json={"data": {"code": "B-1"}}, headers=ann.headers
    )
    url = f"/api/v1/records/batch/{created.json()['id']}"
    change = {"data": {"quantity": 1}}
    client.patch(url, json=change, headers={**ann.headers, "If-Match": "1"})
    with unchanged(db):
        stale = client.patch(url, json=change, headers={**ann.headers, "If-Match": "1"})
        body = _conforms(document, "patch", RECORD, stale)
        assert body["status"] == 409 and body["current_version"] == 2
        assert body["current"]["version"] == 2
        unguarded = client.patch(url, json=change, headers=ann.headers)
        assert _conforms(document, "patch", RECORD, unguarded)["status"] == 428


def test_a_throttled_token_gets_the_documented_429(client, document, admin):
    wrong = {"Authorization": "Bearer llt_not-a-token"}
    for _ in range(RateLimits().per_address):
        _conforms(document, "get", "/api/v1/types", client.get("/api/v1/types", headers=wrong))
    throttled = client.get("/api/v1/types", headers=wrong)
    body = _conforms(document, "get", "/api/v1/types", throttled)
    assert body["status"] == 429 and body["retry_after"] == int(throttled.headers["retry-after"])


def test_config_export_matches_its_documented_schema(client, document, admin, ann):
    exported = client.get("/api/v1/config/export", headers=admin.headers)
    assert exported.status_code == 200
    documented = document["paths"]["/api/v1/config/export"]["get"]["responses"]["200"]
    media_type = exported.headers["content-type"].split(";")[0]
    bundle = exported.json()
    assert bundle["types"][0]["key"] == "batch"
    _validate(document, documented["content"][media_type]["schema"], bundle)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_json_not_sent_as_json_is_refused_with_415(db, client, document, ann, content_type):
    body = json.dumps({"data": {"code": "B-1"}}).encode()
    headers = {**ann.headers, **({"Content-Type": content_type} if content_type else {})}
    with unchanged(db):
        refused = client.post("/api/v1/records/batch", content=body, headers=headers)
        problem = _conforms(document, "post", "/api/v1/records/{type_key}", refused)
    assert problem["status"] == 415
    assert problem["errors"][0]["field"] == "Content-Type"


def test_json_with_a_charset_or_a_json_suffix_is_accepted(client, ann):
    for number, content_type in enumerate(
        ["application/json; charset=utf-8", "application/x+json"]
    ):
        sent = json.dumps({"data": {"code": f"B-{number}"}}).encode()
        headers = {**ann.headers, "Content-Type": content_type}
        created = client.post("/api/v1/records/batch", content=sent, headers=headers)
        assert created.status_code == 201, created.text
