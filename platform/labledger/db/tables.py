"""The platform's own tables (SQLAlchemy Core).

Record data lives in one generic ``record`` table as a JSON document, so an
admin adding or removing a field never runs DDL on record data. Alembic
migrations in ``migrations/`` create and evolve these tables; this module is
the description the services query through.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Sequence,
    SmallInteger,
    String,
    Table,
    Text,
    func,
)

from labledger.db.types import BigId, JsonDocument, UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def id_column() -> Column[Any]:
    """A table's own 64-bit key, numbered by the database."""
    return Column("id", BigId, primary_key=True, autoincrement=True)


def stamp_columns(event: str) -> tuple[Column[Any], Column[Any]]:
    """When and by whom (a username) a row was ``event``-ed: ``{event}_at``, ``{event}_by``.

    Every table that keeps who created, changed or published a row names the
    pair the same way, which is what the services and the audit trail expect.
    """
    return (
        Column(f"{event}_at", UtcDateTime, nullable=False),
        Column(f"{event}_by", String(64), nullable=False),
    )


# --- configuration: object types, workflows and other definitions, versioned ---

config_item = Table(
    "config_item",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("current_version", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    #: Where the item came from when it was imported from a bundle.
    Column("source_bundle", String(128)),
    Column("source_bundle_version", String(64)),
    #: Hash of the definition as imported; a different current hash means a local edit.
    Column("source_hash", String(64)),
)

config_version = Table(
    "config_version",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("body", JsonDocument, nullable=False),
    Column("body_hash", String(64), nullable=False),
    *stamp_columns("published"),
)

# --- change control: configuration changes proposed, signed and activated ---

change_request = Table(
    "change_request",
    metadata,
    id_column(),
    Column("title", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    #: draft, approved, scheduled, active or withdrawn (``changes.store.Status``).
    Column("status", String(16), nullable=False),
    #: Hash of what approvers sign: title, reason, origin and every item with its base.
    Column("content_hash", String(64), nullable=False),
    #: Where a promoted change came from (system, number, approvals, source hash).
    Column("origin", JsonDocument),
    #: Why the last reviewer sent it back to its author.
    Column("rejection", Text),
    Column("activate_at", UtcDateTime),
    Column("activated_at", UtcDateTime),
    Column("activated_by", String(64)),
    *stamp_columns("created"),
    *stamp_columns("updated"),
    Index("ix_change_request_status", "status", "id"),
)

change_request_item = Table(
    "change_request_item",
    metadata,
    Column("change_request_id", BigId, ForeignKey("change_request.id"), primary_key=True),
    #: A configuration kind (object_type, workflow, role ...) or ``bundle``: a whole import.
    Column("kind", String(32), primary_key=True),
    Column("key", String(128), primary_key=True),
    #: Order of the items as proposed (activation follows the kinds' order, then this).
    Column("position", Integer, nullable=False),
    #: The version active when the item was proposed (None: new, or a role or bundle).
    Column("base_version", Integer),
    #: Hash of the active definition it was proposed against (None: none existed).
    Column("base_hash", String(64)),
    Column("body", JsonDocument, nullable=False),
)

change_approval = Table(
    "change_approval",
    metadata,
    id_column(),
    Column("change_request_id", BigId, ForeignKey("change_request.id"), nullable=False),
    Column("signer", String(64), nullable=False),
    Column("printed_name", String(200), nullable=False),
    Column("meaning", String(200), nullable=False),
    Column("signed_at", UtcDateTime, nullable=False),
    #: The change request's content hash when it was signed: an edit after it voids it.
    Column("content_hash", String(64), nullable=False),
    Column("audit_seq", BigId, nullable=False),
    Index("ix_change_approval_request", "change_request_id", "id"),
)

change_control_setting = Table(
    "change_control_setting",
    metadata,
    #: Each change of the setting is a new row; the newest is in force.
    id_column(),
    Column("enabled", Boolean, nullable=False),
    Column("approvals_required", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    *stamp_columns("changed"),
)

# --- identity ---

role = Table(
    "role",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("label", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("permissions", JsonDocument, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

app_user = Table(
    "app_user",
    metadata,
    id_column(),
    Column("username", String(64), nullable=False, unique=True),
    Column("full_name", String(200), nullable=False),
    Column("email", String(320), nullable=False, default=""),
    Column("password_hash", String(200)),
    Column("active", Boolean, nullable=False, default=True),
    #: Set when an admin chose the password: the user must change it before signing.
    Column("must_change_password", Boolean, nullable=False, default=True),
    Column("failed_attempts", Integer, nullable=False, default=0),
    Column("locked_at", UtcDateTime),
    Column("password_changed_at", UtcDateTime),
    *stamp_columns("created"),
)

user_role = Table(
    "user_role",
    metadata,
    Column("user_id", BigId, ForeignKey("app_user.id"), primary_key=True),
    Column("role_key", String(64), ForeignKey("role.key"), primary_key=True),
)

api_token = Table(
    "api_token",
    metadata,
    id_column(),
    Column("user_id", BigId, ForeignKey("app_user.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    #: SHA-256 of the token: tokens are 256-bit random, so a fast hash is safe here.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
    #: When the token last authenticated a request, to within ``tokens.LAST_USE_MINUTES``.
    Column("last_used_at", UtcDateTime),
)

# --- records ---

record = Table(
    "record",
    metadata,
    id_column(),
    Column("type_key", String(64), nullable=False),
    Column("type_version", Integer, nullable=False),
    Column("number", String(100), nullable=False, unique=True),
    Column("title", String(500), nullable=False, default=""),
    Column("state", String(64)),
    Column("data", JsonDocument, nullable=False),
    #: Optimistic concurrency: an update names the version it saw.
    Column("version", Integer, nullable=False),
    *stamp_columns("created"),
    *stamp_columns("updated"),
    Index("ix_record_type_created", "type_key", "created_at", "id"),
    #: Counts per state, and a state's records oldest first (a work queue's pages).
    Index("ix_record_type_state_created", "type_key", "state", "created_at", "id"),
)


#: Indexes on (type_key, lower(number or title)) for prefix search (``records.search``).
#: Migration 0009 builds them, on PostgreSQL in the "C" collation (where strings sharing a
#: prefix sort together): schema comparison reflects neither an index's collation nor,
#: on SQLite, an expression index, so they are declared as PostgreSQL reports them, and
#: tests/test_record_search.py checks the collation.
for _name, _column in (("ix_record_number_prefix", "number"), ("ix_record_title_prefix", "title")):
    Index(_name, record.c.type_key, func.lower(record.c[_column])).ddl_if(dialect="postgresql")

number_counter = Table(
    "number_counter",
    metadata,
    #: The numbering pattern with its date parts filled in, e.g. "SMP-2026-{#####}".
    Column("scope", String(200), primary_key=True),
    Column("last_value", Integer, nullable=False),
)

record_reference = Table(
    "record_reference",
    metadata,
    Column("source_id", BigId, ForeignKey("record.id"), primary_key=True),
    Column("field_key", String(64), primary_key=True),
    Column("target_id", BigId, ForeignKey("record.id"), primary_key=True),
    Index("ix_record_reference_target", "target_id", "field_key"),
)

attachment = Table(
    "attachment",
    metadata,
    id_column(),
    Column("sha256", String(64), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(200), nullable=False),
    Column("size", Integer, nullable=False),
    Column("content", LargeBinary, nullable=False),
    #: The record that first used the attachment; read access follows that record.
    Column("record_id", BigId, ForeignKey("record.id"), index=True),
    *stamp_columns("created"),
)

# --- audit trail and outbox ---

audit_head = Table(
    "audit_head",
    metadata,
    #: One row per lane of the chain (id = the lane, 1 to ``audit.trail.LANES``)
    #: holding the lane's tip: its last position and hash. A writer locks the
    #: row of its lane, which keeps each lane linear while writers of other
    #: lanes go on.
    Column("id", Integer, primary_key=True),
    Column("seq", BigId, nullable=False),
    Column("hash", String(64), nullable=False),
)

#: Global sequence numbers of audit events on PostgreSQL, where lanes append side
#: by side (SQLite writes one transaction at a time and counts on).
audit_event_seq = Sequence("audit_event_seq", metadata=metadata)

audit_event = Table(
    "audit_event",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("type_key", String(64)),
    Column("record_id", BigId),
    Column("record_number", String(100)),
    Column("changes", JsonDocument),
    Column("reason", Text),
    Column("config_version", Integer),
    Column("details", JsonDocument),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    #: The canonical form that hashed the event (None: version 1, before it was recorded).
    Column("hash_version", Integer),
    #: Hash of what the event produced (a record row, a signature, a definition),
    #: recomputed from the live rows by ``audit verify``.
    Column("result_hash", String(64)),
    #: The event's lane and its position in it (None: written before lanes, when
    #: the one chain was lane 1 and the position the sequence number).
    Column("lane", SmallInteger),
    Column("lane_seq", BigId),
    Index("ux_audit_event_lane", "lane", "lane_seq", unique=True),
    Index("ix_audit_event_record", "record_id", "seq"),
    Index("ix_audit_event_actor", "actor", "seq"),
    Index("ix_audit_event_type", "type_key", "seq"),
    Index("ix_audit_event_time", "occurred_at"),
)

outbox_event = Table(
    "outbox_event",
    metadata,
    id_column(),
    Column("created_at", UtcDateTime, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("type_key", String(64)),
    Column("record_id", BigId),
    Column("audit_seq", BigId, nullable=False),
    Column("payload", JsonDocument, nullable=False),
    #: Its event's lane and position there (None: written before lanes): the feed
    #: takes each lane's events in that order (see ``integration.positions``).
    Column("lane", SmallInteger),
    Column("lane_seq", BigId),
    Index("ix_outbox_event_lane", "lane", "lane_seq"),
)

#: The feed's order: the position each outbox event got when it was first seen
#: committed. Events of different lanes commit in any order; a position is
#: handed out once every event before it in its lane has one.
outbox_position = Table(
    "outbox_position",
    metadata,
    Column("position", BigId, primary_key=True, autoincrement=False),
    Column("outbox_id", BigId, ForeignKey("outbox_event.id"), nullable=False, unique=True),
)

#: How far each lane's outbox events have positions (the last lane_seq given one).
outbox_lane = Table(
    "outbox_lane",
    metadata,
    Column("lane", Integer, primary_key=True, autoincrement=False),
    Column("lane_seq", BigId, nullable=False),
)

# --- electronic signatures ---

signature = Table(
    "signature",
    metadata,
    id_column(),
    Column("record_id", BigId, ForeignKey("record.id"), nullable=False),
    Column("type_key", String(64), nullable=False),
    #: The record version the signature created (the content signed is that version's data).
    Column("record_version", Integer, nullable=False),
    Column("transition", String(64), nullable=False),
    Column("meaning", String(200), nullable=False),
    Column("signer", String(64), nullable=False),
    Column("printed_name", String(200), nullable=False),
    Column("signed_at", UtcDateTime, nullable=False),
    #: SHA-256 of the canonical signed content (record id, type, number, data).
    Column("content_hash", String(64), nullable=False),
    Column("content", JsonDocument, nullable=False),
    #: The audit event that records this signature; verification cross-checks it.
    Column("audit_seq", BigId, nullable=False),
    Index("ix_signature_record", "record_id", "id"),
)

# --- browser sessions and instance settings ---

web_session = Table(
    "web_session",
    metadata,
    #: SHA-256 of the session cookie: a stolen database holds no usable session.
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", BigId, ForeignKey("app_user.id"), nullable=False, index=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    #: Set once the user has signed with username and password in this session;
    #: later signatures in the same session ask for the password only.
    Column("signed_in_session", Boolean, nullable=False, default=False),
    Column("ended_at", UtcDateTime),
)

instance_setting = Table(
    "instance_setting",
    metadata,
    #: Values every worker process must share, such as the CSRF signing secret.
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

rate_limit = Table(
    "rate_limit",
    metadata,
    #: What is counted and for whom, e.g. ``sign-in:address:192.0.2.7``.
    Column("key", String(200), primary_key=True),
    #: When the current counting window began; an older one starts afresh.
    Column("window_start", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
)
