"""The transition write: state change, record row, references, audit events and signature.

A transition and everything it causes (field updates, created records,
transitions of referenced records, its signature and all audit events)
commit in the caller's transaction or not at all. The record row is locked
first (``workflows.step``), so two transitions racing from the same state
serialise: the second finds the state moved on and gets a conflict.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, update

from labledger.audit.results import record_result, signature_result
from labledger.audit.trail import AuditEntry, append
from labledger.canonical import iso_utc
from labledger.db.tables import record
from labledger.db.types import utc_now
from labledger.errors import Conflict, Forbidden, NotFound
from labledger.identity.principal import Principal
from labledger.metadata.model import TypeModel
from labledger.metadata.spec import TransitionSpec
from labledger.metadata.spec.fields import ReferenceField
from labledger.metadata.spec.workflow import TransitionReferencedAction
from labledger.metadata.types import readable_model
from labledger.records.references import bind_attachments, write_references
from labledger.records.validation import is_empty
from labledger.records.views import record_view
from labledger.workflows.actions import run_actions
from labledger.workflows.checks import FIELDS, Blocker, blockers, raise_for
from labledger.workflows.evaluation import confirmation_asked
from labledger.workflows.refusals import BLOCKED_BY
from labledger.workflows.signatures import SIGN_ACTION, add_signature, signature_row
from labledger.workflows.step import StepContext, lock_step_targets, step_context

#: How deep automatic transitions of referenced records may chain.
MAX_CHAIN = 5
#: The record columns a step writes.
_STEP_COLUMNS = ("state", "data", "version", "title", "type_version", "updated_at", "updated_by")


def _refuse_stale(row: dict[str, Any], transition: TransitionSpec, expected: int | None) -> None:
    """A conflict when the record moved on since the caller saw it, or is not where the step
    starts."""
    if expected is not None and row["version"] != expected:
        raise Conflict(
            f"Record {row['number']} changed since you loaded it (now version {row['version']}).",
            extra={
                "current_version": row["version"],
                "current": record_view(row),
                BLOCKED_BY: ["version"],
            },
        )
    if row["state"] not in transition.from_:
        raise Conflict(
            f"Record {row['number']} is in state '{row['state']}'; "
            f"'{transition.label}' starts from {', '.join(transition.from_)}.",
            extra={
                "current_version": row["version"],
                "current": record_view(row),
                BLOCKED_BY: ["state"],
            },
        )


def _transition_entry(
    ctx: StepContext,
    transition_key: str,
    new_row: dict[str, Any],
    reason: str | None,
    automatic: bool,
    confirmed: dict[str, str] | None,
) -> AuditEntry:
    """The audit event of the step itself: the state change and every changed field, and
    what the person confirmed with which justification where the step asked."""
    row, data = ctx.row, new_row["data"]
    changes = {"state": {"old": row["state"], "new": new_row["state"]}}
    changes.update(
        {
            k: {"old": row["data"].get(k), "new": data.get(k)}
            for k in sorted(set(row["data"]) | set(data))
            if row["data"].get(k) != data.get(k)
        }
    )
    return AuditEntry(
        actor=ctx.actor.username,
        action="record.transition",
        type_key=ctx.model.key,
        record_id=row["id"],
        record_number=row["number"],
        changes=changes,
        reason=reason,
        config_version=ctx.model.version,
        details={
            "transition": transition_key,
            "workflow": ctx.workflow.key,
            "workflow_version": ctx.workflow.version,
            "automatic": automatic,
            **({"confirmed": confirmed} if confirmed else {}),
        },
        outbox_kind="record.transitioned",
        outbox_payload={
            "id": row["id"],
            "number": row["number"],
            "transition": transition_key,
            "from": row["state"],
            "to": new_row["state"],
            "version": new_row["version"],
        },
        result_hash=record_result(new_row),
    )


def _signature_entry(
    ctx: StepContext,
    signer: Principal,
    sig: dict[str, Any],
    transition_key: str,
    meaning: str,
    reason: str | None,
) -> AuditEntry:
    """The audit event of the electronic signature the step carries."""
    row = ctx.row
    return AuditEntry(
        actor=signer.username,
        action=SIGN_ACTION,
        type_key=ctx.model.key,
        record_id=row["id"],
        record_number=row["number"],
        reason=reason,
        config_version=ctx.model.version,
        details={
            "transition": transition_key,
            "meaning": meaning,
            "signer": signer.username,
            "printed_name": signer.full_name,
            "record_version": sig["record_version"],
            "content_hash": sig["content_hash"],
            "signed_at": iso_utc(sig["signed_at"]),
        },
        outbox_kind="record.signed",
        outbox_payload={
            "id": row["id"],
            "number": row["number"],
            "meaning": meaning,
            "signer": signer.username,
        },
        result_hash=signature_result(sig),
    )


def execute_transition(
    conn: Connection,
    actor: Principal,
    type_key: str,
    record_id: int,
    transition_key: str,
    *,
    reason: str | None = None,
    justification: str | None = None,
    expected_version: int | None = None,
    signer: Principal | None = None,
    automatic: bool = False,
    depth: int = 0,
) -> dict[str, Any]:
    """Run a transition inside the caller's transaction; returns the record view.

    ``justification`` answers the confirmation the step asks for when its
    condition holds (``confirm`` in the workflow); without one, such a step is
    refused."""
    if not automatic:
        readable_model(conn, actor, type_key)
    ctx = step_context(conn, actor, type_key, record_id, lock=True)
    transition = ctx.workflow.transition_specs.get(transition_key)
    if transition is None:
        raise NotFound(f"The workflow '{ctx.workflow.key}' has no transition '{transition_key}'.")
    row = ctx.row
    _refuse_stale(row, transition, expected_version)
    raise_for(
        blockers(
            ctx, transition, row["data"], reason, justification=justification, automatic=automatic
        )
    )
    confirmed = _confirmed(ctx, transition, row["data"], justification)
    meaning = transition.signature_meaning
    if meaning and signer is None:
        raise Forbidden(f"'{transition.label}' needs your electronic signature ({meaning}).")
    lock_step_targets(ctx, transition)
    data = run_actions(ctx, transition, row["data"])
    missing = [k for k in ctx.workflow.required_fields(transition.to) if is_empty(data.get(k))]
    if missing:
        raise_for([Blocker(FIELDS, f"Fill in first: {', '.join(missing)}.", tuple(missing))])
    new_row = {
        **row,
        "state": transition.to,
        "data": data,
        "version": row["version"] + 1,
        "title": ctx.model.render_title(row["number"], data),
        "type_version": ctx.model.version,
        "updated_at": utc_now(),
        "updated_by": actor.username,
    }
    changed = conn.execute(
        update(record)
        .where(record.c.id == record_id, record.c.version == row["version"])
        .values({k: new_row[k] for k in _STEP_COLUMNS})
    ).rowcount
    if changed != 1:
        raise Conflict(f"Record {row['number']} changed while the step ran; try again.")
    # Links set by the step (set actions, link fields) must be visible to
    # count_referencing and "referenced by" lists at once.
    if _links_may_change(ctx.model, row, data):
        write_references(conn, ctx.model, [(record_id, data)], replace=True)
    bind_attachments(conn, ctx.model, [(record_id, data)])
    reason = (reason or "").strip() or None
    entries = [_transition_entry(ctx, transition_key, new_row, reason, automatic, confirmed)]
    sig = None
    if meaning and signer is not None:
        sig = signature_row(signer, new_row, transition=transition_key, meaning=meaning)
        entries.append(_signature_entry(ctx, signer, sig, transition_key, meaning, reason))
    seqs = append(conn, entries)
    if sig is not None:
        add_signature(conn, sig, audit_seq=seqs[-1])
    _run_referenced_transitions(ctx, transition, data, depth)
    return record_view(new_row)


def _confirmed(
    ctx: StepContext, transition: TransitionSpec, data: dict[str, Any], justification: str | None
) -> dict[str, str] | None:
    """What the person confirmed and why, when the step asked (kept on its audit event)."""
    given = (justification or "").strip()
    asked = confirmation_asked(ctx, transition, data) if given else None
    return {"message": asked, "justification": given} if asked else None


def _run_referenced_transitions(
    ctx: StepContext,
    transition: TransitionSpec,
    data: dict[str, Any],
    depth: int,
) -> None:
    """Move referenced records on where they can go; a blocked one is simply left."""
    for action in transition.actions:
        if not isinstance(action, TransitionReferencedAction) or depth >= MAX_CHAIN:
            continue
        target_id = data.get(action.reference)
        reference = ctx.model.field_specs.get(action.reference)
        if not isinstance(target_id, int) or not isinstance(reference, ReferenceField):
            continue
        target = step_context(ctx.conn, ctx.actor, reference.to, target_id, lock=True)
        step = target.workflow.transition_specs.get(action.transition)
        if step is None or target.row["state"] not in step.from_:
            continue
        if step.signature_meaning or blockers(
            target, step, target.row["data"], None, automatic=True
        ):
            continue
        execute_transition(
            ctx.conn,
            ctx.actor,
            reference.to,
            target_id,
            action.transition,
            automatic=True,
            depth=depth + 1,
        )


def _links_may_change(model: TypeModel, row: dict[str, Any], data: dict[str, Any]) -> bool:
    """Whether a step can have changed the record's reference rows: it set a reference
    field, or the record moves to another version of its type (whose reference fields
    may differ). Most steps only change the state: then there is nothing to rewrite."""
    if row["type_version"] != model.version:
        return True
    before = row["data"]
    return any(
        isinstance(spec, ReferenceField) and before.get(key) != data.get(key)
        for key, spec in model.field_specs.items()
    )
