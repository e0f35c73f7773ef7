"""/api/v1/config: export the configuration as a bundle, preview and import bundles."""

from __future__ import annotations

from typing import Annotated, Any

from anyio.to_thread import run_sync
from litestar import Controller, Request, Response, get, post
from litestar.openapi.spec import Reference
from litestar.params import QueryParameter

from labledger.api.queries import TypeKeys
from labledger.api.rawbody import raw_body
from labledger.api.schemas.base import shaped
from labledger.api.schemas.bundles import BUNDLE_FILE_RESPONSES, BundleImportReport
from labledger.bundles.export import DEFAULT_NAME, DEFAULT_VERSION, export_bundle
from labledger.bundles.importer import apply_bundle, preview_bundle
from labledger.db.engine import Database
from labledger.identity.principal import Principal
from labledger.web.downloads import bundle_download


class ConfigController(Controller):
    path = "/config"
    tags = ["configuration bundles"]

    @get(
        "/export",
        sync_to_thread=True,
        summary="Export all types (or ?types=a,b and what they need) as a canonical bundle",
        responses=BUNDLE_FILE_RESPONSES,
    )
    def export(
        self,
        db: Database,
        principal: Principal,
        types: TypeKeys = None,
        name: str = DEFAULT_NAME,
        version: str = DEFAULT_VERSION,
        description: str = "",
    ) -> Response[bytes]:
        selected = [t.strip() for t in types.split(",") if t.strip()] if types else None
        with db.read() as conn:
            bundle = export_bundle(
                conn,
                principal,
                types=selected,
                name=name,
                version=version,
                description=description,
            )
        return bundle_download(bundle)

    @post(
        "/import",
        status_code=200,
        summary="Import a bundle sent as the request body (?dry_run=true: preview only; "
        "?migrate=true: a migration of records with their history)",
        operation_class=raw_body(
            "application/json",
            "the bundle file as exported (metadata/bundle.schema.json is its contract)",
            Reference("#/components/schemas/BundleDocument"),
        ),
    )
    async def import_bundle(
        self,
        request: Request[Any, Any, Any],
        db: Database,
        principal: Principal,
        dry_run: Annotated[bool, QueryParameter(description="report, change nothing")] = False,
        force: Annotated[
            bool,
            QueryParameter(description="overwrite items changed here since they were imported"),
        ] = False,
        migrate: Annotated[
            bool,
            QueryParameter(
                description="records keep their state and system-set fields, marked as migrated "
                "(needs 'migrate_records'); the import ends with a reconciliation"
            ),
        ] = False,
    ) -> BundleImportReport:
        # The raw bytes, not parsed JSON: the audit trail records their SHA-256, and
        # the bundle reader refuses repeated member names a JSON decoder would hide.
        raw = await request.body()
        run = preview_bundle if dry_run else apply_bundle
        report = await run_sync(lambda: run(db, principal, raw, force=force, migrate=migrate))
        return shaped(report.as_dict(), BundleImportReport)
