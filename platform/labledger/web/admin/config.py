"""Configuration bundles in the browser: export, upload, preview, apply.

The page drives ``labledger.bundles`` exactly as the CLI and the API do. A
preview is the dry run of the import; the page then carries the bundle's
bytes (base64, so not one byte changes on the way back) to the apply step,
where the admin may choose to overwrite the conflicting items it listed. With
change control on, that step opens a change request importing the bundle
(``changes.service.propose_bundles``) instead of importing it.
"""

from __future__ import annotations

from typing import Any

from anyio.to_thread import run_sync
from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from labledger.bundles.export import DEFAULT_NAME, DEFAULT_VERSION, export_bundle
from labledger.bundles.format import parse_bundle
from labledger.bundles.importer import ImportConflict, apply_bundle, preview_bundle
from labledger.bundles.report import ImportReport, describe_path
from labledger.change_gate import control_setting
from labledger.changes import service
from labledger.db.engine import Database
from labledger.errors import FieldError, PayloadTooLarge, ServiceError, ValidationFailed
from labledger.identity.principal import CONFIGURE
from labledger.identity.sessions import WebSession
from labledger.metadata.types import list_types
from labledger.web.admin.changes import change_url
from labledger.web.admin.common import (
    Form,
    FormBody,
    Problems,
    UploadOutcome,
    compact_json,
    form_page,
    pages_needing,
    read_upload,
    uncarried,
)
from labledger.web.admin.proposing import control_on
from labledger.web.downloads import bundle_download

WHAT = "Importing and exporting configuration"


class ConfigPagesController(Controller):
    path = "/admin/config"
    include_in_schema = False
    dependencies = pages_needing(CONFIGURE, WHAT)

    @get("/", sync_to_thread=True)
    def index(self, session: WebSession, db: Database) -> Template:
        return self._page(session, db)

    @get("/export", sync_to_thread=True)
    def export(
        self,
        session: WebSession,
        db: Database,
        types: list[str] | None = None,
        name: str = DEFAULT_NAME,
        version: str = DEFAULT_VERSION,
        description: str = "",
    ) -> Response[bytes]:
        """The canonical bundle of all types, or of the ticked ones and what they need."""
        selected = [t for t in types or [] if t] or None
        with db.read() as conn:
            bundle = export_bundle(
                conn,
                session.principal,
                types=selected,
                name=name.strip() or DEFAULT_NAME,
                version=version.strip() or DEFAULT_VERSION,
                description=description.strip(),
            )
        return bundle_download(bundle)

    @post("/preview", status_code=200)
    async def preview(
        self, request: Request[Any, Any, Any], session: WebSession, db: Database
    ) -> Template:
        """Upload a bundle and see what importing it would do (nothing is changed)."""
        raw, filename = await read_upload(await request.form(), "file")
        if not raw:
            problems = Problems([FieldError("file", "choose a bundle file (.json) to upload")])
            return await run_sync(
                lambda: self._page(session, db, status_code=422, problems=problems)
            )
        return await run_sync(lambda: self._import(session, db, raw, filename, dry_run=True))

    @post("/apply", sync_to_thread=True, status_code=200)
    def apply(self, data: FormBody, session: WebSession, db: Database) -> Response[Any]:
        """Import the previewed bundle; force overwrites the conflicts the preview listed.
        With change control on, open a change request importing it instead."""
        form = Form(data)
        raw = uncarried(form.text("bundle"), "bundle")
        if control_on(db):
            return self._propose(session, db, raw, form)
        return self._import(
            session, db, raw, form.text("filename"), dry_run=False, force=form.checked("force")
        )

    def _propose(self, session: WebSession, db: Database, raw: bytes, form: Form) -> Response[Any]:
        """The bundle as a change request of its own; refused, the preview again, saying why."""
        title, reason = form.text("cr_title"), form.raw("cr_reason").strip()
        try:
            bundle = parse_bundle(raw, max_bytes=db.settings.bundle_max_bytes)
            with db.write() as conn:
                change = service.propose_bundles(
                    conn, session.principal, [bundle], title=title, reason=reason
                )
        except ServiceError as exc:
            return self._import(
                session,
                db,
                raw,
                form.text("filename"),
                dry_run=True,
                refused=exc,
                proposal={"title": title, "reason": reason},
            )
        return Redirect(change_url(change.id, "bundle"), status_code=303)

    def _import(
        self,
        session: WebSession,
        db: Database,
        raw: bytes,
        filename: str,
        *,
        dry_run: bool,
        force: bool = False,
        refused: ServiceError | None = None,
        **shown: Any,
    ) -> Template:
        """Run the import (or its preview) and show its report; ``refused`` is the refusal
        of a proposal of the same bundle, shown with the preview."""
        run = preview_bundle if dry_run else apply_bundle
        outcome = UploadOutcome[ImportReport](raw, filename)
        try:
            outcome.report = run(db, session.principal, raw, force=force)
        except ImportConflict as exc:
            outcome.report, outcome.status, outcome.detail = exc.report, exc.status, exc.detail
        except (ValidationFailed, PayloadTooLarge) as exc:
            outcome.refused(exc)
        if refused is not None:
            outcome.status = refused.status
        return self._page(
            session,
            db,
            **outcome.shown("bundle"),
            refused=refused,
            refusal=Problems(refused.errors) if refused else Problems.none(),
            **shown,
        )

    def _page(
        self, session: WebSession, db: Database, *, status_code: int = 200, **context: Any
    ) -> Template:
        with db.read() as conn:
            types = list_types(conn, session.principal)
            controlled = control_setting(conn).enabled
        return form_page(
            "admin/config.html",
            session,
            status_code,
            context,
            report=None,
            refused=None,
            refusal=Problems.none(),
            proposal={},
            change_control_on=controlled,
            types=types,
            describe_path=describe_path,
            shown=compact_json,
            default_name=DEFAULT_NAME,
            default_version=DEFAULT_VERSION,
        )
