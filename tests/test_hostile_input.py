"""Hostile input to the API: numbers beyond 64 bits, NUL characters, JSON nested
thousands deep, over-long headers and over-size bodies are refused with a clear
4xx as RFC 9457 problem JSON, before they reach the database."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient
from sqlalchemy import func, select

from labledger.app import create_app, serve_database
from labledger.db.tables import attachment
from labledger.errors import ValidationFailed
from labledger.limits import MAX_JSON_DEPTH, check_json_depth
from labledger.records.query import encode_cursor
from tests.definitions import batch_type, database_url, measurement_type, unchanged
from tests.test_api import problem
from tests.test_cli import run
from tests.test_integration_support import allow_webhooks
from tests.web.test_admin_types import ADMIN_PERMISSIONS

#: One more than the largest 64-bit id: no database column can hold it.
BEYOND_64_BITS = "99999999999999999999"
#: 2**63, the smallest integer that overflows a signed 64-bit column.
TWO_TO_THE_63 = 9223372036854775808
#: Names a handler receives from the framework or its dependencies, not from the request.
_NOT_FROM_REQUEST = {"self", "request", "state", "scope", "headers", "cookies", "query"}


@pytest.fixture
def lab(make_person, publish) -> Any:
    """The batch and measurement types published, and an analyst who also configures
    and reads the audit trail, so that every request passes the permission checks."""
    person = make_person("ann", "analyst", "reviewer", permissions=ADMIN_PERMISSIONS)
    publish(batch_type())
    publish(measurement_type())
    return person


def _unbounded_integers(info: msgspec.inspect.Type, path: str, seen: set[type]) -> list[str]:
    """Paths of the integers in a parameter or body type that have no lower or upper bound."""
    inspect = msgspec.inspect
    if isinstance(info, inspect.IntType):
        return [] if info.ge is not None and info.le is not None else [path]
    if isinstance(info, inspect.UnionType):
        return [found for item in info.types for found in _unbounded_integers(item, path, seen)]
    if isinstance(info, inspect.ListType | inspect.SetType | inspect.VarTupleType):
        return _unbounded_integers(info.item_type, f"{path}[]", seen)
    if isinstance(info, inspect.DictType):
        return _unbounded_integers(info.value_type, f"{path}{{}}", seen)
    if isinstance(info, inspect.StructType | inspect.DataclassType) and info.cls not in seen:
        seen.add(info.cls)
        return [
            found
            for member in info.fields
            for found in _unbounded_integers(member.type, f"{path}.{member.name}", seen)
        ]
    return []


def _request_integers_without_bounds(app: Litestar) -> list[str]:
    """Every integer a handler reads from a path, query string or body without a range."""
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            dependencies = set(handler.resolve_dependencies())
            for name, parameter in handler.parsed_fn_signature.parameters.items():
                if name in dependencies or name in _NOT_FROM_REQUEST:
                    continue
                declared = parameter.kwarg_definition
                bounds = (getattr(declared, "ge", None), getattr(declared, "le", None))
                if None not in bounds:
                    continue
                info = msgspec.inspect.type_info(parameter.raw)
                found += [
                    f"{route.path} {sorted(handler.http_methods)} {where}"
                    for where in _unbounded_integers(info, name, set())
                ]
    return found


def test_every_integer_a_request_carries_is_bounded(db):
    """An unbounded id would reach the database and overflow there (a 500)."""
    assert _request_integers_without_bounds(create_app(db)) == []


def test_ids_and_cursors_beyond_64_bits_are_refused_before_the_database(
    db, client, lab, monkeypatch
):
    allow_webhooks(monkeypatch, db, "erp.example.com")
    body = {"name": "erp", "url": "https://erp.example.com/hook", "secret": "s" * 20}
    assert client.post("/api/v1/webhooks", json=body, headers=lab.headers).status_code == 201
    refused_parameter = {
        f"/api/v1/audit?before={BEYOND_64_BITS}": "before",
        f"/api/v1/audit?record_id={BEYOND_64_BITS}": "record_id",
        f"/api/v1/imports?before={BEYOND_64_BITS}": "before",
        f"/api/v1/imports/{BEYOND_64_BITS}": "import_id",
        f"/api/v1/attachments/{BEYOND_64_BITS}": "attachment_id",
        f"/api/v1/records/batch/{BEYOND_64_BITS}": "record_id",
        f"/api/v1/records/batch/{BEYOND_64_BITS}/audit": "record_id",
        f"/api/v1/records/batch/{BEYOND_64_BITS}/transitions": "record_id",
        f"/api/v1/webhooks/erp/deliveries?before={BEYOND_64_BITS}": "before",
        f"/api/v1/mappings/anything?version={BEYOND_64_BITS}": "version",
        f"/api/v1/records/batch/labels/any?id={BEYOND_64_BITS}": "ids",
    }
    for url, parameter in refused_parameter.items():
        body = problem(client.get(url, headers=lab.headers), 400)
        assert body["errors"][0]["field"] == parameter, url
        assert body["errors"][0]["message"].startswith("Expected `int` <= ")
        assert BEYOND_64_BITS not in body["title"]
    with unchanged(db):
        replay = client.post(
            "/api/v1/webhooks/erp/deliveries/replay",
            json={"ids": [TWO_TO_THE_63]},
            headers=lab.headers,
        )
        assert problem(replay, 400)["errors"][0]["field"] == "ids[0]"


def test_a_cursor_naming_an_id_beyond_64_bits_is_a_bad_cursor(client, lab):
    forged = encode_cursor("-created_at", "2030-01-01T00:00:00+00:00", TWO_TO_THE_63)
    body = problem(client.get(f"/api/v1/records/batch?cursor={forged}", headers=lab.headers), 422)
    assert body["errors"] == [
        {"field": "cursor", "message": "is not a cursor of this list and sort order"}
    ]


def test_a_reference_beyond_64_bits_is_a_field_error(db, client, lab):
    with unchanged(db):
        answer = client.post(
            "/api/v1/records/measurement",
            json={"data": {"name": "pH", "batch": TWO_TO_THE_63}},
            headers=lab.headers,
        )
        body = problem(answer, 422)
    assert [e["field"] for e in body["errors"]] == ["data.batch"]


def test_a_nul_in_the_address_is_refused_before_the_database(db, client, lab):
    refused_parameter = {
        "/api/v1/audit?user=a%00b": "user",
        "/api/v1/events?type=a%00b": "type",
        "/api/v1/print-templates/a%00b": "path",
        "/api/v1/mappings/a%00b": "path",
        "/api/v1/imports?mapping=a%00b": "mapping",
        "/api/v1/records/batch?code=a%00b": "code",
    }
    with unchanged(db):
        for url, parameter in refused_parameter.items():
            for headers in (lab.headers, {}):
                body = problem(client.get(url, headers=headers), 422)
                assert body["errors"] == [
                    {"field": parameter, "message": "must not contain the NUL character (\\u0000)"}
                ], url


def _nested(depth: int) -> str:
    """A JSON array nested ``depth`` levels deep."""
    return "[" * depth + "]" * depth


def test_json_depth_counts_arrays_and_objects_but_not_brackets_in_text():
    check_json_depth(_nested(MAX_JSON_DEPTH))
    check_json_depth(json.dumps({"text": "[{" * 1000, "list": [[1], {"a": "]"}]}))
    with pytest.raises(ValidationFailed) as refused:
        check_json_depth('{"a": ' + _nested(MAX_JSON_DEPTH) + "}", "file")
    assert refused.value.errors[0].as_dict() == {
        "field": "file",
        "message": f"is nested too deeply (more than {MAX_JSON_DEPTH} levels)",
    }


def _deep_problem(response) -> dict:
    body = problem(response, 422)
    assert "nested too deeply" in body["errors"][0]["message"]
    return body


def test_json_nested_ten_thousand_deep_is_refused_without_recursion(db, client, lab):
    created = client.post(
        "/api/v1/records/batch", json={"data": {"code": "B-1", "quantity": 1}}, headers=lab.headers
    )
    assert created.status_code == 201, created.text
    deep = '{"data": {"code": ' + _nested(10_000) + "}}"
    json_headers = {**lab.headers, "Content-Type": "application/json"}
    with unchanged(db):
        body = _deep_problem(
            client.post("/api/v1/records/batch", content=deep, headers=json_headers)
        )
        assert body["errors"][0]["field"] == "body"
        patch = client.patch(
            f"/api/v1/records/batch/{created.json()['id']}",
            content=deep,
            headers={**json_headers, "If-Match": '"1"'},
        )
        _deep_problem(patch)
        definition = '{"key": "batch", "fields": ' + _nested(10_000) + "}"
        _deep_problem(client.put("/api/v1/types/batch", content=definition, headers=json_headers))
        for content_type in ("application/json", "text/plain"):
            imported = client.post(
                "/api/v1/config/import",
                content='{"format": ' + _nested(10_000) + "}",
                headers={**lab.headers, "Content-Type": content_type},
            )
            assert _deep_problem(imported)["errors"][0]["field"] == "(document)"


def test_the_command_line_refuses_deep_json_with_a_message(db, tmp_path, capsys):
    deep = tmp_path / "deep.json"
    deep.write_text('{"key": "batch", "fields": ' + _nested(10_000) + "}")
    with unchanged(db):
        code, _, err = run(capsys, "--database", database_url(db), "type", "publish", str(deep))
    assert code != 0 and "nested too deeply" in err and "deep.json" in err


def _attachment_count(db) -> int:
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(attachment)).scalar_one()


def test_an_over_long_or_malformed_content_type_is_refused(db, client, lab):
    for content_type, message in (
        ("a/" + "b" * 298, "is 300 characters; the limit is 200"),
        ("not a media type", "must be a media type such as application/pdf"),
    ):
        answer = client.post(
            "/api/v1/attachments?filename=data.csv",
            content=b"1,2\n",
            headers={**lab.headers, "Content-Type": content_type},
        )
        assert problem(answer, 422)["errors"] == [{"field": "Content-Type", "message": message}]
    assert _attachment_count(db) == 0
    kept = client.post(
        "/api/v1/attachments?filename=data.csv",
        content=b"1,2\n",
        headers={**lab.headers, "Content-Type": "text/csv; charset=utf-8"},
    )
    assert kept.status_code == 201 and kept.json()["content_type"] == "text/csv; charset=utf-8"


def test_a_body_over_the_request_limit_is_refused_with_413(db, settings, lab):
    limited = create_app(replace(db, settings=replace(settings, request_max_bytes=1000)))
    with TestClient(limited, raise_server_exceptions=False) as client, unchanged(db):
        oversized = {"data": {"code": "B-1", "notes": "x" * 1000}}
        answer = client.post("/api/v1/records/batch", json=oversized, headers=lab.headers)
        assert "1,000 bytes" in problem(answer, 413)["detail"]


def test_an_application_serves_only_databases_with_its_request_limit(db, settings, app):
    """The limit is fixed when the application is built: a database whose settings say
    otherwise is refused, not served under the application's limit."""
    with pytest.raises(ValueError, match="request limit"):
        serve_database(app, replace(db, settings=replace(settings, request_max_bytes=1000)))
