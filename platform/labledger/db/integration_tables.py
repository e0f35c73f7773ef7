"""Tables of the integration layer: webhook subscriptions and deliveries, import runs.

They live on the same ``metadata`` as the platform's other tables (migration
``0004`` creates them). Subscriptions are configuration (changes are
audited); deliveries and their attempts are operational state the worker
keeps; an import run remembers each applied file by its SHA-256 so that the
same file is never imported twice through the same mapping.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from labledger.db.tables import id_column, metadata, stamp_columns
from labledger.db.types import BigId, JsonDocument, UtcDateTime

webhook_subscription = Table(
    "webhook_subscription",
    metadata,
    id_column(),
    Column("name", String(64), nullable=False, unique=True),
    Column("url", String(2000), nullable=False),
    #: Filters: lists of type keys, outbox kinds and record states (empty: any).
    Column("types", JsonDocument, nullable=False),
    Column("kinds", JsonDocument, nullable=False),
    Column("states", JsonDocument, nullable=False),
    #: The HMAC key: kept readable because every delivery is signed with it.
    Column("secret", String(200), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    #: The last outbox event the dispatcher has looked at for this subscription.
    Column("last_event_id", BigId, nullable=False),
    *stamp_columns("created"),
    *stamp_columns("updated"),
)

webhook_delivery = Table(
    "webhook_delivery",
    metadata,
    id_column(),
    Column("subscription_id", BigId, ForeignKey("webhook_subscription.id"), nullable=False),
    Column("event_id", BigId, nullable=False),
    #: pending, delivered or dead.
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    #: A worker that claimed the delivery owns it until then (its claim token proves it).
    Column("claimed_until", UtcDateTime),
    Column("claim_token", String(32)),
    Column("last_attempt_at", UtcDateTime),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("delivered_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("subscription_id", "event_id"),
    Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
    Index("ix_webhook_delivery_subscription", "subscription_id", "status", "id"),
)

webhook_attempt = Table(
    "webhook_attempt",
    metadata,
    id_column(),
    Column("delivery_id", BigId, ForeignKey("webhook_delivery.id"), nullable=False),
    Column("attempted_at", UtcDateTime, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    #: The HTTP status, or None when no answer came (refused, timed out, not allowed).
    Column("status_code", Integer),
    Column("error", Text),
    #: The start of the answer's body, for the delivery monitor.
    Column("response", Text),
    Index("ix_webhook_attempt_delivery", "delivery_id", "id"),
)

import_run = Table(
    "import_run",
    metadata,
    id_column(),
    Column("mapping_key", String(64), nullable=False),
    Column("mapping_version", Integer, nullable=False),
    Column("target_type", String(64), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("size", BigId, nullable=False),
    Column("mode", String(16), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    #: Row counts: {"rows", "created", "updated", "unchanged", "failed"}.
    Column("counts", JsonDocument, nullable=False),
    #: Every produced row ([line, action, record id, number]) and every row error.
    Column("produced", JsonDocument, nullable=False),
    Column("errors", JsonDocument, nullable=False),
    #: The ``import.apply`` audit event that vouches for this run.
    Column("audit_seq", BigId),
    UniqueConstraint("mapping_key", "sha256"),
)
