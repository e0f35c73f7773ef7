"""Records: what a client sends to create or change one, and the record it gets back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from labledger.api.schemas.base import JsonObject, RequestStruct, ResponseStruct


class RecordWrite(RequestStruct):
    """Create or update a record: field values and, where needed, the reason for change."""

    data: JsonObject
    reason: str | None = None


class RecordView(ResponseStruct):
    """A record: its envelope is fixed, ``data`` holds the fields its type defines."""

    id: int
    type: str
    type_version: int
    number: str
    title: str
    #: None for a type without a workflow.
    state: str | None
    #: Send it back as ``If-Match`` to update the record (also the ETag).
    version: int
    data: JsonObject
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class RecordPage(ResponseStruct):
    """One page of records; ``next`` is the cursor of the next page (None: last page)."""

    items: list[RecordView]
    next: str | None


class AuditEvent(ResponseStruct):
    """One event of the hash-chained audit trail."""

    seq: int
    occurred_at: datetime
    actor: str
    action: str
    type: str | None
    record_id: int | None
    record_number: str | None
    #: Field changes as ``{field: {"old": ..., "new": ...}}`` where the action changed data.
    changes: Any
    reason: str | None
    config_version: int | None
    details: Any
    hash: str


class RecordHistory(ResponseStruct):
    """Every event of one record, oldest first."""

    items: list[AuditEvent]
