"""/api/v1/types: object type definitions, their JSON Schema, publishing."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, put

from labledger.db.engine import Database
from labledger.errors import FieldError, ValidationFailed
from labledger.identity.principal import Principal
from labledger.metadata.types import list_types, publish_type, readable_model


class TypesController(Controller):
    path = "/types"
    tags = ["object types"]

    @get("/", sync_to_thread=True, summary="List the object types you may read")
    def list(self, db: Database, principal: Principal) -> dict[str, Any]:
        with db.read() as conn:
            return {"items": list_types(conn, principal)}

    @get("/{type_key:str}", sync_to_thread=True, summary="Definition and JSON Schema of a type")
    def read(self, type_key: str, db: Database, principal: Principal) -> dict[str, Any]:
        with db.read() as conn:
            model = readable_model(conn, principal, type_key)
        return {
            "key": model.key,
            "version": model.version,
            "definition": model.definition,
            "json_schema": model.published_schema(),
        }

    @put("/{type_key:str}", sync_to_thread=True, summary="Publish a new version of a type")
    def publish(
        self, type_key: str, data: dict[str, Any], db: Database, principal: Principal
    ) -> dict[str, Any]:
        if data.get("key", type_key) != type_key:
            raise ValidationFailed(
                "The definition's key differs from the address.",
                [FieldError("key", f"must be '{type_key}'")],
            )
        definition = {"key": type_key, **data}
        with db.write() as conn:
            published = publish_type(conn, principal, definition)
        return {"key": type_key, "version": published.version, "changed": published.changed}
