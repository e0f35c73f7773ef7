"""/api/v1/attachments: upload a file (raw body), then name its id in a record."""

from __future__ import annotations

from typing import Annotated, Any

from anyio.to_thread import run_sync
from litestar import Controller, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter

from labledger.api.rawbody import raw_body
from labledger.api.schemas.attachments import AttachmentInfo
from labledger.api.schemas.base import shaped
from labledger.db.engine import Database
from labledger.identity.principal import Principal
from labledger.params import RowId
from labledger.records.attachments import read_attachment, store_attachment
from labledger.settings import Settings
from labledger.web.downloads import attachment_download


class AttachmentsController(Controller):
    path = "/attachments"
    tags = ["attachments"]

    @post(
        "/",
        summary="Upload a file as the raw request body; ?filename=name.pdf",
        operation_class=raw_body(
            "application/octet-stream",
            "the file's bytes, sent with its own Content-Type (kept for the download)",
        ),
    )
    async def upload(
        self,
        request: Request[Any, Any, Any],
        db: Database,
        principal: Principal,
        settings: Settings,
        filename: Annotated[str, QueryParameter(name="filename")] = "file",
    ) -> Response[AttachmentInfo]:
        content = await request.body()
        content_type = request.headers.get("content-type", "application/octet-stream")

        def save() -> AttachmentInfo:
            with db.write() as conn:
                stored = store_attachment(
                    conn,
                    principal,
                    filename=filename,
                    content_type=content_type,
                    content=content,
                    max_bytes=settings.attachment_max_bytes,
                )
            return shaped(stored, AttachmentInfo)

        return Response(await run_sync(save), status_code=201)

    @get(
        "/{attachment_id:int}",
        sync_to_thread=True,
        summary="Download a file",
        # The body is the file as uploaded, sent with the media type it was uploaded with.
        responses={
            200: ResponseSpec(
                bytes,
                media_type="application/octet-stream",
                description="the file's bytes, with the Content-Type it was uploaded with",
                generate_examples=False,
            )
        },
    )
    def download(self, attachment_id: RowId, db: Database, principal: Principal) -> Response[bytes]:
        with db.read() as conn:
            found = read_attachment(conn, principal, attachment_id)
        return attachment_download(found)
