"""/api/v1/mappings and /api/v1/imports: import mappings, file imports and their history."""

from __future__ import annotations

from typing import Any

from anyio.to_thread import run_sync
from litestar import Controller, Request, get, post, put
from litestar.params import QueryParameter

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
from labledger.limits import INT32_MAX
from labledger.params import BeforeCursor, OptionalVersion, RowId


class MappingsController(Controller):
    path = "/mappings"
    tags = ["integration"]

    @get("/", sync_to_thread=True, summary="Import mappings into types you may read")
    def list(self, db: Database, principal: Principal) -> dict[str, Any]:
        with db.read() as conn:
            return {"items": list_mappings(conn, principal)}

    @get("/{key:str}", sync_to_thread=True, summary="A mapping (current, or ?version=N)")
    def read(
        self, key: str, db: Database, principal: Principal, version: OptionalVersion = None
    ) -> dict[str, Any]:
        with db.read() as conn:
            mapping = readable_mapping(conn, principal, key, version)
        return {"key": key, "version": mapping.version, "definition": mapping.definition}

    @get("/{key:str}/versions", sync_to_thread=True, summary="Every version of a mapping")
    def versions(self, key: str, db: Database, principal: Principal) -> dict[str, Any]:
        with db.read() as conn:
            return {"items": mapping_history(conn, principal, key)}

    @put("/{key:str}", sync_to_thread=True, summary="Publish a new version of a mapping")
    def publish(
        self, key: str, data: dict[str, Any], db: Database, principal: Principal
    ) -> dict[str, Any]:
        if data.get("key", key) != key:
            raise ValidationFailed(
                "The mapping's key differs from the address.",
                [FieldError("key", f"must be '{key}'")],
            )
        with db.write() as conn:
            published = publish_mapping(conn, principal, {**data, "key": key})
        return {"key": key, "version": published.version, "changed": published.changed}

    @post(
        "/{key:str}/imports",
        status_code=200,
        summary="Import the file sent as the request body (?dry_run=true: report only)",
    )
    async def run(
        self,
        key: str,
        request: Request[Any, Any, Any],
        db: Database,
        principal: Principal,
        filename: str = QueryParameter(default="upload", description="the file's name"),
        dry_run: bool = QueryParameter(default=False, description="report, write nothing"),
        reason: str | None = QueryParameter(
            default=None, description="reason for change given to updated records"
        ),
    ) -> dict[str, Any]:
        raw = await request.body()
        if dry_run:
            report = await run_sync(lambda: preview_import(db, principal, key, raw, filename))
            return report.as_dict()
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
        return report.as_dict()


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
        limit: int = QueryParameter(default=50, ge=0, le=INT32_MAX, description="1 to 500"),
    ) -> dict[str, Any]:
        with db.read() as conn:
            return list_imports(conn, principal, mapping_key=mapping, before=before, limit=limit)

    @get("/{import_id:int}", sync_to_thread=True, summary="An import: rows produced, row errors")
    def read(self, import_id: RowId, db: Database, principal: Principal) -> dict[str, Any]:
        with db.read() as conn:
            return get_import(conn, principal, import_id)
