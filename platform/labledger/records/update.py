"""Updating a record: the fields given, at the version the client saw, with the reason and
audit event the change needs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, update
from sqlalchemy.exc import IntegrityError

from labledger.audit.results import record_result
from labledger.audit.trail import AuditEntry, append
from labledger.db.tables import record
from labledger.db.types import utc_now
from labledger.errors import Conflict, Forbidden
from labledger.identity.principal import Principal
from labledger.metadata.spec.fields import ReferenceField
from labledger.metadata.types import type_model
from labledger.records.checks import checked_data, checked_reason, unique_violation
from labledger.records.references import bind_attachments, write_references
from labledger.records.states import state_rules
from labledger.records.views import load_row, outbox_payload, record_view


def update_record(
    conn: Connection,
    actor: Principal,
    type_key: str,
    record_id: int,
    data: Any,
    *,
    expected_version: int,
    reason: str | None = None,
    action: str = "record.update",
    audit_details: dict[str, Any] | None = None,
    skip_permission: bool = False,
    attachments_allowed: bool = True,
) -> dict[str, Any]:
    """Apply the field values in ``data`` to a record the client saw at ``expected_version``.

    Only the fields given change; ``null`` clears an optional field. A change
    that alters nothing returns the record as it is, with no new version and
    no audit entry. ``attachments_allowed`` False refuses every attachment
    (see ``DataCheck``).
    """
    model = type_model(conn, type_key)
    if not skip_permission and not model.allows(actor, "edit"):
        raise Forbidden(f"You may not edit {model.spec.plural}.")
    current = load_row(conn, type_key, record_id)
    if current["version"] != expected_version:
        raise _stale(current)
    stored = checked_data(
        conn,
        actor,
        model,
        current,
        data,
        rules=state_rules(conn, model, current["state"]),
        attachments_allowed=attachments_allowed,
    )
    changes = _changes(current["data"], stored)
    if not changes:
        return record_view(current)
    reason = checked_reason(model, reason, required=model.require_reason)
    values = {
        "data": stored,
        "title": model.render_title(current["number"], stored),
        "type_version": model.version,
        "version": expected_version + 1,
        "updated_at": utc_now(),
        "updated_by": actor.username,
    }
    try:
        updated = conn.execute(
            update(record)
            .where(record.c.id == record_id, record.c.version == expected_version)
            .values(values)
        ).rowcount
    except IntegrityError:  # a concurrent writer took a unique value; the transaction ends
        raise unique_violation(model) from None
    if updated != 1:
        raise _stale(load_row(conn, type_key, record_id))
    if any(isinstance(model.field_specs.get(k), ReferenceField) for k in changes):
        write_references(conn, model, [(record_id, stored)], replace=True)
    bind_attachments(conn, model, [(record_id, stored)])
    new_row = {**current, **values}
    view = record_view(new_row)
    append(
        conn,
        [
            AuditEntry(
                actor=actor.username,
                action=action,
                type_key=model.key,
                record_id=record_id,
                record_number=current["number"],
                changes=changes,
                reason=reason,
                config_version=model.version,
                details=audit_details,
                outbox_kind="record.updated",
                outbox_payload=outbox_payload(view),
                result_hash=record_result(new_row),
            )
        ],
    )
    return view


def _changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    return {
        key: {"old": old.get(key), "new": new.get(key)}
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    }


def _stale(current: dict[str, Any]) -> Conflict:
    return Conflict(
        f"Record {current['number']} was changed by someone else (it is now at version "
        f"{current['version']}). Reload it and apply your change again.",
        extra={"current_version": current["version"], "current": record_view(current)},
    )
