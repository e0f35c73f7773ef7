"""GET /api/v1/records/{type}/{id}/dossier: a complete copy of a record, as JSON or PDF.

The representation is chosen by ``Accept``: JSON (the default, also for
``*/*`` or no header) or ``application/pdf``; anything else is 406. The
reader's permissions decide what the dossier shows (``dossier.assemble``).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.datastructures.headers import Accept
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter

from labledger.db.engine import Database
from labledger.dossier.assemble import DEFAULT_DEPTH, MAX_DEPTH, record_dossier
from labledger.dossier.model import Dossier
from labledger.errors import NotAcceptable
from labledger.identity.principal import Principal
from labledger.limits import INT32_MAX
from labledger.params import RowId
from labledger.web.dossier import PDF, pdf_response

JSON = "application/json"

#: ``?depth=N``: how many references away related records are copied (checked by the service).
Depth = Annotated[
    int,
    QueryParameter(
        ge=0,
        le=INT32_MAX,
        description=f"related records this many references away, 0 to {MAX_DEPTH}",
    ),
]


def chosen_format(accept: str | None) -> str:
    """JSON or PDF, as ``accept`` prefers; 406 when it accepts neither."""
    if accept is None or not accept.strip():
        return JSON
    found = Accept(accept).best_match([JSON, PDF])
    if found is None:
        raise NotAcceptable(
            f"A dossier is given as {JSON} or {PDF}; the request accepts neither ({accept[:200]})."
        )
    return str(found)


class DossierController(Controller):
    tags = ["records"]

    @get(
        "/records/{type_key:str}/{record_id:int}/dossier",
        sync_to_thread=True,
        summary="A complete copy of a record: JSON, or PDF with 'Accept: application/pdf'",
        description=(
            "Every field as shown to people (with 'modified' markers), attachments with "
            "SHA-256, every signature's manifest and status, the full audit trail, related "
            f"records to ?depth= (0 to {MAX_DEPTH}, default {DEFAULT_DEPTH}; those you may "
            "not read are named as withheld), the record's content hash, when it was made, "
            "the platform version and the configuration hash. 406 for an Accept that is "
            "neither JSON nor PDF; 503 where the server cannot make PDFs."
        ),
        responses={
            406: ResponseSpec(None, description="Not acceptable: Accept is neither JSON nor PDF"),
            503: ResponseSpec(
                None, description="PDF not available: the server lacks the PDF engine's libraries"
            ),
        },
    )
    def dossier(
        self,
        type_key: str,
        record_id: RowId,
        request: Request[Any, Any, Any],
        db: Database,
        principal: Principal,
        depth: Depth = DEFAULT_DEPTH,
    ) -> Response[Dossier]:
        wanted = chosen_format(request.headers.get("accept"))
        with db.read() as conn:
            dossier = record_dossier(conn, principal, type_key, record_id, depth=depth)
        if wanted == PDF:
            return pdf_response(dossier)  # type: ignore[return-value]
        return Response(dossier)
