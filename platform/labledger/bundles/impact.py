"""What a bundle's change to a definition means for the records already here.

The report shows, item by item, the differences between the stored
definition and the bundle's, and for the ones that touch existing records how
many they touch: a removed field's values kept but hidden, a new required
field the records have no value for, a removed state records are still in.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from labledger.bundles.report import SINGULAR, Change
from labledger.db.jsonfields import TEXT, field_column
from labledger.db.tables import record
from labledger.metadata import versions
from labledger.metadata.diff import KEYED_LISTS, diff_definitions
from labledger.metadata.types import KIND as TYPE_KIND
from labledger.metadata.types import type_model


def item_changes(
    conn: Connection, section: str, key: str, old: dict[str, Any] | None, new: dict[str, Any]
) -> list[Change]:
    """The differences from ``old`` (None: a new item) to ``new``, with their effects."""
    if old is None:
        return [
            Change("added", f"{collection}.{entry[KEYED_LISTS[collection]]}")
            for collection in SINGULAR
            for entry in new.get(collection, [])
        ]
    diff = diff_definitions(old, new)
    changes = [
        Change(verb, f"{collection}.{item_key}")
        for verb in ("added", "removed")
        for collection, item_keys in diff.get(verb, {}).items()
        for item_key in item_keys
    ]
    changes += [
        Change("changed", path, values["old"], values["new"])
        for path, values in diff.get("changed", {}).items()
    ]
    for change in changes:
        _effect(conn, section, key, new, change)
    return changes


def _effect(conn: Connection, section: str, key: str, new: dict[str, Any], change: Change) -> None:
    """Set the change's ``records`` and ``effect`` when it touches existing records."""
    collection, _, item_key = change.path.partition(".")
    if section == "types" and collection == "fields" and change.change == "removed":
        change.records = _count(conn, [key], field_key=item_key)
        change.effect = (
            _records(change.records, "keeps its value", "keep their values") + ", hidden"
            if change.records
            else "no record holds a value for it"
        )
    elif section == "types" and collection == "fields" and change.change == "added":
        fdef = next(f for f in new["fields"] if f["key"] == item_key)
        if fdef.get("required") and fdef["type"] != "computed":
            missing = _count(conn, [key]) - _count(conn, [key], field_key=item_key)
            if missing:
                change.records = missing
                change.effect = (
                    _records(missing, "has", "have") + " no value and will need one "
                    "at the next edit"
                )
    elif section == "workflows" and collection == "states" and change.change == "removed":
        users = [
            type_key
            for type_key in versions.keys(conn, TYPE_KIND)
            if type_model(conn, type_key).workflow == key
        ]
        change.records = _count(conn, users, state=item_key) if users else 0
        if change.records:
            change.effect = _records(change.records, "is", "are") + " in it"


def _count(
    conn: Connection,
    type_keys: list[str],
    *,
    field_key: str | None = None,
    state: str | None = None,
) -> int:
    """Records of ``type_keys`` (with a value for ``field_key``, in ``state``)."""
    query = select(func.count()).select_from(record).where(record.c.type_key.in_(type_keys))
    if field_key is not None:
        query = query.where(field_column(conn.dialect.name, field_key, TEXT).is_not(None))
    if state is not None:
        query = query.where(record.c.state == state)
    count: int = conn.execute(query).scalar_one()
    return count


def _records(count: int, singular: str, plural: str) -> str:
    """``_records(1204, "keeps", "keep")`` -> "1,204 records keep"."""
    return f"{count:,} record {singular}" if count == 1 else f"{count:,} records {plural}"
