"""The records around a record, to a bounded depth: what it points at and what points at it.

Both directions follow the reference table (one indexed query per level and
direction). Each record appears once, at the depth it is first reached.
Records of types the reader may not read are counted as withheld, by type,
field and relation, and never shown; records beyond ``MAX_RELATED`` are
counted as not shown, never silently left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select

from labledger.db.tables import record, record_reference
from labledger.identity.principal import Principal
from labledger.metadata.types import type_model
from labledger.records.related import may_read

#: Most related records one dossier shows (each with its fields, signatures and trail).
MAX_RELATED = 25
#: Most references read per level and direction; more are counted, not read.
SCAN_LIMIT = 2000
#: ``of`` points at the related record through ``field``.
REFERENCES = "references"
#: The related record points at ``of`` through ``field``.
REFERENCED_BY = "referenced_by"


@dataclass(frozen=True)
class Link:
    """A related record reached from ``of`` (a record already in the dossier)."""

    relation: str
    of: dict[str, Any]
    field: str
    field_label: str
    depth: int
    row: dict[str, Any]


@dataclass
class Found:
    """What a walk found: readable links in order, withheld counts, how many were cut."""

    links: list[Link] = field(default_factory=list)
    #: (relation, number of ``of``, type, field) -> how many records.
    withheld: dict[tuple[str, str, str, str], int] = field(default_factory=dict)
    not_shown: int = 0


def _field_label(conn: Connection, row: dict[str, Any], field_key: str) -> str:
    """The label of ``field_key`` in the type version ``row`` was written with."""
    spec = type_model(conn, row["type_key"], row["type_version"]).field_specs.get(field_key)
    return field_key if spec is None else spec.label


def _neighbours(
    conn: Connection, frontier: dict[int, dict[str, Any]], result: Found
) -> list[tuple[str, int, str, dict[str, Any]]]:
    """(relation, id of the frontier record, field, related row) for the references
    from or to the frontier, in a stable order; those past ``SCAN_LIMIT`` are counted
    in ``result.not_shown``."""
    ids = list(frontier)
    found: list[tuple[str, int, str, dict[str, Any]]] = []
    for relation, near, far in (
        (REFERENCES, record_reference.c.source_id, record_reference.c.target_id),
        (REFERENCED_BY, record_reference.c.target_id, record_reference.c.source_id),
    ):
        rows = (
            conn.execute(
                select(near.label("near"), record_reference.c.field_key, record)
                .join(record, record.c.id == far)
                .where(near.in_(ids))
                .order_by(near, record_reference.c.field_key, record.c.id)
                .limit(SCAN_LIMIT + 1)
            )
            .mappings()
            .all()
        )
        if len(rows) > SCAN_LIMIT:
            total = conn.execute(
                select(func.count()).select_from(record_reference).where(near.in_(ids))
            ).scalar_one()
            result.not_shown += total - SCAN_LIMIT
        for row in rows[:SCAN_LIMIT]:
            related = {c.name: row[c.name] for c in record.columns}
            found.append((relation, row["near"], row["field_key"], related))
    return found


def related_rows(conn: Connection, actor: Principal, root: dict[str, Any], depth: int) -> Found:
    """The records within ``depth`` references of ``root`` that ``actor`` may read."""
    result = Found()
    seen = {root["id"]}
    readable: dict[str, bool] = {}
    frontier = {root["id"]: root}
    for level in range(1, depth + 1):
        following: dict[int, dict[str, Any]] = {}
        for relation, near_id, field_key, row in _neighbours(conn, frontier, result):
            if row["id"] in seen:
                continue
            seen.add(row["id"])
            near = frontier[near_id]
            type_key = row["type_key"]
            if type_key not in readable:
                readable[type_key] = may_read(conn, actor, type_key)
            if not readable[type_key]:
                key = (relation, near["number"], type_key, field_key)
                result.withheld[key] = result.withheld.get(key, 0) + 1
                continue
            if len(result.links) >= MAX_RELATED:
                result.not_shown += 1
                continue
            source = near if relation == REFERENCES else row
            label = _field_label(conn, source, field_key)
            result.links.append(Link(relation, near, field_key, label, level, row))
            following[row["id"]] = row
        if not following:
            break
        frontier = following
    return result
