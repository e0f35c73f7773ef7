"""Versioned, immutable configuration items (object types, workflows, ...).

Each publish of a changed definition adds a version; versions are never
modified. ``config_item`` points at the current version and remembers the
bundle an item was imported from, so a later import can tell a local edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from labledger.canonical import content_hash
from labledger.db.tables import config_item, config_version
from labledger.db.types import utc_now


@dataclass(frozen=True)
class Published:
    version: int
    changed: bool
    previous: dict[str, Any] | None


def current(conn: Connection, kind: str, key: str) -> tuple[int, dict[str, Any]] | None:
    """(version, body) of the current version, or None when never published."""
    row = conn.execute(
        select(config_version.c.version, config_version.c.body)
        .join(
            config_item,
            (config_item.c.kind == config_version.c.kind)
            & (config_item.c.key == config_version.c.key)
            & (config_item.c.current_version == config_version.c.version),
        )
        .where(config_item.c.kind == kind, config_item.c.key == key)
    ).first()
    return None if row is None else (row.version, row.body)


def current_version(conn: Connection, kind: str, key: str) -> int | None:
    return conn.execute(
        select(config_item.c.current_version).where(
            config_item.c.kind == kind, config_item.c.key == key
        )
    ).scalar()


def body_at(conn: Connection, kind: str, key: str, version: int) -> dict[str, Any] | None:
    return conn.execute(
        select(config_version.c.body).where(
            config_version.c.kind == kind,
            config_version.c.key == key,
            config_version.c.version == version,
        )
    ).scalar()


def keys(conn: Connection, kind: str) -> list[str]:
    return list(
        conn.execute(
            select(config_item.c.key).where(config_item.c.kind == kind).order_by(config_item.c.key)
        ).scalars()
    )


def all_versions(conn: Connection, kind: str, key: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(config_version)
        .where(config_version.c.kind == kind, config_version.c.key == key)
        .order_by(config_version.c.version)
    ).mappings()
    return [dict(r) for r in rows]


def store(conn: Connection, kind: str, key: str, body: dict[str, Any], actor: str) -> Published:
    """Store ``body`` as the next version unless it equals the current one."""
    found = current(conn, kind, key)
    body_hash = content_hash(body)
    if found is not None and content_hash(found[1]) == body_hash:
        return Published(found[0], False, found[1])
    version = 1 if found is None else found[0] + 1
    now = utc_now()
    conn.execute(
        insert(config_version).values(
            kind=kind,
            key=key,
            version=version,
            body=body,
            body_hash=body_hash,
            published_at=now,
            published_by=actor,
        )
    )
    if found is None:
        conn.execute(
            insert(config_item).values(kind=kind, key=key, current_version=version, updated_at=now)
        )
    else:
        conn.execute(
            update(config_item)
            .where(config_item.c.kind == kind, config_item.c.key == key)
            .values(current_version=version, updated_at=now)
        )
    return Published(version, True, None if found is None else found[1])
