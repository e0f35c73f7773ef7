"""A stored attachment sent back as a download, the same from the pages and the API."""

from __future__ import annotations

from typing import Any

from litestar import Response


def attachment_download(found: dict[str, Any]) -> Response[bytes]:
    """The file of ``records.attachments.read_attachment`` as its uploader sent it.

    It goes out with the media type it was uploaded with, as an attachment (a
    download, never a page shown in place), with ``nosniff`` so that no browser
    reads it as another type, and with its SHA-256 for the receiver to check.
    """
    return Response(
        found["content"],
        media_type=found["content_type"],
        headers={
            "Content-Disposition": f'attachment; filename="{found["filename"]}"',
            "X-Content-SHA256": found["sha256"],
            "X-Content-Type-Options": "nosniff",
        },
    )
