"""Configuration bundles: the exported document and the report of an import."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar.openapi.datastructures import ResponseSpec

from labledger.api.schemas.base import FieldProblem, JsonObject, ResponseStruct


class BundleDocument(ResponseStruct):
    """A configuration bundle (``metadata/bundle.schema.json`` is its full contract)."""

    format: Literal["labledger.bundle/1"]
    name: str
    version: str
    description: str | msgspec.UnsetType = msgspec.UNSET
    #: The approved change request a promotion bundle carries (``labledger changes export``).
    change_request: JsonObject | msgspec.UnsetType = msgspec.UNSET
    roles: list[JsonObject] | msgspec.UnsetType = msgspec.UNSET
    workflows: list[JsonObject] | msgspec.UnsetType = msgspec.UNSET
    types: list[JsonObject] | msgspec.UnsetType = msgspec.UNSET
    mappings: list[JsonObject] | msgspec.UnsetType = msgspec.UNSET
    print_templates: list[JsonObject] | msgspec.UnsetType = msgspec.UNSET
    dashboards: list[JsonObject] | msgspec.UnsetType = msgspec.UNSET
    records: list[JsonObject] | msgspec.UnsetType = msgspec.UNSET


class DefinitionChange(ResponseStruct):
    """One difference between the definition here and the bundle's."""

    #: added, removed or changed.
    change: str
    #: Where: ``fields.lot`` (an item), ``fields.code.max_length`` (an option), ``label``.
    path: str
    old: Any
    new: Any
    #: What the change means for existing records.
    effect: str | None
    records: int | None


class ItemReport(ResponseStruct):
    """What the import does to one role, workflow, type, mapping or print template."""

    kind: str
    key: str
    #: The item's JSON path in the bundle, e.g. ``types[3]``.
    path: str
    #: added, changed, unchanged, or kept (a local change the bundle does not touch).
    action: str
    old_version: int | None
    version: int | None
    #: Why applying the item would overwrite a local change (None: no conflict).
    conflict: str | None
    forced: bool
    changes: list[DefinitionChange]


class RecordReport(ResponseStruct):
    """A record the bundle carries: created, or imported before."""

    ref: str
    type: str
    #: created or existing.
    action: str
    id: int | None
    number: str | None


class Reconciliation(ResponseStruct):
    """A migration's records as read back: counts, content hashes, mismatches."""

    #: type -> state -> number of records, as stored.
    counts: dict[str, dict[str, int]]
    records: list[JsonObject]
    mismatches: list[FieldProblem]


class Conflict(ResponseStruct):
    """An item that would overwrite a local change and was not forced."""

    kind: str
    key: str
    path: str
    message: str


class BundleImportReport(ResponseStruct):
    """What an import did, or a dry run would do, item by item."""

    name: str
    version: str
    sha256: str
    dry_run: bool
    force: bool
    items: list[ItemReport]
    records: list[RecordReport]
    #: Whether the import wrote anything (a dry run: would write).
    changed: bool
    reconciliation: Reconciliation | None
    conflicts: list[Conflict]


#: How an endpoint that answers with a bundle file documents its body: as the bundle it is.
BUNDLE_FILE_RESPONSES = {
    200: ResponseSpec(
        BundleDocument, description="the bundle (a JSON file)", generate_examples=False
    )
}
