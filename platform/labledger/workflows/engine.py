"""Running transitions: checks, signature, state change, actions, audit.

A transition and everything it causes (field updates, created records,
transitions of referenced records, its signature and all audit events)
commit in one transaction or not at all. The record row is locked first, so
two transitions racing from the same state serialise: the second finds the
state moved on and gets a conflict. Record rows are locked in one order (the
record, then the records its step moves on, then counters and the audit
chain's head), and a step the database still aborts for a deadlock runs
again in a fresh transaction (``Database.write_retrying``).

Only the password check of a signature runs in a transaction of its own: a
wrong password must be audited and counted toward lockout even though the
transition it was for is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Select, select, update

from labledger.audit.results import record_result, signature_result
from labledger.audit.trail import AuditEntry, append
from labledger.canonical import iso_utc
from labledger.db.engine import Database
from labledger.db.tables import audit_event, record
from labledger.db.types import utc_now
from labledger.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from labledger.expressions import EvaluationError, compile_expression
from labledger.identity.principal import Principal
from labledger.metadata.model import TypeModel
from labledger.metadata.types import readable_model, type_model
from labledger.records.relations import RELATED_FUNCTIONS, related_functions
from labledger.records.service import (
    RecordBatch,
    StateRules,
    bind_attachments,
    checked_data,
    expression_context,
    load_row,
    record_view,
    write_references,
)
from labledger.records.validation import is_empty
from labledger.settings import RateLimits
from labledger.workflows.model import WorkflowModel, workflow_model
from labledger.workflows.refusals import BLOCKED_BY, Attempt, refusals_audited
from labledger.workflows.signatures import (
    SIGN_ACTION,
    add_signature,
    signature_row,
    signatures_of,
)
from labledger.workflows.signing import SignatureInput, SigningSession, verify_signer

#: Why a transition may not run now; "role" and "separation" are refusals (403),
#: the others are unmet conditions (422).
ROLE, SEPARATION, GUARD, FIELDS, REASON = "role", "separation", "guard", "fields", "reason"
#: How deep automatic transitions of referenced records may chain.
MAX_CHAIN = 5


@dataclass(frozen=True)
class Blocker:
    kind: str
    message: str
    fields: tuple[str, ...] = ()


@dataclass
class _Context:
    conn: Connection
    actor: Principal
    model: TypeModel
    workflow: WorkflowModel
    row: dict[str, Any]
    _functions: dict[int, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)

    def evaluation_names(self, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, **expression_context(self.actor, self.row)}

    def functions(self, data: dict[str, Any]) -> dict[str, Any]:
        """Related-record functions over ``data``, built once per data (lookups cached)."""
        found = self._functions.get(id(data))
        if found is None or found[0] is not data:
            found = self._functions[id(data)] = (
                data,
                related_functions(self.conn, self.row["id"], data),
            )
        return found[1]


def _locked_for_step(statement: Select[Any]) -> Select[Any]:
    """``statement`` locking the record rows it reads until the step commits.

    FOR NO KEY UPDATE on PostgreSQL: a step changes no key column, and unlike
    FOR UPDATE this lock does not wait for the key-share locks that other
    transactions' reference rows (children pointing at the record) hold on it.
    """
    return statement.with_for_update(key_share=True)


def _context(
    conn: Connection, actor: Principal, type_key: str, record_id: int, lock: bool
) -> _Context:
    model = type_model(conn, type_key)
    if not model.workflow:
        raise ValidationFailed(f"{model.definition['plural']} have no workflow.")
    statement = select(record).where(record.c.id == record_id, record.c.type_key == type_key)
    found = conn.execute(_locked_for_step(statement) if lock else statement).mappings().first()
    if found is None:
        raise NotFound(f"There is no {type_key} record {record_id}.")
    return _Context(conn, actor, model, workflow_model(conn, model.workflow), dict(found))


def _lock_step_targets(ctx: _Context, transition: dict[str, Any]) -> None:
    """Lock the records the step will move on, right after the record itself.

    Locks are taken in one order: the stepped record, then the records it
    moves on (a child before its parent, lowest id first), then number
    counters and the audit chain's head. Locking a parent only when its
    child's step reaches it, after the child has taken the chain head, would
    deadlock with a step run on the parent itself.
    """
    targets = {
        ctx.row["data"].get(action["reference"])
        for action in transition.get("actions", [])
        if action["type"] == "transition_referenced"
    }
    ids = [t for t in targets if isinstance(t, int)]
    if ids:
        ctx.conn.execute(
            _locked_for_step(select(record.c.id).where(record.c.id.in_(ids)).order_by(record.c.id))
        )


def _earlier_actors(conn: Connection, record_id: int, transitions: list[str]) -> set[str]:
    rows = conn.execute(
        select(audit_event.c.actor, audit_event.c.details).where(
            audit_event.c.record_id == record_id, audit_event.c.action == "record.transition"
        )
    ).all()
    return {r.actor for r in rows if (r.details or {}).get("transition") in transitions}


def _field_authors(conn: Connection, record_id: int, fields: list[str]) -> set[str]:
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


def _blockers(
    ctx: _Context,
    transition: dict[str, Any],
    data: dict[str, Any],
    reason: str | None,
    *,
    automatic: bool = False,
) -> list[Blocker]:
    """Everything that stops ``transition`` now, checked in the order a person fixes them."""
    result: list[Blocker] = []
    actor = ctx.actor
    if not automatic and not actor.has_any_role(transition.get("roles", [])):
        roles = ", ".join(transition.get("roles", [])) or "nobody"
        result.append(
            Blocker(ROLE, f"Only these roles may {transition['label'].lower()}: {roles}.")
        )
    separation = transition.get("separation") or {}
    if not automatic and separation:
        same_as_creator = separation.get("creator") and ctx.row["created_by"] == actor.username
        earlier = _earlier_actors(ctx.conn, ctx.row["id"], separation.get("transitions", []))
        authors = _field_authors(ctx.conn, ctx.row["id"], separation.get("authors_of", []))
        if same_as_creator or actor.username in earlier | authors:
            message = separation.get("message") or (
                "Separation of duties: you created this record, did an earlier step on it or "
                "entered what this step judges, so someone else must do this one."
            )
            result.append(Blocker(SEPARATION, message))
    set_by_step = {a.get("field") or a.get("link_field") for a in transition.get("actions", [])} - {
        None
    }
    wanted = [
        *transition.get("requires_fields", []),
        *(k for k in ctx.workflow.required_fields(transition["to"]) if k not in set_by_step),
    ]
    missing = tuple(dict.fromkeys(k for k in wanted if is_empty(data.get(k))))
    if missing:
        labels = ", ".join(ctx.model.fields.get(k, {}).get("label", k) for k in missing)
        result.append(Blocker(FIELDS, f"Fill in first: {labels}.", missing))
    guard = ctx.workflow.guards.get(transition["key"])
    if guard is not None:
        try:
            passed = bool(guard.evaluate(ctx.evaluation_names(data), ctx.functions(data)))
        except EvaluationError as exc:
            passed, transition = False, {**transition, "guard_message": f"{exc}"}
        if not passed:
            result.append(
                Blocker(GUARD, transition.get("guard_message") or "The conditions are not met.")
            )
    if transition.get("reason_required") and not (reason or "").strip():
        result.append(Blocker(REASON, "Give a reason for this step.", ("reason",)))
    return result


def available_transitions(
    conn: Connection, actor: Principal, type_key: str, record_id: int
) -> list[dict[str, Any]]:
    """The transitions from the record's state: which the caller may run, and why not the rest."""
    readable_model(conn, actor, type_key)
    ctx = _context(conn, actor, type_key, record_id, lock=False)
    result = []
    for transition in ctx.workflow.from_state(ctx.row["state"]):
        blockers = _blockers(ctx, transition, ctx.row["data"], "(asked later)")
        result.append(
            {
                "key": transition["key"],
                "label": transition["label"],
                "to": transition["to"],
                "allowed": not blockers,
                "why_not": [{"kind": b.kind, "message": b.message} for b in blockers],
                "reason_required": bool(transition.get("reason_required")),
                "signature": (transition.get("signature") or {}).get("meaning"),
            }
        )
    return result


def _raise_for(blockers: list[Blocker]) -> None:
    refusals = [b for b in blockers if b.kind in (ROLE, SEPARATION)]
    if refusals:
        raise Forbidden(
            " ".join(b.message for b in refusals),
            extra={BLOCKED_BY: [b.kind for b in refusals]},
        )
    if blockers:
        errors = [
            FieldError(f"data.{f}" if f != "reason" else f, b.message)
            for b in blockers
            for f in (b.fields or (b.kind,))
        ]
        raise ValidationFailed(
            " ".join(b.message for b in blockers),
            errors,
            {BLOCKED_BY: [b.kind for b in blockers]},
        )


def _compiled(source: str) -> Any:
    return compile_expression(source, functions=RELATED_FUNCTIONS)


def _items(ctx: _Context, data: dict[str, Any], action: dict[str, Any]) -> list[dict[str, Any]]:
    """One name set per record to create: ``item`` is each element of ``for_each``."""
    if not action.get("for_each"):
        return [{}]
    items = _evaluate(ctx, data, _compiled(action["for_each"]))
    if items is None:
        return []
    if not isinstance(items, list):
        raise ValidationFailed("A workflow action's for_each did not give a list.")
    return [{"item": item} for item in items]


def _evaluate(
    ctx: _Context, source_data: dict[str, Any], expression: Any, extra: dict[str, Any] | None = None
) -> Any:
    try:
        names = {**ctx.evaluation_names(source_data), **(extra or {})}
        return expression.evaluate(names, ctx.functions(source_data))
    except EvaluationError as exc:
        raise ValidationFailed(f"A workflow action could not be computed: {exc}") from None


def _checked_step_data(
    ctx: _Context, transition: dict[str, Any], data: dict[str, Any], attachment_limit: int
) -> dict[str, Any]:
    """The record's data after the step's actions, through the same field checks as a
    person's save (type, limits, options, pattern, rules; computed fields recomputed).

    The values are the workflow's own, so fields locked in the record's state or
    set only by the system take them; a value the field does not accept refuses
    the step, naming the field, and nothing is written.
    """
    before = ctx.row["data"]
    changed = {k: data.get(k) for k in set(before) | set(data) if before.get(k) != data.get(k)}
    try:
        return checked_data(
            ctx.conn,
            ctx.actor,
            ctx.model,
            ctx.row,
            changed,
            rules=StateRules(),
            attachment_limit=attachment_limit,
            as_system=True,
        )
    except ValidationFailed as exc:
        raise ValidationFailed(
            f"'{transition['label']}' was refused: the record's values after its actions "
            f"are not valid ({_labelled(ctx.model, exc.errors)}).",
            exc.errors,
        ) from None


def _labelled(model: TypeModel, errors: list[FieldError]) -> str:
    """Field errors as a person reads them, e.g. "Score: must be at most 10"."""
    parts = []
    for error in errors:
        key = error.field.removeprefix("data.")
        parts.append(f"{model.fields.get(key, {}).get('label', key)}: {error.message}")
    return "; ".join(parts)


def _run_actions_before(
    ctx: _Context, transition: dict[str, Any], data: dict[str, Any], attachment_limit: int
) -> dict[str, Any]:
    """Set fields and create linked records; returns the record's new data."""
    data = dict(data)
    for action in transition.get("actions", []):
        if action["type"] == "set":
            data[action["field"]] = _evaluate(ctx, data, _compiled(action["expression"]))
        elif action["type"] == "create":
            batch = RecordBatch(
                ctx.conn,
                ctx.actor,
                action["record_type"],
                attachment_limit=attachment_limit,
                skip_permission=True,
                as_system=True,
            )
            details = {"created_by_transition": transition["key"], "source": ctx.row["number"]}
            items = [
                {
                    key: value
                    for key, source in action["fields"].items()
                    if (value := _evaluate(ctx, data, _compiled(source), extra)) is not None
                }
                for extra in _items(ctx, data, action)
            ]
            batch.prefetch(items)
            for values in items:
                batch.add(values, audit_details=details)
            created = batch.store()
            if action.get("link_field") and created:
                data[action["link_field"]] = created[-1]["id"]
    return _checked_step_data(ctx, transition, data, attachment_limit)


def execute_transition(
    conn: Connection,
    actor: Principal,
    type_key: str,
    record_id: int,
    transition_key: str,
    *,
    reason: str | None = None,
    expected_version: int | None = None,
    signer: Principal | None = None,
    attachment_limit: int,
    automatic: bool = False,
    depth: int = 0,
) -> dict[str, Any]:
    """Run a transition inside the caller's transaction; returns the record view."""
    if not automatic:
        readable_model(conn, actor, type_key)
    ctx = _context(conn, actor, type_key, record_id, lock=True)
    transition = ctx.workflow.transitions.get(transition_key)
    if transition is None:
        raise NotFound(f"The workflow '{ctx.workflow.key}' has no transition '{transition_key}'.")
    row = ctx.row
    if expected_version is not None and row["version"] != expected_version:
        raise Conflict(
            f"Record {row['number']} changed since you loaded it (now version {row['version']}).",
            extra={
                "current_version": row["version"],
                "current": record_view(row),
                BLOCKED_BY: ["version"],
            },
        )
    if row["state"] not in transition["from"]:
        raise Conflict(
            f"Record {row['number']} is in state '{row['state']}'; "
            f"'{transition['label']}' starts from {', '.join(transition['from'])}.",
            extra={
                "current_version": row["version"],
                "current": record_view(row),
                BLOCKED_BY: ["state"],
            },
        )
    _raise_for(_blockers(ctx, transition, row["data"], reason, automatic=automatic))
    meaning = (transition.get("signature") or {}).get("meaning")
    if meaning and signer is None:
        raise Forbidden(f"'{transition['label']}' needs your electronic signature ({meaning}).")
    _lock_step_targets(ctx, transition)
    data = _run_actions_before(ctx, transition, row["data"], attachment_limit)
    missing = [k for k in ctx.workflow.required_fields(transition["to"]) if is_empty(data.get(k))]
    if missing:
        _raise_for([Blocker(FIELDS, f"Fill in first: {', '.join(missing)}.", tuple(missing))])
    new_row = {
        **row,
        "state": transition["to"],
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
        .values(
            {
                k: new_row[k]
                for k in (
                    "state",
                    "data",
                    "version",
                    "title",
                    "type_version",
                    "updated_at",
                    "updated_by",
                )
            }
        )
    ).rowcount
    if changed != 1:
        raise Conflict(f"Record {row['number']} changed while the step ran; try again.")
    # Links set by the step (set actions, link fields) must be visible to
    # count_referencing and "referenced by" lists at once.
    write_references(conn, ctx.model, [(record_id, data)], replace=True)
    bind_attachments(conn, ctx.model, [(record_id, data)])
    changes = {"state": {"old": row["state"], "new": transition["to"]}}
    changes.update(
        {
            k: {"old": row["data"].get(k), "new": data.get(k)}
            for k in sorted(set(row["data"]) | set(data))
            if row["data"].get(k) != data.get(k)
        }
    )
    view = record_view(new_row)
    entries = [
        AuditEntry(
            actor=actor.username,
            action="record.transition",
            type_key=type_key,
            record_id=record_id,
            record_number=row["number"],
            changes=changes,
            reason=(reason or "").strip() or None,
            config_version=ctx.model.version,
            details={
                "transition": transition_key,
                "workflow": ctx.workflow.key,
                "workflow_version": ctx.workflow.version,
                "automatic": automatic,
            },
            outbox_kind="record.transitioned",
            outbox_payload={
                "id": record_id,
                "number": row["number"],
                "transition": transition_key,
                "from": row["state"],
                "to": transition["to"],
                "version": new_row["version"],
            },
            result_hash=record_result(new_row),
        )
    ]
    sig = None
    if meaning and signer is not None:
        sig = signature_row(signer, new_row, transition=transition_key, meaning=meaning)
        entries.append(
            AuditEntry(
                actor=signer.username,
                action=SIGN_ACTION,
                type_key=type_key,
                record_id=record_id,
                record_number=row["number"],
                reason=(reason or "").strip() or None,
                config_version=ctx.model.version,
                details={
                    "transition": transition_key,
                    "meaning": meaning,
                    "signer": signer.username,
                    "printed_name": signer.full_name,
                    "record_version": new_row["version"],
                    "content_hash": sig["content_hash"],
                    "signed_at": iso_utc(sig["signed_at"]),
                },
                outbox_kind="record.signed",
                outbox_payload={
                    "id": record_id,
                    "number": row["number"],
                    "meaning": meaning,
                    "signer": signer.username,
                },
                result_hash=signature_result(sig),
            )
        )
    seqs = append(conn, entries)
    if sig is not None:
        add_signature(conn, sig, audit_seq=seqs[-1])
    _run_referenced_transitions(ctx, transition, data, attachment_limit, depth)
    return view


def _run_referenced_transitions(
    ctx: _Context,
    transition: dict[str, Any],
    data: dict[str, Any],
    attachment_limit: int,
    depth: int,
) -> None:
    """Move referenced records on where they can go; a blocked one is simply left."""
    for action in transition.get("actions", []):
        if action["type"] != "transition_referenced" or depth >= MAX_CHAIN:
            continue
        target_id = data.get(action["reference"])
        target_type = ctx.model.fields.get(action["reference"], {}).get("to")
        if not isinstance(target_id, int) or not target_type:
            continue
        target = _context(ctx.conn, ctx.actor, target_type, target_id, lock=True)
        step = target.workflow.transitions.get(action["transition"])
        if step is None or target.row["state"] not in step["from"]:
            continue
        if _blockers(target, step, target.row["data"], None, automatic=True) or step.get(
            "signature"
        ):
            continue
        execute_transition(
            ctx.conn,
            ctx.actor,
            target_type,
            target_id,
            action["transition"],
            attachment_limit=attachment_limit,
            automatic=True,
            depth=depth + 1,
        )


def run_transition(
    db: Database,
    actor: Principal,
    type_key: str,
    record_id: int,
    transition_key: str,
    *,
    reason: str | None = None,
    expected_version: int | None = None,
    signature: SignatureInput | None = None,
    signing_session: SigningSession | None = None,
    attachment_limit: int,
    lockout_threshold: int,
    rate_limits: RateLimits | None = None,
) -> dict[str, Any]:
    """The whole transition as a person asks for it; returns the record as the step left it.

    ``signing_session`` is the caller's continuous session (a browser's), or
    None (an API call): it decides whether the signature needs the username
    (``workflows.signing``). Every refusal is written to the record's audit
    trail, in a transaction of its own, before it is raised
    (``workflows.refusals``).
    """
    with refusals_audited(db, Attempt(actor, type_key, record_id, transition_key, reason)):
        with db.read() as conn:
            model = type_model(conn, type_key)
            workflow = workflow_model(conn, model.workflow) if model.workflow else None
        needs_signature = bool(
            workflow and (workflow.transitions.get(transition_key) or {}).get("signature")
        )
        signer = None
        if needs_signature:
            # Refuse a person who may not do this step before asking for a password,
            # so a wrong password is never counted against someone without the role.
            with db.read() as conn:
                _refuse_unauthorised(conn, actor, type_key, record_id, transition_key)
            signer = verify_signer(
                db,
                actor,
                signature,
                session=signing_session,
                lockout_threshold=lockout_threshold,
                rate_limits=rate_limits,
            )
        # Only the step is retried when the database aborts it for a deadlock: the
        # password check above stays one check, recorded once.
        return db.write_retrying(
            lambda conn: execute_transition(
                conn,
                actor,
                type_key,
                record_id,
                transition_key,
                reason=reason,
                expected_version=expected_version,
                signer=signer,
                attachment_limit=attachment_limit,
            )
        )


def _refuse_unauthorised(
    conn: Connection, actor: Principal, type_key: str, record_id: int, transition_key: str
) -> None:
    readable_model(conn, actor, type_key)
    ctx = _context(conn, actor, type_key, record_id, lock=False)
    transition = ctx.workflow.transitions.get(transition_key)
    if transition is None:
        return  # execute_transition reports the unknown transition
    blockers = _blockers(ctx, transition, ctx.row["data"], "(asked later)")
    _raise_for([b for b in blockers if b.kind in (ROLE, SEPARATION)])


def record_with_signatures(
    conn: Connection, actor: Principal, type_key: str, record_id: int
) -> dict[str, Any]:
    """A record view with its signatures and their verification status."""
    readable_model(conn, actor, type_key)
    row = load_row(conn, type_key, record_id)
    return {**record_view(row), "signatures": signatures_of(conn, row)}
