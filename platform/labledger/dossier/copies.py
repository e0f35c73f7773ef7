"""Records copied whole: fields as people read them, files, signatures, audit trail.

Field values are shown by the print templates' own code (``PrintContext``),
signatures are checked by the signature service and the content hash is the
one the audit trail proves the record by, so a dossier says exactly what the
record page, the printouts and ``audit verify`` say.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, or_, select

from labledger.audit.queries import event_label, event_view
from labledger.audit.results import record_result
from labledger.db.tables import attachment, audit_event
from labledger.dossier.model import (
    DossierAttachment,
    DossierChange,
    DossierEvent,
    DossierField,
    DossierRecord,
    DossierSignature,
)
from labledger.errors import NotFound
from labledger.identity.principal import Principal
from labledger.metadata.model import TypeModel
from labledger.metadata.spec.fields import AttachmentField, FieldSpec, TextField
from labledger.printing.context import Lookups, PrintContext
from labledger.records.origin import migration_notice
from labledger.workflows.model import workflow_model
from labledger.workflows.signatures import signatures_of, status_text

#: The change key that is the record's workflow state, shown with the state's label.
_STATE = "state"


class RecordCopier:
    """Copies of records for one reader, sharing the lookups of one dossier."""

    def __init__(self, conn: Connection, actor: Principal, now: datetime) -> None:
        self.conn = conn
        self.context = PrintContext(conn, actor, (), now)
        self._steps: dict[str, dict[str, str]] = {}
        self._states: dict[str, dict[str, str]] = {}

    def _workflow_labels(self, model: TypeModel) -> tuple[dict[str, str], dict[str, str]]:
        """The labels of the steps and states of ``model``'s workflow (none without one)."""
        name = model.workflow
        if not name:
            return {}, {}
        if name not in self._steps:
            try:
                workflow = workflow_model(self.conn, name)
            except NotFound:
                self._steps[name], self._states[name] = {}, {}
            else:
                self._steps[name] = {k: t.label for k, t in workflow.transition_specs.items()}
                self._states[name] = {k: s.label for k, s in workflow.state_specs.items()}
        return self._steps[name], self._states[name]

    def copy(self, rows: list[dict[str, Any]]) -> list[DossierRecord]:
        """Each record of ``rows`` (full record rows; read access checked by the caller)."""
        if not rows:
            return []
        printables = self.context.printable(rows)
        ids = [row["id"] for row in rows]
        events = _events_of(self.conn, ids)
        files = _attachments_of(self.conn, rows, [self.context.model(row) for row in rows])
        return [
            self._copy(row, printable, events.get(row["id"], []), files.get(row["id"], []))
            for row, printable in zip(rows, printables, strict=True)
        ]

    def _copy(
        self,
        row: dict[str, Any],
        printable: dict[str, Any],
        events: list[dict[str, Any]],
        files: list[DossierAttachment],
    ) -> DossierRecord:
        model = self.context.model(row)
        steps, states = self._workflow_labels(model)
        migration = printable["migration"]
        return DossierRecord(
            id=row["id"],
            type=row["type_key"],
            type_label=printable["type_label"],
            type_version=row["type_version"],
            number=row["number"],
            title=row["title"],
            state=row["state"],
            state_label=printable["state_label"],
            version=row["version"],
            created_at=row["created_at"],
            created_by=row["created_by"],
            updated_at=row["updated_at"],
            updated_by=row["updated_by"],
            content_hash=record_result(row),
            notices=[] if migration is None else [migration_notice(row["number"], migration)],
            fields=[
                DossierField(**{k: f[k] for k in DossierField.__struct_fields__})
                for f in printable["fields"]
            ],
            attachments=files,
            signatures=[
                DossierSignature(
                    printed_name=s["printed_name"],
                    signer=s["signer"],
                    signed_at=s["signed_at"],
                    meaning=s["meaning"],
                    transition=s["transition"],
                    transition_label=steps.get(s["transition"], s["transition"]),
                    record_version=s["record_version"],
                    content_hash=s["content_hash"],
                    status=s["status"],
                    status_text=status_text(s["status"]),
                )
                for s in signatures_of(self.conn, row)
            ],
            audit=_readable_events(self.conn, model, events, steps, states),
        )


def _events_of(conn: Connection, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Every audit event of each record, oldest first."""
    found: dict[int, list[dict[str, Any]]] = {}
    rows = conn.execute(
        select(audit_event).where(audit_event.c.record_id.in_(ids)).order_by(audit_event.c.seq)
    ).mappings()
    for row in rows:
        found.setdefault(row["record_id"], []).append(event_view(row))
    return found


def _readable_events(
    conn: Connection,
    model: TypeModel,
    events: list[dict[str, Any]],
    steps: dict[str, str],
    states: dict[str, str],
) -> list[DossierEvent]:
    """The events with their changes' old and new values shown as the fields show them."""
    values = [
        {key: change.get(side)}
        for event in events
        for key, change in (event["changes"] or {}).items()
        if isinstance(change, dict)
        for side in ("old", "new")
    ]
    lookups = Lookups(conn, values, [model] * len(values))

    def shown(key: str, value: Any) -> str:
        if key == _STATE:
            return "" if value is None else states.get(value, str(value))
        spec: FieldSpec = model.field_specs.get(key) or TextField(key=key, label=key)
        return lookups.display(spec, value)

    def label(key: str) -> str:
        if key == _STATE:
            return "State"
        spec = model.field_specs.get(key)
        return key if spec is None else spec.label

    return [
        DossierEvent(
            seq=event["seq"],
            occurred_at=event["occurred_at"],
            actor=event["actor"],
            action=event["action"],
            label=event_label(event, steps),
            changes=[
                DossierChange(
                    field=key,
                    label=label(key),
                    old=change.get("old"),
                    new=change.get("new"),
                    old_display=shown(key, change.get("old")),
                    new_display=shown(key, change.get("new")),
                )
                for key, change in (event["changes"] or {}).items()
                if isinstance(change, dict)
            ],
            reason=event["reason"],
            details=event["details"],
            hash=event["hash"],
        )
        for event in events
    ]


def _attachments_of(
    conn: Connection, rows: list[dict[str, Any]], models: list[TypeModel]
) -> dict[int, list[DossierAttachment]]:
    """The files each record holds in its attachment fields, and those it held earlier."""
    holders: dict[int, tuple[int, str]] = {}
    for row, model in zip(rows, models, strict=True):
        for key, spec in model.field_specs.items():
            value = row["data"].get(key)
            if isinstance(spec, AttachmentField) and isinstance(value, int):
                holders[value] = (row["id"], key)
    ids = [row["id"] for row in rows]
    found = conn.execute(
        select(
            attachment.c.id,
            attachment.c.record_id,
            attachment.c.filename,
            attachment.c.size,
            attachment.c.content_type,
            attachment.c.sha256,
        )
        .where(or_(attachment.c.record_id.in_(ids), attachment.c.id.in_(set(holders))))
        .order_by(attachment.c.id)
    ).mappings()
    result: dict[int, list[DossierAttachment]] = {}
    for file in found:
        owner, field = holders.get(file["id"], (file["record_id"], None))
        result.setdefault(owner, []).append(
            DossierAttachment(
                id=file["id"],
                field=field,
                filename=file["filename"],
                size=file["size"],
                content_type=file["content_type"],
                sha256=file["sha256"],
            )
        )
    return result
