"""Whether a transition may run now, and why not: roles, separation of duties, fields,
guard and reason.

The same checks answer the record page ("which steps can I take?") and
refuse a step that is attempted anyway, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from msgspec import UnsetType
from sqlalchemy import Connection, select

from labledger.db.tables import audit_event
from labledger.errors import FieldError, Forbidden, ValidationFailed
from labledger.identity.principal import Principal
from labledger.identity.roles import role_labels
from labledger.metadata.spec import TransitionSpec
from labledger.metadata.types import readable_model
from labledger.records.validation import is_empty
from labledger.workflows.evaluation import confirmation_asked, guard_refusal
from labledger.workflows.refusals import BLOCKED_BY
from labledger.workflows.step import StepContext, step_context

#: Why a transition may not run now; "role" and "separation" are refusals (403),
#: the others are unmet conditions (422).
ROLE, SEPARATION, GUARD, FIELDS, REASON = "role", "separation", "guard", "fields", "reason"
#: The step asks for a confirmation with a justification, and none was given (422).
CONFIRMATION = "confirmation"
#: Stands in for a reason or justification when only asking which steps could run: the
#: dialog asks for them afterwards.
ASKED_LATER = "(asked later)"
#: The longest justification kept on an audit event.
MAX_JUSTIFICATION = 2000


#: What a person answers for the step itself, not a field of the record.
_STEP_ANSWERS = frozenset({"reason", "justification"})


@dataclass(frozen=True)
class Blocker:
    kind: str
    message: str
    fields: tuple[str, ...] = ()


def _earlier_actors(conn: Connection, record_id: int, transitions: Sequence[str]) -> set[str]:
    rows = conn.execute(
        select(audit_event.c.actor, audit_event.c.details).where(
            audit_event.c.record_id == record_id, audit_event.c.action == "record.transition"
        )
    ).all()
    return {r.actor for r in rows if (r.details or {}).get("transition") in transitions}


def _field_authors(conn: Connection, record_id: int, fields: Sequence[str]) -> set[str]:
    """Whoever entered or changed one of ``fields`` on the record, by the audit trail.

    Every write names the fields it changed in its event (by hand, in a grid,
    by an import or by a step's action), so this finds each of them.
    """
    if not fields:
        return set()
    rows = conn.execute(
        select(audit_event.c.actor, audit_event.c.changes).where(
            audit_event.c.record_id == record_id, audit_event.c.changes.is_not(None)
        )
    ).all()
    return {r.actor for r in rows if set(fields) & set(r.changes or {})}


def _separation_blocker(ctx: StepContext, transition: TransitionSpec) -> Blocker | None:
    separation = transition.separation
    if isinstance(separation, UnsetType):
        return None
    actor = ctx.actor
    same_as_creator = separation.creator and ctx.row["created_by"] == actor.username
    earlier = _earlier_actors(ctx.conn, ctx.row["id"], separation.transitions)
    authors = _field_authors(ctx.conn, ctx.row["id"], separation.authors_of)
    if not (same_as_creator or actor.username in earlier | authors):
        return None
    message = separation.message or (
        "Separation of duties: you created this record, did an earlier step on it or "
        "entered what this step judges, so someone else must do this one."
    )
    return Blocker(SEPARATION, message)


def _missing_fields(
    ctx: StepContext, transition: TransitionSpec, data: dict[str, Any]
) -> Blocker | None:
    set_by_step = {a.written_field for a in transition.actions}
    wanted = [
        *transition.requires_fields,
        *(k for k in ctx.workflow.required_fields(transition.to) if k not in set_by_step),
    ]
    missing = tuple(dict.fromkeys(k for k in wanted if is_empty(data.get(k))))
    if not missing:
        return None
    labels = ", ".join(ctx.field_label(k) for k in missing)
    return Blocker(FIELDS, f"Fill in first: {labels}.", missing)


def blockers(
    ctx: StepContext,
    transition: TransitionSpec,
    data: dict[str, Any],
    reason: str | None,
    *,
    justification: str | None = None,
    automatic: bool = False,
) -> list[Blocker]:
    """Everything that stops ``transition`` now, checked in the order a person fixes them."""
    result: list[Blocker] = []
    if not automatic and not ctx.actor.has_any_role(transition.roles):
        roles = ", ".join(role_labels(ctx.conn, transition.roles)) or "nobody"
        result.append(Blocker(ROLE, f"Only these roles may {transition.label.lower()}: {roles}."))
    if not automatic and (separated := _separation_blocker(ctx, transition)):
        result.append(separated)
    if missing := _missing_fields(ctx, transition, data):
        result.append(missing)
    if (refusal := guard_refusal(ctx, transition, data)) is not None:
        result.append(Blocker(GUARD, refusal))
    if transition.reason_required and not (reason or "").strip():
        result.append(Blocker(REASON, "Give a reason for this step.", ("reason",)))
    if (confirming := _confirmation_blocker(ctx, transition, data, justification)) is not None:
        result.append(confirming)
    return result


def _confirmation_blocker(
    ctx: StepContext, transition: TransitionSpec, data: dict[str, Any], justification: str | None
) -> Blocker | None:
    """The step asks for a confirmation and has no justification (or one too long to keep)."""
    given = (justification or "").strip()
    if len(given) > MAX_JUSTIFICATION:
        return Blocker(
            CONFIRMATION,
            f"Keep the justification under {MAX_JUSTIFICATION} characters.",
            ("justification",),
        )
    asked = None if given else confirmation_asked(ctx, transition, data)
    if asked is None:
        return None
    message = f"{asked} Confirm it, with a justification, to go on."
    return Blocker(CONFIRMATION, message, ("justification",))


def raise_for(found: list[Blocker]) -> None:
    """Refuse a step for ``found`` blockers: 403 for who is asking, 422 for the record's state."""
    refusals = [b for b in found if b.kind in (ROLE, SEPARATION)]
    if refusals:
        raise Forbidden(
            " ".join(b.message for b in refusals),
            extra={BLOCKED_BY: [b.kind for b in refusals]},
        )
    if found:
        errors = [
            FieldError(f if f in _STEP_ANSWERS else f"data.{f}", b.message)
            for b in found
            for f in (b.fields or (b.kind,))
        ]
        raise ValidationFailed(
            " ".join(b.message for b in found),
            errors,
            {BLOCKED_BY: [b.kind for b in found]},
        )


def refuse_unauthorised(
    conn: Connection, actor: Principal, type_key: str, record_id: int, transition_key: str
) -> None:
    """Refuse a person whose role or earlier part in the record rules the step out."""
    readable_model(conn, actor, type_key)
    ctx = step_context(conn, actor, type_key, record_id, lock=False)
    transition = ctx.workflow.transition_specs.get(transition_key)
    if transition is None:
        return  # execute_transition reports the unknown transition
    found = blockers(ctx, transition, ctx.row["data"], ASKED_LATER, justification=ASKED_LATER)
    raise_for([b for b in found if b.kind in (ROLE, SEPARATION)])


def available_transitions(
    conn: Connection, actor: Principal, type_key: str, record_id: int
) -> list[dict[str, Any]]:
    """The transitions from the record's state: which the caller may run, and why not the rest."""
    readable_model(conn, actor, type_key)
    ctx = step_context(conn, actor, type_key, record_id, lock=False)
    result = []
    for transition in ctx.workflow.from_state(ctx.row["state"]):
        data = ctx.row["data"]
        found = blockers(ctx, transition, data, ASKED_LATER, justification=ASKED_LATER)
        result.append(
            {
                "key": transition.key,
                "label": transition.label,
                "to": transition.to,
                "allowed": not found,
                "why_not": [{"kind": b.kind, "message": b.message} for b in found],
                "reason_required": transition.reason_required,
                "signature": transition.signature_meaning,
                "confirm": confirmation_asked(ctx, transition, data),
            }
        )
    return result
