"""The rows a record's data implies besides itself: its references and its attachments.

A reference field's targets are also written to ``record_reference`` so that
"everything pointing at this record" is one indexed query; an attachment is
bound to the one record that names it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, update

from labledger.db.tables import attachment, record_reference
from labledger.metadata.model import TypeModel
from labledger.metadata.spec.fields import AttachmentField, ReferenceField

_BIND_ATTACHMENT = (
    update(attachment)
    .where(attachment.c.id == bindparam("attachment_id"), attachment.c.record_id.is_(None))
    .values(record_id=bindparam("owner_id"))
)


def write_references(
    conn: Connection, model: TypeModel, records: list[tuple[int, dict[str, Any]]], replace: bool
) -> None:
    """The reference rows of ``records`` ((id, data) pairs), replacing theirs if asked."""
    if replace:
        conn.execute(
            delete(record_reference).where(
                record_reference.c.source_id.in_([record_id for record_id, _ in records])
            )
        )
    rows = [
        {"source_id": record_id, "field_key": key, "target_id": target}
        for record_id, data in records
        for key, spec in model.field_specs.items()
        if isinstance(spec, ReferenceField) and data.get(key) is not None
        for target in spec.targets(data[key])
    ]
    if rows:
        conn.execute(insert(record_reference), rows)


def bind_attachments(
    conn: Connection, model: TypeModel, records: list[tuple[int, dict[str, Any]]]
) -> None:
    """Tie the attachments ``records`` ((id, data) pairs) name to them."""
    rows = [
        {"attachment_id": data[key], "owner_id": record_id}
        for record_id, data in records
        for key, spec in model.field_specs.items()
        if isinstance(spec, AttachmentField) and data.get(key) is not None
    ]
    if rows:
        conn.execute(_BIND_ATTACHMENT, rows)


def has_references(model: TypeModel) -> bool:
    return any(isinstance(f, ReferenceField) for f in model.field_specs.values())
