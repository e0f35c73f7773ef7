"""Attachments: what an upload answers."""

from __future__ import annotations

from datetime import datetime

from labledger.api.schemas.base import ResponseStruct


class AttachmentInfo(ResponseStruct):
    """A stored file; name its ``id`` in a record's attachment field."""

    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
    created_by: str
