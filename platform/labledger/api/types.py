"""/api/v1/types: object type definitions, their JSON Schema, publishing."""

from __future__ import annotations

from litestar import Controller, get, put

from labledger.api.definitions import DefinitionBody, publish_definition
from labledger.api.reading import read_items
from labledger.api.schemas.base import Published
from labledger.api.schemas.definitions import TypeDetail, TypeList
from labledger.db.engine import Database
from labledger.identity.principal import Principal
from labledger.metadata.types import list_types, publish_type, readable_model


class TypesController(Controller):
    path = "/types"
    tags = ["object types"]

    @get("/", sync_to_thread=True, summary="List the object types you may read")
    def list(self, db: Database, principal: Principal) -> TypeList:
        return read_items(db, TypeList, lambda conn: list_types(conn, principal))

    @get("/{type_key:str}", sync_to_thread=True, summary="Definition and JSON Schema of a type")
    def read(self, type_key: str, db: Database, principal: Principal) -> TypeDetail:
        with db.read() as conn:
            model = readable_model(conn, principal, type_key)
        return TypeDetail(
            key=model.key,
            version=model.version,
            definition=model.definition,
            json_schema=model.published_schema(),
        )

    @put("/{type_key:str}", sync_to_thread=True, summary="Publish a new version of a type")
    def publish(
        self, type_key: str, data: DefinitionBody, db: Database, principal: Principal
    ) -> Published:
        return publish_definition(db, principal, publish_type, data, type_key)
