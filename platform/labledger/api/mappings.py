"""/api/v1/mappings and /api/v1/imports: import mappings, file imports and their history."""

from __future__ import annotations

from typing import Annotated, Any

from anyio.to_thread import run_sync
from litestar import Controller, Request, get, post, put
from litestar.params import QueryParameter

from labledger.api.definitions import DefinitionBody, publish_definition
from labledger.api.queries import PageLimit
from labledger.api.rawbody import raw_body
from labledger.api.reading import read_items
from labledger.api.schemas.base import Published, VersionedDefinition, shaped
from labledger.api.schemas.integration import (
    ImportPage,
    ImportReport,
    ImportRunDetails,
    MappingHistory,
    MappingList,
)
from labledger.db.engine import Database
from labledger.errors import FieldError, ValidationFailed
from labledger.identity.principal import Principal
from labledger.integration.importer import (
    apply_import,
    get_import,
    list_imports,
    preview_import,
)
from labledger.integration.mappings import (
    list_mappings,
    mapping_history,
    publish_mapping,
    readable_mapping,
)
from labledger.params import BeforeCursor, OptionalVersion, RowId


class MappingsController(Controller):
    path = "/mappings"
    tags = ["integration"]

    @get("/", sync_to_thread=True, summary="Import mappings into types you may read")
    def list(self, db: Database, principal: Principal) -> MappingList:
        return read_items(db, MappingList, lambda conn: list_mappings(conn, principal))

    @get("/{key:str}", sync_to_thread=True, summary="A mapping (current, or ?version=N)")
    def read(
        self, key: str, db: Database, principal: Principal, version: OptionalVersion = None
    ) -> VersionedDefinition:
        with db.read() as conn:
            mapping = readable_mapping(conn, principal, key, version)
        return VersionedDefinition(key=key, version=mapping.version, definition=mapping.definition)

    @get("/{key:str}/versions", sync_to_thread=True, summary="Every version of a mapping")
    def versions(self, key: str, db: Database, principal: Principal) -> MappingHistory:
        return read_items(db, MappingHistory, lambda conn: mapping_history(conn, principal, key))

    @put("/{key:str}", sync_to_thread=True, summary="Publish a new version of a mapping")
    def publish(
        self, key: str, data: DefinitionBody, db: Database, principal: Principal
    ) -> Published:
        return publish_definition(db, principal, publish_mapping, data, key, noun="mapping")

    @post(
        "/{key:str}/imports",
        status_code=200,
        summary="Import the file sent as the request body (?dry_run=true: report only)",
        operation_class=raw_body(
            "application/octet-stream", "the file, in the format its mapping reads (CSV or JSON)"
        ),
    )
    async def run(
        self,
        key: str,
        request: Request[Any, Any, Any],
        db: Database,
        principal: Principal,
        filename: Annotated[str, QueryParameter(description="the file's name")] = "upload",
        dry_run: Annotated[bool, QueryParameter(description="report, write nothing")] = False,
        reason: Annotated[
            str | None, QueryParameter(description="reason for change given to updated records")
        ] = None,
    ) -> ImportReport:
        raw = await request.body()
        if dry_run:
            report = await run_sync(lambda: preview_import(db, principal, key, raw, filename))
            return shaped(report.as_dict(), ImportReport)
        report = await run_sync(
            lambda: apply_import(db, principal, key, raw, filename, reason=reason)
        )
        if not report.applied:
            raise ValidationFailed(
                f"Nothing was imported: {report.summary()}.",
                [
                    FieldError(f"line {e.line}" + (f", {e.column}" if e.column else ""), e.message)
                    for e in report.errors
                ],
                extra={"report": report.as_dict()},
            )
        return shaped(report.as_dict(), ImportReport)


class ImportsController(Controller):
    path = "/imports"
    tags = ["integration"]

    @get("/", sync_to_thread=True, summary="Applied imports, newest first")
    def list(
        self,
        db: Database,
        principal: Principal,
        mapping: str | None = None,
        before: BeforeCursor = None,
        limit: PageLimit = 50,
    ) -> ImportPage:
        with db.read() as conn:
            page = list_imports(conn, principal, mapping_key=mapping, before=before, limit=limit)
        return shaped(page, ImportPage)

    @get("/{import_id:int}", sync_to_thread=True, summary="An import: rows produced, row errors")
    def read(self, import_id: RowId, db: Database, principal: Principal) -> ImportRunDetails:
        with db.read() as conn:
            found = get_import(conn, principal, import_id)
        return shaped(found, ImportRunDetails)
