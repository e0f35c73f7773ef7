"""Versioned, immutable configuration items (object types, workflows, ...).

Each publish of a changed definition adds a version; versions are never
modified. ``config_item`` points at the current version and remembers the
bundle an item was imported from, so a later import can tell a local edit.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, bindparam, insert, select, update

from labledger.canonical import content_hash
from labledger.db.tables import config_item, config_version
from labledger.db.txcache import forget, transaction_cache
from labledger.db.types import utc_now

Compiled = TypeVar("Compiled")


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
    forget(conn, _CURRENT_SECTION)
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


#: Transaction cache section: (kind, key) -> (current version, body hash) or None.
_CURRENT_SECTION = "current_version"
_REF_COLUMNS = (config_version.c.version, config_version.c.body_hash)
_SAME_ITEM = (config_version.c.kind == bindparam("kind")) & (
    config_version.c.key == bindparam("key")
)
#: Built once: every request that touches records asks this.
_CURRENT_REF = (
    select(*_REF_COLUMNS)
    .join(
        config_item,
        (config_item.c.kind == config_version.c.kind)
        & (config_item.c.key == config_version.c.key)
        & (config_item.c.current_version == config_version.c.version),
    )
    .where(_SAME_ITEM)
)
_VERSION_REF = select(*_REF_COLUMNS).where(
    _SAME_ITEM, config_version.c.version == bindparam("version")
)


def version_ref(
    conn: Connection, kind: str, key: str, version: int | None = None
) -> tuple[int, str] | None:
    """(version, body hash) of the current or a given version, in one query.

    Which version is current is asked once per transaction (``store`` forgets
    it when it publishes a new one).
    """
    params = {"kind": kind, "key": key}
    if version is not None:
        row = conn.execute(_VERSION_REF, {**params, "version": version}).first()
        return None if row is None else (row.version, row.body_hash)
    remembered = transaction_cache(conn, _CURRENT_SECTION)
    if (kind, key) not in remembered:
        row = conn.execute(_CURRENT_REF, params).first()
        remembered[kind, key] = None if row is None else (row.version, row.body_hash)
    return remembered[kind, key]


class CompiledCache(Generic[Compiled]):
    """Compiled definitions, keyed by (key, version, body hash).

    Versions are immutable, so a compiled form never goes stale; the body hash
    in the key keeps databases that share a process (tests, several sites)
    apart. Each lookup still asks the database which version is current, one
    small query, so every worker sees a newly published version at once.
    """

    def __init__(
        self, kind: str, build: Callable[[str, int, dict[str, Any]], Compiled], size: int = 512
    ) -> None:
        self.kind = kind
        self.build = build
        self.size = size
        self._items: OrderedDict[tuple[str, int, str], Compiled] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, conn: Connection, key: str, version: int | None = None) -> Compiled | None:
        ref = version_ref(conn, self.kind, key, version)
        if ref is None:
            return None
        cache_key = (key, *ref)
        with self._lock:
            found = self._items.get(cache_key)
            if found is not None:
                self._items.move_to_end(cache_key)
                return found
        body = body_at(conn, self.kind, key, ref[0])
        compiled = self.build(key, ref[0], body or {})
        with self._lock:
            self._items[cache_key] = compiled
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return compiled
