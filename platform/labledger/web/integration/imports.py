"""Running an import in the browser: upload, dry run row by row, apply; past imports.

The page drives ``integration.importer`` exactly as the API and the command
line do. The preview is the importer's dry run; the page then carries the
file's bytes (base64, so not one byte changes on the way back) to the apply
step, which reads and checks the file again before writing anything. Who
may import is the importer's business: ``create`` (and ``edit`` for a
mapping that updates) on the target type; a refusal is the usual 403 page.
"""

from __future__ import annotations

from typing import Any

from anyio.to_thread import run_sync
from litestar import Controller, Request, get, post
from litestar.response import Template

from labledger.db.engine import Database
from labledger.errors import Conflict, FieldError, NotFound, PayloadTooLarge, ValidationFailed
from labledger.identity.sessions import WebSession
from labledger.integration.importer import (
    ImportReport,
    apply_import,
    get_import,
    list_imports,
    preview_import,
)
from labledger.integration.mappings import list_mappings
from labledger.params import BeforeCursor, RowId
from labledger.web.admin.common import (
    Form,
    FormBody,
    Problems,
    UploadOutcome,
    compact_json,
    form_page,
    page_links,
    read_upload,
    uncarried,
)
from labledger.web.display import utc_text
from labledger.web.pages import page

#: Past imports per page.
PAGE_SIZE = 50
#: A report shows this many rows and row errors; the counts always cover the whole file.
ROWS_SHOWN = 200
ERRORS_SHOWN = 500


class ImportPagesController(Controller):
    path = "/imports"
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def index(
        self, session: WebSession, db: Database, mapping: str = "", before: BeforeCursor = None
    ) -> Template:
        return self._page(session, db, chosen=mapping, before=before)

    @post("/preview", status_code=200)
    async def preview(
        self, request: Request[Any, Any, Any], session: WebSession, db: Database
    ) -> Template:
        """Upload a file and see, row by row, what importing it would do (nothing is written)."""
        form = await request.form()
        key = str(form.get("mapping") or "").strip()
        raw, filename = await read_upload(form, "file")
        missing = []
        if not key:
            missing.append(FieldError("mapping", "choose the mapping to import through"))
        if not raw:
            missing.append(FieldError("file", "choose a file (.csv or .json) to upload"))
        if missing:
            return await run_sync(
                lambda: self._page(
                    session, db, status_code=422, chosen=key, problems=Problems(missing)
                )
            )
        return await run_sync(lambda: self._run(session, db, key, raw, filename, dry_run=True))

    @post("/apply", sync_to_thread=True, status_code=200)
    def apply(self, data: FormBody, session: WebSession, db: Database) -> Template:
        """Import the previewed file; ``reason`` is given to the records it updates."""
        form = Form(data)
        return self._run(
            session,
            db,
            form.text("mapping"),
            uncarried(form.text("file"), "file"),
            form.text("filename"),
            dry_run=False,
            reason=form.text("reason") or None,
        )

    @get("/{import_id:int}", sync_to_thread=True)
    def detail(self, import_id: RowId, session: WebSession, db: Database) -> Template:
        """One applied import: its file, mapping version, the records it produced, its errors."""
        with db.read() as conn:
            found = get_import(conn, session.principal, import_id)
        return page("integration/import.html", session, imp=found, utc=utc_text)

    def _run(
        self,
        session: WebSession,
        db: Database,
        key: str,
        raw: bytes,
        filename: str,
        *,
        dry_run: bool,
        reason: str | None = None,
    ) -> Template:
        outcome = UploadOutcome[ImportReport](raw, filename)
        earlier = None
        try:
            if dry_run:
                outcome.report = preview_import(db, session.principal, key, raw, filename)
            else:
                report = apply_import(db, session.principal, key, raw, filename, reason=reason)
                outcome.report, outcome.status = report, 200 if report.applied else 422
        except NotFound as exc:
            outcome.problems = Problems([FieldError("mapping", exc.detail)])
            outcome.status = exc.status
        except Conflict as exc:
            outcome.status, outcome.detail = exc.status, exc.detail
            earlier = exc.extra.get("import")
        except (ValidationFailed, PayloadTooLarge) as exc:
            outcome.refused(exc)
        return self._page(
            session, db, chosen=key, earlier=earlier, reason=reason or "", **outcome.shown("file")
        )

    def _page(
        self,
        session: WebSession,
        db: Database,
        *,
        chosen: str = "",
        before: int | None = None,
        status_code: int = 200,
        **context: Any,
    ) -> Template:
        with db.read() as conn:
            mappings = list_mappings(conn, session.principal)
            imports = list_imports(
                conn, session.principal, mapping_key=chosen or None, before=before, limit=PAGE_SIZE
            )
        filters = {"mapping": chosen} if chosen else {}
        return form_page(
            "integration/imports.html",
            session,
            status_code,
            context,
            report=None,
            mappings=mappings,
            chosen=chosen,
            imports=imports["items"],
            **page_links("/imports", filters, imports["next"], before),
            utc=utc_text,
            shown=compact_json,
            rows_shown=ROWS_SHOWN,
            errors_shown=ERRORS_SHOWN,
        )
