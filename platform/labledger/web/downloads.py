"""Downloads the pages and the API send alike: a stored attachment, a configuration bundle."""

from __future__ import annotations

import re
from typing import Any

from litestar import Response

from labledger.bundles.format import dump_bundle

#: What may stand in a download's file name made from user input; the rest becomes ``_``.
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]")


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


def bundle_download(bundle: dict[str, Any]) -> Response[bytes]:
    """An exported bundle as its canonical bytes, a file named by its name and version."""
    filename = _UNSAFE_FILENAME.sub("_", f"{bundle['name']}-{bundle['version']}.json")
    return Response(
        dump_bundle(bundle),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
