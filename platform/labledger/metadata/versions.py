"""Versioned, immutable configuration items (object types, workflows, ...).

Each publish of a changed definition adds a version; versions are never
modified. ``config_item`` points at the current version and remembers the
bundle an item was imported from, so a later import can tell a local edit.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, bindparam, insert, select, update

from labledger.canonical import content_hash, plain_content_hash
from labledger.change_gate import require_change
from labledger.db.tables import config_item, config_version
from labledger.db.txcache import forget, transaction_cache
from labledger.db.types import utc_now

Compiled = TypeVar("Compiled")


@dataclass(frozen=True)
class Published:
    version: int
    changed: bool
    previous: dict[str, Any] | None
    #: ``content_hash`` of the body now current.
    body_hash: str


def current(conn: Connection, kind: str, key: str) -> tuple[int, dict[str, Any]] | None:
    """(version, body) of the current version, or None when never published."""
    state = item_state(conn, kind, key)
    return None if state is None or state.version is None else (state.version, state.body or {})


@dataclass(frozen=True)
class ItemState:
    """An item's current version and where it came from, as a bundle import needs them."""

    #: None when the item has no version (a role: its ``config_item`` row only tracks it).
    version: int | None
    body: dict[str, Any] | None
    body_hash: str | None
    source_bundle: str | None
    source_bundle_version: str | None
    source_hash: str | None


_ITEM_STATE_COLUMNS = (
    config_version.c.version,
    config_version.c.body,
    config_version.c.body_hash,
    config_item.c.source_bundle,
    config_item.c.source_bundle_version,
    config_item.c.source_hash,
)
#: An item with its current version (none for a role, which only has an item row).
_ITEM_WITH_CURRENT = config_item.outerjoin(
    config_version,
    (config_version.c.kind == config_item.c.kind)
    & (config_version.c.key == config_item.c.key)
    & (config_version.c.version == config_item.c.current_version),
)
_ITEM_STATES = select(config_item.c.kind, config_item.c.key, *_ITEM_STATE_COLUMNS).select_from(
    _ITEM_WITH_CURRENT
)
_ITEM_STATE = (
    select(*_ITEM_STATE_COLUMNS)
    .select_from(_ITEM_WITH_CURRENT)
    .where(config_item.c.kind == bindparam("kind"), config_item.c.key == bindparam("key"))
)


#: Transaction cache section: (kind, key) -> ItemState, or None for an item not tracked.
#: Only ``store`` writes versions, and it keeps the section up to date; code that
#: changes an item's source columns calls ``forget_states``. Bodies in it are shared:
#: never mutate one.
_STATE_SECTION = "item_state"


def item_state(conn: Connection, kind: str, key: str) -> ItemState | None:
    """The item's current version and source (None: not tracked at all).

    Remembered until the end of the transaction, so that an import asking for
    an item, checking against it and publishing it reads it once.
    """
    states = transaction_cache(conn, _STATE_SECTION)
    if (kind, key) not in states:
        row = conn.execute(_ITEM_STATE, {"kind": kind, "key": key}).first()
        states[(kind, key)] = None if row is None else ItemState(*row)
    state: ItemState | None = states[(kind, key)]
    return state


def prefetch_states(conn: Connection, items: Iterable[tuple[str, str]]) -> None:
    """Read the state of every (kind, key) in ``items`` in one query.

    A bundle of 50 types would otherwise ask once per item, three times over
    (its state, the workflow a type names, the version to publish after).
    """
    states = transaction_cache(conn, _STATE_SECTION)
    wanted = {item for item in items if item not in states}
    if not wanted:
        return
    query = _ITEM_STATES.where(
        config_item.c.kind.in_({kind for kind, _ in wanted}),
        config_item.c.key.in_({key for _, key in wanted}),
    )
    found = {(row.kind, row.key): ItemState(*row[2:]) for row in conn.execute(query)}
    states.update((item, found.get(item)) for item in wanted)


def forget_states(conn: Connection) -> None:
    """For code that writes ``config_item`` itself: forget what ``item_state`` remembered."""
    forget(conn, _STATE_SECTION)


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


#: Built once: a bundle import stores dozens of versions.
_INSERT_VERSION = insert(config_version)
_INSERT_ITEM = insert(config_item)
_MOVE_ITEM = (
    update(config_item)
    .where(config_item.c.kind == bindparam("item_kind"), config_item.c.key == bindparam("item_key"))
    .values(current_version=bindparam("new_version"), updated_at=bindparam("moved_at"))
)


def store(conn: Connection, kind: str, key: str, body: dict[str, Any], actor: str) -> Published:
    """Store ``body`` as the next version unless it equals the current one.

    Refused with change control on, unless an approved change request is
    being activated (``labledger.change_gate``).
    """
    found = item_state(conn, kind, key)
    body_hash = content_hash(body)
    if found is not None and found.body_hash == body_hash and found.version is not None:
        return Published(found.version, False, found.body, body_hash)
    require_change(conn, f"{kind.replace('_', ' ')} '{key}'")
    previous = None if found is None else found.body
    version = 1 if found is None or found.version is None else found.version + 1
    now = utc_now()
    conn.execute(
        _INSERT_VERSION,
        {
            "kind": kind,
            "key": key,
            "version": version,
            "body": body,
            "body_hash": body_hash,
            "published_at": now,
            "published_by": actor,
        },
    )
    if found is None:
        conn.execute(
            _INSERT_ITEM, {"kind": kind, "key": key, "current_version": version, "updated_at": now}
        )
        found = ItemState(None, None, None, None, None, None)
    else:
        moved = {"item_kind": kind, "item_key": key, "new_version": version, "moved_at": now}
        conn.execute(_MOVE_ITEM, moved)
    _remember(conn, kind, key, replace(found, version=version, body=body, body_hash=body_hash))
    return Published(version, True, previous, body_hash)


def _remember(conn: Connection, kind: str, key: str, state: ItemState) -> None:
    """Keep what this transaction remembers in line with the version ``store`` just wrote."""
    transaction_cache(conn, _STATE_SECTION)[(kind, key)] = state
    refs = transaction_cache(conn, _CURRENT_SECTION)
    if refs:  # loaded: every current item is in it
        refs[(kind, key)] = (state.version, state.body_hash)


#: Transaction cache section: (kind, key) -> (current version, body hash) or None.
_CURRENT_SECTION = "current_version"
_REF_COLUMNS = (config_version.c.version, config_version.c.body_hash)
_SAME_ITEM = (config_version.c.kind == bindparam("kind")) & (
    config_version.c.key == bindparam("key")
)
#: Built once: every transaction that touches records asks this.
_ALL_CURRENT_REFS = select(config_version.c.kind, config_version.c.key, *_REF_COLUMNS).join(
    config_item,
    (config_item.c.kind == config_version.c.kind)
    & (config_item.c.key == config_version.c.key)
    & (config_item.c.current_version == config_version.c.version),
)
#: Marks the section as filled (an empty configuration has no items).
_LOADED = ("", "")
_VERSION_REF = select(*_REF_COLUMNS).where(
    _SAME_ITEM, config_version.c.version == bindparam("version")
)


def version_ref(
    conn: Connection, kind: str, key: str, version: int | None = None
) -> tuple[int, str] | None:
    """(version, body hash) of the current or a given version.

    The current versions of every configuration item are read in one query,
    once per transaction (``store`` updates them when it publishes a new
    one): a request touching a sample, its results and their workflows asks
    once rather than once per item.
    """
    if version is not None:
        params = {"kind": kind, "key": key, "version": version}
        row = conn.execute(_VERSION_REF, params).first()
        return None if row is None else (row.version, row.body_hash)
    return _current_refs(conn).get((kind, key))


def _current_refs(conn: Connection) -> dict[Any, Any]:
    """(kind, key) -> (current version, body hash) of every item, read once per transaction."""
    current = transaction_cache(conn, _CURRENT_SECTION)
    if not current:  # one small query tells every item's current version
        current.update(
            ((row.kind, row.key), (row.version, row.body_hash))
            for row in conn.execute(_ALL_CURRENT_REFS)
        )
        current[_LOADED] = True
    return current


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


def configuration_hash(conn: Connection) -> str:
    """SHA-256 over every configuration item in force: its kind, key, version and the
    hash of its definition. Names the configuration a copy or report was made under."""
    current = _current_refs(conn)
    items = sorted(
        [kind, key, *ref]
        for (kind, key), ref in current.items()
        if (kind, key) != _LOADED and ref is not None
    )
    return plain_content_hash(items)
