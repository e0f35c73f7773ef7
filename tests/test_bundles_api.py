"""/api/v1/config: export, preview and import over HTTP."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Router
from litestar.testing import TestClient

from labledger.api.config import ConfigController
from labledger.api.deps import API_DEPENDENCIES
from labledger.app import create_app
from labledger.identity.principal import CONFIGURE
from tests.definitions import reconfigure
from tests.test_bundles import audit_events, encode, snapshot, starter_bundle
from tests.test_bundles_export import exported


@pytest.fixture
def api(db) -> Iterator[TestClient[Any]]:
    """The real app, with the config routes added if the app does not route them yet."""
    app = create_app(db)
    if not any(route.path.startswith("/api/v1/config") for route in app.routes):
        app.register(
            Router(path="/api/v1", route_handlers=[ConfigController], dependencies=API_DEPENDENCIES)
        )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def configurer(make_person):
    return make_person("cora", "configurer", permissions=(CONFIGURE,))


def test_import_preview_then_apply(db, api, configurer):
    raw = encode(starter_bundle())
    before = snapshot(db)
    response = api.post(
        "/api/v1/config/import?dry_run=true", content=raw, headers=configurer.headers
    )
    assert response.status_code == 200
    preview = response.json()
    assert preview["dry_run"] is True and preview["changed"] is True
    assert [i["action"] for i in preview["items"]] == ["added"] * 6
    assert snapshot(db) == before

    response = api.post("/api/v1/config/import", content=raw, headers=configurer.headers)
    assert response.status_code == 200
    assert response.json()["sha256"] == hashlib.sha256(raw).hexdigest()
    assert audit_events(db, "config.import")[0]["actor"] == "cora"

    again = api.post("/api/v1/config/import", content=raw, headers=configurer.headers).json()
    assert again["changed"] is False


def test_export_returns_the_canonical_bundle(db, api, configurer):
    api.post("/api/v1/config/import", content=encode(starter_bundle()), headers=configurer.headers)
    response = api.get(
        "/api/v1/config/export?types=batch&name=lab&version=3", headers=configurer.headers
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["content-disposition"] == 'attachment; filename="lab-3.json"'
    assert response.content == exported(db, types=["batch"], name="lab", version="3")
    response = api.get("/api/v1/config/export?types=nothing", headers=configurer.headers)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "types", "message": "there is no object type 'nothing'"}
    ]


def test_bad_bundles_are_problems_naming_the_json_path(db, api, configurer, monkeypatch):
    bundle = starter_bundle()
    bundle["types"][1]["fields"][0]["type"] = "colour"
    before = snapshot(db)
    response = api.post("/api/v1/config/import", content=encode(bundle), headers=configurer.headers)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "types[1].fields[0].type" in [e["field"] for e in response.json()["errors"]]

    response = api.post("/api/v1/config/import", content=b"{", headers=configurer.headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "(document)"

    reconfigure(monkeypatch, db, bundle_max_bytes=100)
    response = api.post(
        "/api/v1/config/import?dry_run=true",
        content=encode(starter_bundle()),
        headers=configurer.headers,
    )
    assert response.status_code == 413
    assert snapshot(db) == before


def test_conflict_is_409_with_the_report(db, api, configurer):
    api.post("/api/v1/config/import", content=encode(starter_bundle()), headers=configurer.headers)
    definition = starter_bundle()["types"][1]
    definition["label"] = "Lot"
    assert (
        api.put("/api/v1/types/batch", json=definition, headers=configurer.headers).status_code
        == 200
    )
    bundle = starter_bundle()
    bundle["types"][1]["plural"] = "Lots"
    before = snapshot(db)
    response = api.post("/api/v1/config/import", content=encode(bundle), headers=configurer.headers)
    assert response.status_code == 409
    problem = response.json()
    assert problem["errors"][0]["field"] == "types[1]"
    assert problem["report"]["conflicts"][0]["key"] == "batch"
    assert snapshot(db) == before
    response = api.post(
        "/api/v1/config/import?force=true", content=encode(bundle), headers=configurer.headers
    )
    assert response.status_code == 200
    assert json.loads(response.content)["items"][5]["forced"] is True


def test_configure_permission_and_a_token_are_required(db, api, make_person):
    reader = make_person("rita", "reader")
    raw = encode(starter_bundle())
    before = snapshot(db)
    assert api.post("/api/v1/config/import", content=raw).status_code == 401
    assert api.post("/api/v1/config/import", content=raw, headers=reader.headers).status_code == 403
    assert api.get("/api/v1/config/export", headers=reader.headers).status_code == 403
    assert snapshot(db) == before
