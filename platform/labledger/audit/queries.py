"""Reading the audit trail: per record, and across the system with filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from labledger.db.tables import audit_event
from labledger.errors import FieldError, Forbidden, ValidationFailed
from labledger.identity.principal import READ_AUDIT, Principal
from labledger.metadata.types import readable_model
from labledger.records.service import load_row
from labledger.workflows.refusals import SIGN_REFUSED, TRANSITION_REFUSED

ACTION_LABELS = {"record.create": "Created", "record.update": "Changed"}
REFUSAL_LABELS = {TRANSITION_REFUSED: "Step refused", SIGN_REFUSED: "Signature refused"}


def event_view(row: Any) -> dict[str, Any]:
    return {
        "seq": row["seq"],
        "occurred_at": row["occurred_at"],
        "actor": row["actor"],
        "action": row["action"],
        "type": row["type_key"],
        "record_id": row["record_id"],
        "record_number": row["record_number"],
        "changes": row["changes"],
        "reason": row["reason"],
        "config_version": row["config_version"],
        "details": row["details"],
        "hash": row["hash"],
    }


def event_label(event: dict[str, Any], transitions: dict[str, str]) -> str:
    """What happened, in words: the step's label for workflow events, else the action's."""
    action: str = event["action"]
    details: dict[str, Any] = event["details"] or {}
    key = details.get("transition")
    step = "Transition" if key is None else transitions.get(key, key)
    if action == "record.transition":
        return step
    if action == "record.sign":
        return f"Signed: {details.get('meaning', '')}"
    if action in REFUSAL_LABELS:
        return f"{REFUSAL_LABELS[action]}: {step} ({details.get('message', '')})"
    return ACTION_LABELS.get(action, action)


def record_history(
    conn: Connection, actor: Principal, type_key: str, record_id: int
) -> list[dict[str, Any]]:
    """Every event of one record, oldest first (readers of the record may see it)."""
    readable_model(conn, actor, type_key)
    load_row(conn, type_key, record_id)
    rows = conn.execute(
        select(audit_event).where(audit_event.c.record_id == record_id).order_by(audit_event.c.seq)
    ).mappings()
    return [event_view(r) for r in rows]


@dataclass
class AuditFilter:
    actor: str | None = None
    type_key: str | None = None
    record_id: int | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: Show events with a sequence number below this one (paging, newest first).
    before_seq: int | None = None
    limit: int = 100


def parse_time(name: str, raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(
            "Bad time filter.", [FieldError(name, "use ISO 8601, e.g. 2026-05-01T00:00:00Z")]
        ) from None
    if moment.tzinfo is None:
        raise ValidationFailed(
            "Bad time filter.", [FieldError(name, "needs a time zone, e.g. Z or +02:00")]
        )
    return moment


def search_events(conn: Connection, actor: Principal, query: AuditFilter) -> dict[str, Any]:
    """System-wide trail, newest first: ``{"items": [...], "next": before_seq or None}``."""
    if not actor.has_permission(READ_AUDIT):
        raise Forbidden("The system-wide audit trail needs the 'read_audit' permission.")
    if not 1 <= query.limit <= 1000:
        raise ValidationFailed("Bad paging.", [FieldError("limit", "must be 1 to 1000")])
    conditions = []
    for column, value in (
        (audit_event.c.actor, query.actor),
        (audit_event.c.type_key, query.type_key),
        (audit_event.c.record_id, query.record_id),
        (audit_event.c.action, query.action),
    ):
        if value is not None:
            conditions.append(column == value)
    if query.since:
        conditions.append(audit_event.c.occurred_at >= query.since)
    if query.until:
        conditions.append(audit_event.c.occurred_at < query.until)
    if query.before_seq:
        conditions.append(audit_event.c.seq < query.before_seq)
    rows = (
        conn.execute(
            select(audit_event)
            .where(*conditions)
            .order_by(audit_event.c.seq.desc())
            .limit(query.limit + 1)
        )
        .mappings()
        .all()
    )
    items = [event_view(r) for r in rows[: query.limit]]
    more = len(rows) > query.limit
    return {"items": items, "next": items[-1]["seq"] if more else None}
