"""/api/v1/print-templates and printing records as HTML through the API.

Templates are published like object types (``PUT`` with the definition). A
printout is the same standalone HTML page the browser shows, without the
toolbar, so an integration can hand it to a PDF converter or a print server.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, put
from litestar.params import QueryParameter
from litestar.response import Template

from labledger.api.definitions import DefinitionBody, publish_definition
from labledger.api.reading import read_items
from labledger.api.schemas.base import Published, VersionedDefinition, shaped
from labledger.api.schemas.definitions import PrintTemplateList
from labledger.db.engine import Database
from labledger.identity.principal import Principal
from labledger.limits import RowIdValue
from labledger.params import Count, RowId
from labledger.printing.render import print_labels, print_record
from labledger.printing.templates import (
    list_print_templates,
    publish_print_template,
    read_print_template,
)
from labledger.web.printing import sheet_response

#: ``?id=1&id=2``: the records to print labels for, in order (repeat an id for copies).
LabelIds = Annotated[
    list[RowIdValue] | None, QueryParameter(name="id", description="record ids, in print order")
]


class PrintingController(Controller):
    tags = ["printing"]

    @get("/print-templates", sync_to_thread=True, summary="List the print templates you may use")
    def list(
        self,
        db: Database,
        principal: Principal,
        type_key: Annotated[str | None, QueryParameter(name="type")] = None,
    ) -> PrintTemplateList:
        return read_items(
            db, PrintTemplateList, lambda conn: list_print_templates(conn, principal, type_key)
        )

    @get("/print-templates/{key:str}", sync_to_thread=True, summary="Read a print template")
    def read(self, key: str, db: Database, principal: Principal) -> VersionedDefinition:
        with db.read() as conn:
            found = read_print_template(conn, principal, key)
        return shaped(found, VersionedDefinition)

    @put(
        "/print-templates/{key:str}",
        sync_to_thread=True,
        summary="Publish a new version of a print template (needs 'configure')",
    )
    def publish(
        self, key: str, data: DefinitionBody, db: Database, principal: Principal
    ) -> Published:
        return publish_definition(db, principal, publish_print_template, data, key)

    @get(
        "/records/{type_key:str}/{record_id:int}/print/{template_key:str}",
        sync_to_thread=True,
        summary="A record printed with a print template (text/html)",
    )
    def print_record(
        self, type_key: str, record_id: RowId, template_key: str, db: Database, principal: Principal
    ) -> Template:
        with db.read() as conn:
            sheet = print_record(conn, principal, type_key, record_id, template_key)
        return sheet_response(sheet)

    @get(
        "/records/{type_key:str}/labels/{template_key:str}",
        sync_to_thread=True,
        summary="Labels of records (?id=1&id=2..., skip=positions to leave blank; text/html)",
    )
    def print_labels(
        self,
        type_key: str,
        template_key: str,
        db: Database,
        principal: Principal,
        ids: LabelIds = None,
        skip: Count = 0,
    ) -> Template:
        with db.read() as conn:
            sheet = print_labels(conn, principal, type_key, ids or [], template_key, skip=skip)
        return sheet_response(sheet)
