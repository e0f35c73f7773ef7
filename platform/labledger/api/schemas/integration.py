"""Integration: the event feed, webhooks, import mappings and file imports."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar.params import Body

from labledger.api.schemas.base import JsonObject, RequestStruct, ResponseStruct
from labledger.limits import RowIdValue


class FeedEvent(ResponseStruct):
    """An outbox event, exactly as webhooks deliver it."""

    id: int
    kind: str
    type: str | None
    record_id: int | None
    audit_seq: int
    #: ISO 8601 in UTC.
    created_at: str
    payload: JsonObject


class EventPage(ResponseStruct):
    """Events after the cursor; send ``next`` back as ``after`` (also when ``more`` is false)."""

    items: list[FeedEvent]
    next: str
    more: bool


class EventFilter(ResponseStruct):
    """Which events a subscription receives (empty lists match everything)."""

    types: list[str]
    kinds: list[str]
    states: list[str]


class Subscription(ResponseStruct):
    """A webhook subscription, without its secret."""

    name: str
    url: str
    filter: EventFilter
    active: bool
    max_attempts: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class SubscriptionCreated(Subscription):
    """A new subscription with its signing secret, shown this once."""

    secret: str


class SubscriptionChanged(Subscription):
    """A changed subscription; ``secret`` only when a new one was set or generated."""

    secret: str | msgspec.UnsetType = msgspec.UNSET


class SubscriptionCounts(Subscription):
    """A subscription with its queue depth, dead and delivered counts."""

    queue: int
    dead: int
    delivered: int


class SubscriptionList(ResponseStruct):
    items: list[SubscriptionCounts]


class DeliveryAttempt(ResponseStruct):
    """One failed attempt: the HTTP status and start of the answer, or the network error."""

    delivery: int
    event_id: int
    attempted_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    response: str | None


class SubscriptionStatus(SubscriptionCounts):
    """The delivery monitor of one subscription."""

    last_success: datetime | None
    #: Outbox events not yet looked at for this subscription.
    backlog: int
    #: The latest failed attempts, newest first.
    failures: list[DeliveryAttempt]


class Delivery(ResponseStruct):
    id: int
    event_id: int
    #: pending, delivered or dead.
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


class DeliveryPage(ResponseStruct):
    """Deliveries newest first; ``next`` is the ``before`` of the next page."""

    items: list[Delivery]
    next: int | None


#: A subscription to create or change; the webhook service checks each member and
#: names every problem, so the body is taken as a JSON object.
SubscriptionBody = Annotated[
    JsonObject,
    Body(
        description="name, url, types, kinds, states (filters; empty lists match everything), "
        "active, max_attempts, secret; on a change also rotate_secret (true: generate one)"
    ),
]


class ReplayRequest(RequestStruct):
    """Which dead deliveries to send again: the listed ids, or all of them."""

    ids: list[RowIdValue] | None = None


class ReplayResult(ResponseStruct):
    replayed: int


class MappingSummary(ResponseStruct):
    key: str
    label: str | None
    #: The object type the mapping imports into.
    target: str
    format: str
    #: atomic (all rows or none) or row (good rows written, bad ones reported).
    mode: str
    version: int


class MappingList(ResponseStruct):
    items: list[MappingSummary]


class MappingVersion(ResponseStruct):
    version: int
    published_at: datetime
    published_by: str
    definition: JsonObject


class MappingHistory(ResponseStruct):
    items: list[MappingVersion]


class RowProblem(ResponseStruct):
    """One problem of one file row: its line, and the column and field where known."""

    line: int
    column: str | None
    field: str | None
    message: str


class RecordRef(ResponseStruct):
    id: int
    number: str


class ReportRow(ResponseStruct):
    line: int
    #: create, update, unchanged or error.
    action: str
    #: The record written, or the one the row updates.
    record: RecordRef | None
    data: JsonObject
    errors: list[RowProblem]


class ImportedFile(ResponseStruct):
    """A file put through a mapping: what both an import report and an import run name."""

    mapping: str
    mapping_version: int
    #: The object type the mapping writes.
    type: str
    file: str
    sha256: str
    size: int
    #: atomic (all rows or none) or row (good rows written, bad ones reported).
    mode: str


class ImportReport(ImportedFile):
    """What a file import did, or a dry run would do, row by row."""

    dry_run: bool
    applied: bool
    #: The id of the applied import (None: nothing was applied).
    import_id: int | None = msgspec.field(name="import")
    #: rows, and how many rows each action has.
    counts: dict[str, int]
    errors: list[RowProblem]
    rows: list[ReportRow]


class ImportRun(ImportedFile):
    """An applied import."""

    id: int
    actor: str
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, int]
    audit_seq: int | None


class ProducedRow(ResponseStruct):
    line: int
    action: str
    record: RecordRef


class ImportRunDetails(ImportRun):
    """An applied import with every row it produced and every row error."""

    produced: list[ProducedRow]
    errors: list[Any]


class ImportPage(ResponseStruct):
    """Imports newest first; ``next`` is the ``before`` of the next page."""

    items: list[ImportRun]
    next: int | None
