"""The record dossier in the browser: read it as a page, or download it as a PDF.

The page is the same HTML the PDF is printed from, served standalone (no
script runs, nothing loads from elsewhere). The JSON API answers the same
dossier (``api.dossier``), and downloads its PDF through ``pdf_response``.
"""

from __future__ import annotations

import re

from litestar import Controller, Response, get
from litestar.enums import MediaType

from labledger.db.engine import Database
from labledger.dossier.assemble import record_dossier
from labledger.dossier.document import dossier_html, dossier_pdf
from labledger.dossier.model import Dossier
from labledger.identity.sessions import WebSession
from labledger.params import RowId
from labledger.web.printing import content_security_policy

PDF = "application/pdf"


def download_name(number: str) -> str:
    """A file name for a record's dossier that every browser and shell takes as it is."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", number) + "-dossier.pdf"


def pdf_response(dossier: Dossier) -> Response[bytes]:
    """The dossier as a PDF download."""
    name = download_name(dossier.record.number)
    return Response(
        dossier_pdf(dossier),
        media_type=PDF,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


class DossierPagesController(Controller):
    include_in_schema = False
    path = "/records/{type_key:str}/{record_id:int}"

    @get("/dossier", sync_to_thread=True)
    def page(
        self, type_key: str, record_id: RowId, session: WebSession, db: Database
    ) -> Response[str]:
        with db.read() as conn:
            dossier = record_dossier(conn, session.principal, type_key, record_id)
        return Response(
            dossier_html(dossier),
            media_type=MediaType.HTML,
            headers={
                "Content-Security-Policy": content_security_policy(script=False),
                "X-Content-Type-Options": "nosniff",
            },
        )

    @get("/dossier.pdf", sync_to_thread=True)
    def pdf(
        self, type_key: str, record_id: RowId, session: WebSession, db: Database
    ) -> Response[bytes]:
        with db.read() as conn:
            dossier = record_dossier(conn, session.principal, type_key, record_id)
        return pdf_response(dossier)


CONTROLLERS = [DossierPagesController]
