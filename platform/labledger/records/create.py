"""Creating records: one or a batch of new records of a type, checked, numbered and stored
with their references, attachments and audit events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from msgspec import UNSET
from sqlalchemy import Connection, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError

from labledger.audit.results import record_result
from labledger.audit.trail import AuditEntry, append
from labledger.db.tables import record
from labledger.db.txcache import transaction_cache
from labledger.db.types import utc_now
from labledger.errors import FieldError
from labledger.identity.principal import Principal
from labledger.metadata.model import TypeModel
from labledger.metadata.spec.fields import AttachmentField, ReferenceField
from labledger.records.checks import (
    TypeWrites,
    checked_data,
    checked_reason,
    fail_if_errors,
    unique_violation,
)
from labledger.records.numbering import reserve_numbers
from labledger.records.references import bind_attachments, has_references, write_references
from labledger.records.states import state_rules
from labledger.records.validation import identify_records
from labledger.records.views import outbox_payload, record_view

#: Built once: every create runs one of them.
_INSERT_RECORD = insert(record).returning(record.c.id)
_INSERT_RECORDS = insert(record).returning(record.c.id, sort_by_parameter_order=True)
_INSERT_RECORD_WITH_ID = insert(record)
#: Batches from this size on take their ids first on PostgreSQL (see _insert_records).
_PREPARED_FROM = 100
_NEXT_RECORD_IDS = select(func.nextval(func.pg_get_serial_sequence("record", "id"))).select_from(
    func.generate_series(1, bindparam("count"))
)


def _parent_number(conn: Connection, parent_id: int) -> str:
    """A record's number, which never changes: asked once per transaction."""
    numbers = transaction_cache(conn, "record_number")
    if parent_id not in numbers:
        numbers[parent_id] = conn.execute(
            select(record.c.number).where(record.c.id == parent_id)
        ).scalar_one()
    number: str = numbers[parent_id]
    return number


def _numbering_pattern(conn: Connection, model: TypeModel, data: dict[str, Any]) -> str:
    """The type's pattern, or its child pattern when the record has a parent.

    With ``child_numbering`` ``{"field": "parent", "pattern": "{parent}-A{##}"}``
    an aliquot of SMP-2026-00042 is numbered SMP-2026-00042-A01, counted per parent.
    """
    child = model.spec.child_numbering
    parent_id = None if child is UNSET else data.get(child.field)
    if child is UNSET or parent_id is None:
        return model.spec.numbering
    return child.pattern.replace("{parent}", _parent_number(conn, parent_id))


@dataclass(frozen=True)
class _Checked:
    """A new record that passed every check and waits to be stored."""

    data: dict[str, Any]
    pattern: str
    state: str | None
    reason: str | None
    audit_details: dict[str, Any] | None


class RecordBatch(TypeWrites):
    """New records of one type, checked one by one and stored together.

    Each ``add`` runs every check ``create_record`` runs and raises
    ``ValidationFailed`` for a bad item, which is then left out. ``store``
    writes the accepted items with a handful of statements whatever their
    number: one counter update per numbering scope, one multi-row insert,
    one for their references and one audit append. That is what keeps a
    transition creating ten results, or an import of a large file, fast, and
    it keeps a long transaction from updating the counter and chain-tip rows
    once per record (PostgreSQL slows down with every version of a row one
    transaction leaves behind).

    Checking before storing changes nothing a check can see: a record being
    created has no records pointing at it yet, and batch items cannot point at
    each other. Only values that must be unique, and attachments, which bind to
    one record, are compared across the batch as well as with the database.
    """

    permission = "create"

    def __init__(
        self,
        conn: Connection,
        actor: Principal,
        type_key: str,
        *,
        as_system: bool = False,
        **kw: bool,
    ) -> None:
        """``as_system``: the values are the system's (a workflow action's, a migration's),
        so they may fill system-set fields (see ``DataCheck``); ``kw`` as ``TypeWrites``."""
        super().__init__(conn, actor, type_key, **kw)
        self.as_system = as_system
        self.rules = state_rules(conn, self.model, None)
        self.initial_state = self.rules.initial_state
        self._checked: list[_Checked] = []
        self._claimed: set[tuple[str, Any]] = set()
        #: Records the checks read (by id): nothing is written between them.
        self._read: dict[int, dict[str, Any] | None] = {}

    def __len__(self) -> int:
        return len(self._checked)

    def prefetch(self, items: list[Any]) -> None:
        """Read every record the reference fields of ``items`` name, in one query."""
        references = [
            key for key, spec in self.model.field_specs.items() if isinstance(spec, ReferenceField)
        ]
        values = [
            value
            for data in items
            if isinstance(data, dict)
            for key in references
            for value in (data[key] if isinstance(data.get(key), list) else [data.get(key)])
        ]
        identify_records(self.conn, values, self._read)

    def add(
        self,
        data: Any,
        *,
        reason: str | None = None,
        state: str | None = None,
        audit_details: dict[str, Any] | None = None,
    ) -> None:
        """Check one new record; raises ``ValidationFailed`` (and keeps nothing) if it is bad."""
        model = self.model
        reason = checked_reason(model, reason, required=False)
        stored = checked_data(
            self.conn,
            self.actor,
            model,
            None,
            data,
            rules=self.rules,
            as_system=self.as_system,
            attachments_allowed=self.attachments_allowed,
            read=self._read,
        )
        claims = self._claims(stored)
        fail_if_errors(
            [FieldError(f"data.{key}", message) for key, message in self._clashes(claims)], model
        )
        self._claimed.update(claims)
        self._checked.append(
            _Checked(
                stored,
                _numbering_pattern(self.conn, model, stored),
                state or self.initial_state,
                reason,
                audit_details,
            )
        )

    def _claims(self, stored: dict[str, Any]) -> set[tuple[str, Any]]:
        """The unique values and attachments this record takes for itself."""
        return {
            (key, _hashable(stored[key]))
            for key, spec in self.model.field_specs.items()
            if (spec.unique or isinstance(spec, AttachmentField)) and stored.get(key) is not None
        }

    def _clashes(self, claims: set[tuple[str, Any]]) -> list[tuple[str, str]]:
        return [
            (
                key,
                "the attachment belongs to another record"
                if isinstance(self.model.field_specs[key], AttachmentField)
                else f"the value {value!r} is already used by another record",
            )
            for key, value in sorted(claims & self._claimed, key=repr)
        ]

    def store(self) -> list[dict[str, Any]]:
        """Write the checked records; returns their views in the order they were added."""
        checked, self._checked, self._claimed = self._checked, [], set()
        if not checked:
            return []
        conn, model, now = self.conn, self.model, utc_now()
        numbers = reserve_numbers(conn, [item.pattern for item in checked], now)
        rows: list[dict[str, Any]] = [
            {
                "type_key": model.key,
                "type_version": model.version,
                "number": number,
                "title": model.render_title(number, item.data),
                "state": item.state,
                "data": item.data,
                "version": 1,
                "created_at": now,
                "created_by": self.actor.username,
                "updated_at": now,
                "updated_by": self.actor.username,
            }
            for item, number in zip(checked, numbers, strict=True)
        ]
        try:
            _insert_records(conn, rows)
        except IntegrityError:  # a concurrent writer took a unique value; the transaction ends
            raise unique_violation(model) from None
        stored = [(row["id"], item.data) for row, item in zip(rows, checked, strict=True)]
        if has_references(model):
            write_references(conn, model, stored, replace=False)
        bind_attachments(conn, model, stored)
        views = [record_view(row) for row in rows]
        append(
            conn,
            [
                AuditEntry(
                    actor=self.actor.username,
                    action="record.create",
                    type_key=model.key,
                    record_id=view["id"],
                    record_number=view["number"],
                    changes=_creation_changes(item),
                    reason=item.reason,
                    config_version=model.version,
                    details=item.audit_details,
                    outbox_kind="record.created",
                    outbox_payload=outbox_payload(view),
                    result_hash=record_result(row),
                )
                for row, view, item in zip(rows, views, checked, strict=True)
            ],
        )
        return views


def _creation_changes(item: _Checked) -> dict[str, Any]:
    """Every stored value of a new record, and the state it starts in (when it has one)."""
    changes = {"state": {"old": None, "new": item.state}} if item.state is not None else {}
    changes.update({k: {"old": None, "new": v} for k, v in sorted(item.data.items())})
    return changes


def _insert_records(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` and set each one's ``id``.

    On PostgreSQL a large batch takes its ids from the sequence first and is
    then inserted as one prepared statement run per row: a multi-row ``INSERT
    ... RETURNING`` would be a statement text thousands of placeholders long
    that the driver parses afresh for every batch, which costs more than the
    insert. A small batch (a transition's ten results) is cheaper as one
    multi-row statement than as two round trips.
    """
    if len(rows) == 1:
        rows[0]["id"] = conn.execute(_INSERT_RECORD, rows[0]).scalar_one()
        return
    if conn.dialect.name == "postgresql" and len(rows) >= _PREPARED_FROM:
        ids = sorted(conn.execute(_NEXT_RECORD_IDS, {"count": len(rows)}).scalars())
        for row, record_id in zip(rows, ids, strict=True):
            row["id"] = record_id
        conn.execute(_INSERT_RECORD_WITH_ID, rows)
        return
    for row, record_id in zip(rows, conn.execute(_INSERT_RECORDS, rows).scalars(), strict=True):
        row["id"] = record_id


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def create_record(
    conn: Connection,
    actor: Principal,
    type_key: str,
    data: Any,
    *,
    reason: str | None = None,
    state: str | None = None,
    audit_details: dict[str, Any] | None = None,
    skip_permission: bool = False,
    as_system: bool = False,
) -> dict[str, Any]:
    """Validate ``data`` and store a new record of ``type_key``; returns its view.

    ``skip_permission`` is for records a workflow action creates: the admin who
    defined the action granted it, whatever the acting user's roles.
    ``as_system``: the values are the system's, not a person's (see ``RecordBatch``).
    """
    batch = RecordBatch(
        conn,
        actor,
        type_key,
        skip_permission=skip_permission,
        as_system=as_system,
    )
    batch.add(data, reason=reason, state=state, audit_details=audit_details)
    return batch.store()[0]
