"""What a dossier holds: typed, so the API documents it and the PDF reads the same data.

Every struct is built once by the service (``dossier.assemble``) and then
encoded as JSON or rendered as HTML/PDF, so the three outputs cannot differ.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class Struct(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The base of the dossier's parts: unknown members are refused when read back."""


class DossierField(Struct):
    """One field of the record, as stored and as shown to people."""

    key: str
    label: str
    type: str
    #: The field's unit, or empty.
    unit: str
    section: str | None
    #: The stored value, as ``GET /api/v1/records/{type}/{id}`` gives it in ``data``.
    value: Any
    #: What people read: choice labels, the number of a referenced record, decimals
    #: with their places, times with their zone (as record pages and printouts show it).
    display: str
    #: A computed yes/no at its alarm value, such as an out-of-specification flag.
    flag: bool
    #: Changed after its first entry (EU Annex 11 §8.2); its history is in ``changed_in``.
    modified: bool
    #: The audit events (``seq``) that changed the value after its first entry.
    changed_in: list[int]


class DossierAttachment(Struct):
    """A file attached to the record (never its content): what it is, and its fingerprint."""

    id: int
    #: The attachment field that holds it now; None for a file the record held earlier.
    field: str | None
    filename: str
    size: int
    content_type: str
    sha256: str


class DossierSignature(Struct):
    """An electronic signature's manifest (21 CFR 11.50) and whether it still holds."""

    printed_name: str
    signer: str
    #: UTC, with its zone.
    signed_at: datetime
    meaning: str
    #: The workflow step signed: its key and label.
    transition: str
    transition_label: str
    record_version: int
    #: SHA-256 of the content signed.
    content_hash: str
    #: current, earlier_version (the record changed since) or invalid.
    status: str
    status_text: str


class DossierChange(Struct):
    """One field changed by an audit event: old and new, stored and shown."""

    field: str
    label: str
    old: Any
    new: Any
    old_display: str
    new_display: str


class DossierEvent(Struct):
    """One event of the record's audit trail."""

    seq: int
    occurred_at: datetime
    actor: str
    action: str
    #: What happened, in words (the step's label for workflow events).
    label: str
    changes: list[DossierChange]
    reason: str | None
    details: Any
    hash: str


class DossierRecord(Struct):
    """A record: its envelope as the records API gives it, its fields, files, signatures
    and audit trail, and the hash of its content."""

    id: int
    type: str
    type_label: str
    type_version: int
    number: str
    title: str
    state: str | None
    state_label: str
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    #: The hash the audit trail proves this record by (its last event's result hash).
    content_hash: str
    #: Why the record is marked, whatever the fields say (a migration from another system).
    notices: list[str]
    fields: list[DossierField]
    attachments: list[DossierAttachment]
    signatures: list[DossierSignature]
    audit: list[DossierEvent]


class DossierRelated(Struct):
    """A record related to the dossier's record, and how."""

    #: ``references``: ``of`` points at it through ``field``;
    #: ``referenced_by``: it points at ``of`` through ``field``.
    relation: str
    #: The number of the record it is related to (the dossier's record at depth 1).
    of: str
    field: str
    field_label: str
    depth: int
    record: DossierRecord


class DossierWithheld(Struct):
    """Related records the reader may not read: named by kind and count, never shown."""

    relation: str
    of: str
    type: str
    field: str
    count: int
    reason: str


class Dossier(Struct):
    """A complete, human-readable copy of one record, for one reader, at one moment."""

    record: DossierRecord
    related: list[DossierRelated]
    withheld: list[DossierWithheld]
    #: Related records found beyond the limit and not shown (never silently: counted).
    not_shown: int
    depth: int
    made_at: datetime
    made_by: str
    made_by_name: str
    platform_version: str
    #: SHA-256 over every configuration item in force (kind, key, version, definition hash).
    configuration_hash: str
    #: The version of the record's type definition in force when the dossier was made.
    type_version: int
