"""Attachments: files stored in the database with their SHA-256.

A file is uploaded first and gets an id; a record's attachment field then
names that id. The file is bound to the first record that uses it and is read
with that record's permissions. Files are never changed or deleted, so the
stored hash proves the content is what was uploaded.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from sqlalchemy import Connection, insert, select

from labledger.db.tables import attachment, record
from labledger.db.types import utc_now
from labledger.errors import FieldError, Forbidden, NotFound, PayloadTooLarge, ValidationFailed
from labledger.identity.principal import Principal
from labledger.metadata.types import readable_model

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._ ()+-]")
_MEDIA_NAME = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"
#: ``type/subtype`` (tokens), then parameters in printable characters (RFC 9110 8.3.1).
_MEDIA_TYPE = re.compile(rf"{_MEDIA_NAME}/{_MEDIA_NAME}(?:[ \t]*;[\x20-\x7e\t]*)?")
#: As long as the column that keeps it.
MAX_CONTENT_TYPE_LENGTH: int = attachment.c.content_type.type.length  # type: ignore[attr-defined]


def clean_filename(name: str) -> str:
    """Keep the base name with safe characters only (it ends up in headers)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return _UNSAFE_NAME.sub("_", base)[:200] or "file"


def content_type_errors(content_type: str) -> list[FieldError]:
    """A field error unless ``content_type`` is a media type that fits its column.

    The type comes from the client (a header, or a browser's multipart part),
    and is sent back when the file is downloaded.
    """
    if len(content_type) > MAX_CONTENT_TYPE_LENGTH:
        message = f"is {len(content_type)} characters; the limit is {MAX_CONTENT_TYPE_LENGTH}"
        return [FieldError("Content-Type", message)]
    if not _MEDIA_TYPE.fullmatch(content_type):
        return [FieldError("Content-Type", "must be a media type such as application/pdf")]
    return []


def store_attachment(
    conn: Connection,
    actor: Principal,
    *,
    filename: str,
    content_type: str,
    content: bytes,
    max_bytes: int,
) -> dict[str, Any]:
    if len(content) > max_bytes:
        raise PayloadTooLarge(f"The file is {len(content)} bytes; the limit is {max_bytes} bytes.")
    if not content:
        raise ValidationFailed("The file is empty.", [FieldError("file", "is empty")])
    content_type = content_type or "application/octet-stream"
    if errors := content_type_errors(content_type):
        raise ValidationFailed("The file's content type is not valid.", errors)
    row = {
        "sha256": hashlib.sha256(content).hexdigest(),
        "filename": clean_filename(filename),
        "content_type": content_type,
        "size": len(content),
        "content": content,
        "created_at": utc_now(),
        "created_by": actor.username,
    }
    row["id"] = conn.execute(insert(attachment).values(row).returning(attachment.c.id)).scalar_one()
    return attachment_info(row)


#: What the API tells about a stored file (its content is read on its own).
_INFO = ("id", "filename", "content_type", "size", "sha256", "created_at", "created_by")


def attachment_info(row: Any) -> dict[str, Any]:
    return {name: row[name] for name in _INFO}


def read_attachment(conn: Connection, actor: Principal, attachment_id: int) -> dict[str, Any]:
    """The file with its content, if the caller may read the record it belongs to.

    An attachment not yet used by a record is visible only to its uploader.
    """
    row = (
        conn.execute(
            select(attachment, record.c.type_key)
            .outerjoin(record, record.c.id == attachment.c.record_id)
            .where(attachment.c.id == attachment_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"There is no attachment {attachment_id}.")
    if row["type_key"] is None:
        if row["created_by"] != actor.username:
            raise Forbidden("This attachment is not yours and belongs to no record yet.")
    else:
        readable_model(conn, actor, row["type_key"])  # whoever may read the record
    return {**attachment_info(row), "content": row["content"]}
