"""Print pages: a record printed with a print template, and sheets of labels.

The page is the printout itself (``ui/templates/printing/sheet.html``): paper
sized with CSS ``@page`` from the template's settings, and on screen a toolbar
with a Print button that is not printed. Print templates are written by
administrators, so the response carries a Content-Security-Policy that lets
no script run but the Print button's own, and loads nothing from elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Annotated

from litestar import Controller, get
from litestar.enums import MediaType
from litestar.params import QueryParameter
from litestar.response import Template
from markupsafe import Markup

from labledger.db.engine import Database
from labledger.identity.sessions import WebSession
from labledger.limits import RowIdValue
from labledger.params import Count, RowId
from labledger.printing.render import Sheet, print_labels, print_record

PRINT_SCRIPT = Markup(
    'document.getElementById("print-button")'
    '.addEventListener("click", function () { window.print(); });'
)
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(PRINT_SCRIPT.encode()).digest()).decode()


def content_security_policy(script: bool) -> str:
    """No scripts (but the Print button's, by hash), no plugins, nothing from other sites."""
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src 'sha256-{_SCRIPT_HASH}'" if script else "script-src 'none'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


#: ``?id=1&id=2``: the records to print labels for, in order (repeat an id for copies).
LABEL_IDS = QueryParameter(name="id", description="record ids, in print order")


@dataclass(frozen=True)
class Toolbar:
    """The on-screen bar above a printout in the browser (never printed)."""

    back_url: str
    back_label: str
    script: Markup = PRINT_SCRIPT


def sheet_response(sheet: Sheet, toolbar: Toolbar | None = None) -> Template:
    """The printout as a standalone HTML page (the API sends it without a toolbar)."""
    return Template(
        template_name="printing/sheet.html",
        context={"sheet": sheet, "toolbar": toolbar},
        media_type=MediaType.HTML,
        headers={
            "Content-Security-Policy": content_security_policy(script=toolbar is not None),
            "X-Content-Type-Options": "nosniff",
        },
    )


class PrintPagesController(Controller):
    include_in_schema = False

    @get("/records/{type_key:str}/{record_id:int}/print/{template_key:str}", sync_to_thread=True)
    def record(
        self, type_key: str, record_id: RowId, template_key: str, session: WebSession, db: Database
    ) -> Template:
        with db.read() as conn:
            sheet = print_record(conn, session.principal, type_key, record_id, template_key)
        return sheet_response(
            sheet, Toolbar(f"/records/{type_key}/{record_id}", "Back to the record")
        )

    @get("/records/{type_key:str}/labels/{template_key:str}", sync_to_thread=True)
    def labels(
        self,
        type_key: str,
        template_key: str,
        session: WebSession,
        db: Database,
        ids: Annotated[list[RowIdValue] | None, LABEL_IDS] = None,
        skip: Count = 0,
    ) -> Template:
        with db.read() as conn:
            sheet = print_labels(
                conn, session.principal, type_key, ids or [], template_key, skip=skip
            )
        return sheet_response(sheet, Toolbar(f"/records/{type_key}", "Back to the list"))


CONTROLLERS = [PrintPagesController]
