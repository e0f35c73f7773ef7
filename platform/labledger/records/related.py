"""What a record points at and what points at it, for showing records to people.

A record's reference and attachment fields hold bare ids; pages show the
target's number and title, or the file's name, so these lookups fetch all
the ids of a page in one query each. "Records that reference this one" (a
parent's results, say) follows the reference table, one indexed query per
group. Records of types the person may not read are left out, so a link
never reveals what its target holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Connection, func, select

from labledger.db.tables import attachment, record, record_reference
from labledger.errors import Forbidden
from labledger.identity.principal import Principal
from labledger.metadata import versions
from labledger.metadata.model import TypeModel
from labledger.metadata.spec.fields import ReferenceField
from labledger.metadata.types import KIND, readable_model
from labledger.records.service import record_view


def may_read(conn: Connection, actor: Principal, type_key: str) -> bool:
    """Whether ``actor`` may read records of ``type_key`` (as ``readable_model`` decides)."""
    try:
        readable_model(conn, actor, type_key)
    except Forbidden:
        return False
    return True


def record_summaries(
    conn: Connection, actor: Principal, ids: Iterable[int]
) -> dict[int, dict[str, Any]]:
    """Number, title, type and state of each readable record among ``ids``."""
    wanted = {i for i in ids if isinstance(i, int) and not isinstance(i, bool)}
    if not wanted:
        return {}
    rows = conn.execute(
        select(
            record.c.id, record.c.type_key, record.c.number, record.c.title, record.c.state
        ).where(record.c.id.in_(wanted))
    ).mappings()
    readable: dict[str, bool] = {}
    result = {}
    for row in rows:
        key = row["type_key"]
        if key not in readable:
            readable[key] = may_read(conn, actor, key)
        if readable[key]:
            result[row["id"]] = {
                "id": row["id"],
                "type": key,
                "number": row["number"],
                "title": row["title"],
                "state": row["state"],
            }
    return result


def attachment_summaries(conn: Connection, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """File name, size and hash of each attachment among ``ids`` (never the content)."""
    wanted = {i for i in ids if isinstance(i, int) and not isinstance(i, bool)}
    if not wanted:
        return {}
    rows = conn.execute(
        select(
            attachment.c.id,
            attachment.c.filename,
            attachment.c.size,
            attachment.c.sha256,
            attachment.c.content_type,
        ).where(attachment.c.id.in_(wanted))
    ).mappings()
    return {row["id"]: dict(row) for row in rows}


def referencing_records(
    conn: Connection, actor: Principal, record_id: int, *, per_group: int = 50
) -> list[dict[str, Any]]:
    """Records pointing at ``record_id``, grouped by their type and reference field.

    Each group has the type and field with their labels, the total count and
    up to ``per_group`` records, oldest first.
    """
    groups = conn.execute(
        select(record.c.type_key, record_reference.c.field_key, func.count())
        .select_from(record_reference.join(record, record.c.id == record_reference.c.source_id))
        .where(record_reference.c.target_id == record_id)
        .group_by(record.c.type_key, record_reference.c.field_key)
        .order_by(record.c.type_key, record_reference.c.field_key)
    ).all()
    result = []
    for type_key, field_key, total in groups:
        try:
            model = readable_model(conn, actor, type_key)
        except Forbidden:
            continue
        rows = conn.execute(
            select(record)
            .join(record_reference, record.c.id == record_reference.c.source_id)
            .where(
                record_reference.c.target_id == record_id,
                record_reference.c.field_key == field_key,
                record.c.type_key == type_key,
            )
            .order_by(record.c.id)
            .limit(per_group)
        ).mappings()
        spec = model.field_specs.get(field_key)
        result.append(
            {
                "type": type_key,
                "type_label": model.spec.plural,
                "field": field_key,
                "field_label": field_key if spec is None else spec.label,
                "filterable": spec is not None and spec.filterable,
                "total": total,
                "items": [record_view(r) for r in rows],
            }
        )
    return result


def readable_models(conn: Connection, actor: Principal) -> Iterator[TypeModel]:
    """The current model of every type ``actor`` may read, by type key."""
    for key in versions.keys(conn, KIND):
        try:
            yield readable_model(conn, actor, key)
        except Forbidden:
            continue


def referencing_types(conn: Connection, actor: Principal, type_key: str) -> list[dict[str, Any]]:
    """The readable types with a reference field to ``type_key``: where its children live."""
    result = []
    for model in readable_models(conn, actor):
        for field_key, spec in model.field_specs.items():
            if isinstance(spec, ReferenceField) and spec.to == type_key:
                result.append(
                    {
                        "type": model.key,
                        "type_label": model.spec.plural,
                        "field": field_key,
                        "field_label": spec.label,
                    }
                )
    return result


def children_of(
    conn: Connection, model: TypeModel, field_key: str, parent_ids: list[int], *, limit: int
) -> list[dict[str, Any]]:
    """Records of ``model``'s type whose reference ``field_key`` points at one of ``parent_ids``.

    Ordered by parent, then oldest first; the caller has checked read access.
    """
    if not parent_ids:
        return []
    rows = conn.execute(
        select(record)
        .join(record_reference, record.c.id == record_reference.c.source_id)
        .where(
            record_reference.c.target_id.in_(parent_ids),
            record_reference.c.field_key == field_key,
            record.c.type_key == model.key,
        )
        .order_by(record_reference.c.target_id, record.c.id)
        .limit(limit)
    ).mappings()
    return [record_view(r) for r in rows]
