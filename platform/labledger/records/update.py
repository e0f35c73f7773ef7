"""Updating records: the fields given, at the version the client saw, with the reason and
audit event the change needs; one record, or a batch of them written together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from labledger.audit.results import record_result
from labledger.audit.trail import AuditEntry, append
from labledger.db.jsonfields import type_key_literal
from labledger.db.membership import one_of
from labledger.db.tables import record
from labledger.db.types import utc_now
from labledger.errors import Conflict
from labledger.identity.principal import Principal
from labledger.metadata.spec.fields import ReferenceField
from labledger.records.checks import TypeWrites, checked_data, checked_reason, unique_violation
from labledger.records.references import bind_attachments, write_references
from labledger.records.states import StateRules, state_rules
from labledger.records.views import load_row, outbox_payload, record_view

#: The columns an update writes.
_WRITTEN = ("data", "title", "type_version", "version", "updated_at", "updated_by")
#: Built once: one statement for one record or, run per row, for a whole batch.
_UPDATE_AT_VERSION = (
    update(record)
    .where(record.c.id == bindparam("at_id"), record.c.version == bindparam("at_version"))
    .values({column: bindparam(column) for column in _WRITTEN})
)


@dataclass
class _Change:
    """A checked change waiting to be written."""

    current: dict[str, Any]
    values: dict[str, Any]
    changes: dict[str, Any]
    reason: str | None
    action: str
    audit_details: dict[str, Any] | None


class RecordChanges(TypeWrites):
    """Changes to existing records of one type, checked one by one and written together.

    ``add`` runs every check ``update_record`` runs and raises for a bad change
    (a stale version, a bad field, a missing reason), which is then left out.
    ``store`` writes the accepted changes with a handful of statements however
    many there are: one update run per row, the reference rows of changes that
    set a reference, and one audit append. That keeps an import updating
    100,000 records from paying a round trip per record.

    The checks read the database as it was before the batch: a batch must not
    hold two changes to one record (an import refuses a file naming a record
    twice), and a unique value one change frees cannot be taken by another in
    the same batch.
    """

    permission = "edit"

    def __init__(self, conn: Connection, actor: Principal, type_key: str, **kw: bool) -> None:
        """``kw``: see ``TypeWrites``."""
        super().__init__(conn, actor, type_key, **kw)
        self._rules: dict[str | None, StateRules] = {}
        self._pending: list[_Change] = []

    def __len__(self) -> int:
        return len(self._pending)

    def versions(self, record_ids: Iterable[int]) -> dict[int, int]:
        """The stored versions of ``record_ids`` (one query, no data read): a caller that
        read the rows earlier learns which of them have changed since."""
        query = select(record.c.id, record.c.version).where(
            record.c.type_key == type_key_literal(self.model.key),
            one_of(self.conn.dialect.name, record.c.id, sorted(set(record_ids))),
        )
        return {row.id: row.version for row in self.conn.execute(query)}

    def add(
        self,
        current: dict[str, Any],
        data: Any,
        *,
        expected_version: int,
        reason: str | None = None,
        action: str = "record.update",
        audit_details: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Check a change to ``current`` (the stored row) made by a client that saw
        ``expected_version``. Returns the record's view when the change alters nothing
        (nothing will be written), None when it waits for ``store``."""
        model = self.model
        if current["version"] != expected_version:
            raise _stale(current)
        state = current["state"]
        if state not in self._rules:
            self._rules[state] = state_rules(self.conn, model, state)
        stored = checked_data(
            self.conn,
            self.actor,
            model,
            current,
            data,
            rules=self._rules[state],
            attachments_allowed=self.attachments_allowed,
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
            "updated_by": self.actor.username,
        }
        self._pending.append(_Change(current, values, changes, reason, action, audit_details))
        return None

    def store(self) -> list[dict[str, Any]]:
        """Write the changes waiting; returns the records' views in the order they were added."""
        pending, self._pending = self._pending, []
        if not pending:
            return []
        conn, model = self.conn, self.model
        params = [
            {"at_id": c.current["id"], "at_version": c.current["version"], **c.values}
            for c in pending
        ]
        try:
            updated = conn.execute(_UPDATE_AT_VERSION, params).rowcount
        except IntegrityError:  # a concurrent writer took a unique value; the transaction ends
            raise unique_violation(model) from None
        if updated != len(pending):
            raise _stale(_first_changed(conn, model.key, pending))
        linked = [
            (c.current["id"], c.values["data"])
            for c in pending
            if any(isinstance(model.field_specs.get(k), ReferenceField) for k in c.changes)
        ]
        if linked:
            write_references(conn, model, linked, replace=True)
        bind_attachments(conn, model, [(c.current["id"], c.values["data"]) for c in pending])
        rows = [{**c.current, **c.values} for c in pending]
        views = [record_view(row) for row in rows]
        append(
            conn,
            [
                AuditEntry(
                    actor=self.actor.username,
                    action=c.action,
                    type_key=model.key,
                    record_id=c.current["id"],
                    record_number=c.current["number"],
                    changes=c.changes,
                    reason=c.reason,
                    config_version=model.version,
                    details=c.audit_details,
                    outbox_kind="record.updated",
                    outbox_payload=outbox_payload(view),
                    result_hash=record_result(row),
                )
                for c, row, view in zip(pending, rows, views, strict=True)
            ],
        )
        return views


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
    changes = RecordChanges(
        conn,
        actor,
        type_key,
        skip_permission=skip_permission,
        attachments_allowed=attachments_allowed,
    )
    unchanged = changes.add(
        load_row(conn, type_key, record_id),
        data,
        expected_version=expected_version,
        reason=reason,
        action=action,
        audit_details=audit_details,
    )
    return unchanged if unchanged is not None else changes.store()[0]


def _changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    return {
        key: {"old": old.get(key), "new": new.get(key)}
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    }


def _first_changed(conn: Connection, type_key: str, pending: list[_Change]) -> dict[str, Any]:
    """The first record of ``pending`` someone else changed before ``store`` wrote it,
    as it is now (a single change is that record)."""
    for change in pending:
        row = load_row(conn, type_key, change.current["id"])
        if {column: row[column] for column in _WRITTEN} != change.values:
            return row
    return load_row(conn, type_key, pending[0].current["id"])


def _stale(current: dict[str, Any]) -> Conflict:
    return Conflict(
        f"Record {current['number']} was changed by someone else (it is now at version "
        f"{current['version']}). Reload it and apply your change again.",
        extra={"current_version": current["version"], "current": record_view(current)},
    )
