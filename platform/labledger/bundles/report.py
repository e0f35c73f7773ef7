"""What an import did or would do, item by item, as data and as readable lines.

The same report answers a dry run, an applied import and a refused one (its
conflicts), so the CLI, the API and the browser show one account of a bundle.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from labledger.bundles.migration import Reconciliation

#: Lists of keyed items in definitions (see ``metadata.diff.KEYED_LISTS``), and
#: what one item is called.
SINGULAR = {
    "fields": "field",
    "sections": "section",
    "states": "state",
    "transitions": "transition",
    "columns": "column",
}
_VALUE_WIDTH = 100


@dataclass
class Change:
    """One difference between the definition in the database and the bundle's."""

    change: str  # "added", "removed" or "changed"
    #: Where: ``fields.lot`` (an item), ``fields.code.max_length`` (an option), ``label``.
    path: str
    old: Any = None
    new: Any = None
    #: What the change means for existing records, e.g. "1,204 records keep their values, hidden".
    effect: str | None = None
    records: int | None = None


@dataclass
class ItemReport:
    kind: str  # "role", "workflow", "type", "mapping", "print template" or "dashboard"
    key: str
    #: The item's JSON path in the bundle, e.g. ``types[3]``.
    path: str
    #: "added", "changed", "unchanged", or "kept" (a local change the bundle does not touch).
    action: str
    old_version: int | None = None
    version: int | None = None
    #: Why applying the item would overwrite a local change (None: no conflict).
    conflict: str | None = None
    #: The conflict was overridden with force.
    forced: bool = False
    changes: list[Change] = field(default_factory=list)


@dataclass
class RecordReport:
    ref: str
    type: str
    action: str  # "created" or "existing"
    id: int | None = None
    number: str | None = None


@dataclass
class ImportReport:
    name: str
    version: str
    sha256: str
    dry_run: bool
    force: bool
    items: list[ItemReport] = field(default_factory=list)
    records: list[RecordReport] = field(default_factory=list)
    #: Whether the import wrote anything (a dry run: would write).
    changed: bool = False
    #: A migration's records as read back (see ``labledger.bundles.migration``).
    reconciliation: Reconciliation | None = None

    @property
    def conflicts(self) -> list[ItemReport]:
        """Items that would overwrite a local change and were not forced."""
        return [item for item in self.items if item.conflict and not item.forced]

    def as_dict(self) -> dict[str, Any]:
        result = asdict(self)
        result["conflicts"] = [
            {"kind": i.kind, "key": i.key, "path": i.path, "message": i.conflict}
            for i in self.conflicts
        ]
        return result

    def summary(self) -> dict[str, Any]:
        """The compact account kept in the audit trail: what changed, not what stayed."""
        return {
            "items": [
                {
                    "kind": i.kind,
                    "key": i.key,
                    "action": i.action,
                    "version": i.version,
                    "forced": i.forced,
                }
                for i in self.items
                if i.action != "unchanged"
            ],
            "unchanged": sum(1 for i in self.items if i.action == "unchanged"),
            "records_created": [r.ref for r in self.records if r.action == "created"],
            **(
                {"migration": {"counts": self.reconciliation.counts}} if self.reconciliation else {}
            ),
        }

    def lines(self) -> list[str]:
        """The report as text for a terminal."""
        mode = "preview (dry run, nothing was changed)" if self.dry_run else "import"
        out = [f"Bundle {self.name} {self.version}, SHA-256 {self.sha256}: {mode}"]
        unchanged = [i for i in self.items if i.action == "unchanged"]
        for item in self.items:
            if item.action != "unchanged":
                out += _item_lines(item)
        if unchanged:
            out.append(f"  = unchanged: {count_of(len(unchanged), 'item')}")
        created = sum(1 for r in self.records if r.action == "created")
        if self.records:
            existing = len(self.records) - created
            out.append(
                f"  records: {created:,} {'to create' if self.dry_run else 'created'}, "
                f"{existing:,} already imported"
            )
        if self.reconciliation is not None:
            out += self.reconciliation.lines()
        out.append(self._outcome())
        return out

    def _outcome(self) -> str:
        if self.conflicts:
            return (
                f"{count_of(len(self.conflicts), 'conflict')}: the import would overwrite "
                "local changes and is refused unless forced (--force)."
            )
        if not self.changed:
            return "Nothing to change: the database already matches this bundle."
        return "The import would make these changes." if self.dry_run else "Imported."


def count_of(n: int, noun: str) -> str:
    """``count_of(2, "item")`` -> "2 items"."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _item_lines(item: ItemReport) -> list[str]:
    symbol = {"added": "+", "changed": "~", "kept": "="}.get(item.action, " ")
    head = f"{item.kind} {item.key}"
    if item.action == "added":
        what = "added" + (f" as version {item.version}" if item.version else "")
    elif item.action == "kept":
        what = "kept as changed here (the bundle's version of it did not change)"
    elif item.version and item.old_version:
        what = f"version {item.old_version} -> {item.version}"
    else:
        what = item.action
    if item.conflict:
        symbol = "!"
        what += f"; CONFLICT: {item.conflict}" + (" (overwritten: forced)" if item.forced else "")
    lines = [f"  {symbol} {head}: {what}"]
    grouped: dict[tuple[str, str], list[str]] = {}
    for change in item.changes:
        parts = change.path.split(".")
        if change.change in ("added", "removed") and len(parts) == 2 and not change.effect:
            grouped.setdefault((parts[0], change.change), []).append(parts[1])
        else:
            lines.append(f"      {_change_line(change)}")
    for (collection, verb), keys in grouped.items():
        lines.append(f"      {collection} {verb}: {', '.join(keys)}")
    return lines


def _change_line(change: Change) -> str:
    where = describe_path(change.path, change.change)
    if change.change == "changed":
        text = f"{where}: {_value(change.old)} -> {_value(change.new)}"
    else:
        text = f"{where} {change.change}"
    return f"{text}: {change.effect}" if change.effect else text


def describe_path(path: str, change: str = "changed") -> str:
    """``fields.code.max_length`` -> "field `code` max_length"."""
    parts = path.split(".")
    name = SINGULAR.get(parts[0])
    if name is None or len(parts) < 2:
        return path
    if change == "changed" and parts[1:] == ["order"]:
        return f"{name} order"
    rest = ".".join(parts[2:])
    return f"{name} `{parts[1]}`" + (f" {rest}" if rest else "")


def _value(value: Any) -> str:
    if value is None:
        return "(none)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= _VALUE_WIDTH else text[: _VALUE_WIDTH - 3] + "..."
