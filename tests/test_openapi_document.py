"""The OpenAPI document describes every body: a walk over all of its API operations.

``test_openapi_contract.py`` checks real error responses against the
document and ``tests/fuzz`` checks generated requests; this walk checks the
document itself, so an operation added with an undescribed body (a bare
``object``), an error in another shape than problem JSON, or a missing 401
fails even before anything calls it.
"""

from __future__ import annotations

from typing import Any

import pytest

from labledger.api.problems import PROBLEM_JSON

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
METHODS = {"get", "put", "post", "patch", "delete"}


@pytest.fixture
def document(client) -> dict[str, Any]:
    return client.get("/schema/openapi.json").json()


def _operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in document["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in item.items()
        if method in METHODS
    ]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The component a ``$ref`` names (or the schema itself)."""
    ref = schema.get("$ref")
    if ref is None:
        return schema
    return document["components"]["schemas"][ref.removeprefix("#/components/schemas/")]


def _described(document: dict[str, Any], schema: dict[str, Any]) -> bool:
    """A JSON body's schema names its members (a bare ``object`` does not)."""
    resolved = _resolve(document, schema)
    return resolved.get("type") == "object" and bool(resolved.get("properties"))


def _success_problems(document: dict[str, Any], operation: dict[str, Any]) -> list[str]:
    """What is wrong with an operation's 2xx responses (nothing: an empty list)."""
    successes = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
    if not successes:
        return ["no 2xx response"]
    problems = []
    for status, response in successes.items():
        content = response.get("content")
        if not content:
            if status != "204":
                problems.append(f"{status} has no body")
            continue
        for media_type, body in content.items():
            schema = body.get("schema", {})
            if media_type == "application/json" and not _described(document, schema):
                problems.append(f"{status} {media_type} body is not described: {schema}")
            elif media_type != "application/json" and schema.get("type") != "string":
                problems.append(f"{status} {media_type} body is not a string")
    return problems


def test_every_success_body_is_described(document):
    operations = _operations(document)
    assert len(operations) > 30
    undescribed = {
        name: found
        for name, operation in operations
        if (found := _success_problems(document, operation))
    }
    assert not undescribed


def test_record_bodies_describe_their_envelope(document):
    record = _resolve(document, {"$ref": "#/components/schemas/RecordView"})
    envelope = {"id", "number", "type", "state", "version", "data", "created_at", "updated_at"}
    assert envelope <= set(record["required"])
    created = document["paths"]["/api/v1/records/{type_key}"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RecordView"
    }


def test_every_error_is_problem_json(document):
    for name, operation in _operations(document):
        errors = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
        assert errors, name
        for status, response in errors.items():
            assert response["content"] == {PROBLEM_JSON: {"schema": PROBLEM_REF}}, (name, status)


def test_no_schema_has_the_framework_error_shape(document):
    litestar_error = {"status_code", "detail", "extra"}
    for name, schema in document["components"]["schemas"].items():
        assert not litestar_error <= set(schema.get("properties", {})), name


def test_every_operation_needing_a_token_documents_401(document):
    assert document["security"] == [{"bearer": []}]
    guarded = [
        (name, operation)
        for name, operation in _operations(document)
        if operation.get("security", document["security"])
    ]
    assert len(guarded) == len(_operations(document))
    for name, operation in guarded:
        assert "401" in operation["responses"], name
        assert "WWW-Authenticate" in operation["responses"]["401"]["headers"], name


def test_every_json_request_body_is_described(document):
    for name, operation in _operations(document):
        content = operation.get("requestBody", {}).get("content", {})
        for media_type, body in content.items():
            schema = body["schema"]
            if media_type == "application/json":
                assert _described(document, schema) or schema.get("description"), name
            else:
                assert schema == {"type": "string", "format": "binary"}, (name, media_type)


def test_bodies_read_as_sent_are_marked_and_never_answer_415(document):
    raw = {
        name: operation for name, operation in _operations(document) if operation.get("x-raw-body")
    }
    assert set(raw) == {
        "POST /api/v1/attachments",
        "POST /api/v1/change-requests/bundle",
        "POST /api/v1/config/import",
        "POST /api/v1/mappings/{key}/imports",
    }
    for name, operation in raw.items():
        assert operation["requestBody"]["required"], name
        assert "415" not in operation["responses"], name
