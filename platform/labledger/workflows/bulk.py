"""One transition on many records, with one signing.

A reviewer with 23 results to review signs once. The signature's password is
checked once for the whole request (and counted once toward lockout); then
each record takes its own step in its own transaction, with its own
signature, content hash and manifest, and its own audit events, exactly as
if it had been signed alone (21 CFR 11.50 and 11.70 hold per record). A
record the person may not move is refused with its reason, its refusal
audited on its trail as a single step's would be, and the others go on.

Before the password is asked for, each record is checked for the person's
role and part in it (as ``run_transition`` does for one), so a wrong password
is never counted against someone who could not have signed any of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from labledger.db.engine import Database
from labledger.errors import FieldError, NotFound, ServiceError, ValidationFailed
from labledger.identity.principal import Principal
from labledger.metadata.model import TypeModel
from labledger.metadata.spec import TransitionSpec
from labledger.metadata.types import readable_model
from labledger.records.query import ListQuery, list_records
from labledger.records.service import get_record
from labledger.workflows.checks import available_transitions, refuse_unauthorised
from labledger.workflows.engine import needs_signature, step_with_answer
from labledger.workflows.model import workflow_model
from labledger.workflows.refusals import (
    Attempt,
    record_refusal,
    refusal_kinds,
    refusals_audited,
)
from labledger.workflows.signing import SignatureInput, SigningSession, verify_signer

#: Records one request may move: a page of a work queue, several times over.
MAX_RECORDS = 500


@dataclass(frozen=True)
class Outcome:
    """What became of one record: the record as its step left it, or why it was refused."""

    record_id: int
    record: dict[str, Any] | None = None
    refusal: ServiceError | None = None

    def as_dict(self) -> dict[str, Any]:
        """The outcome as the API and the result page show it: a refusal as the problem a
        single step would have answered."""
        refusal = self.refusal
        return {
            "id": self.record_id,
            "ok": refusal is None,
            "record": self.record,
            "refusal": None
            if refusal is None
            else {
                "status": refusal.status,
                "title": refusal.title,
                "detail": refusal.detail,
                "errors": [e.as_dict() for e in refusal.errors],
                "blocked_by": refusal_kinds(refusal),
            },
        }


@dataclass(frozen=True)
class Candidate:
    """A record a step on many was asked for, as it stands: would it move now?"""

    record_id: int
    #: The record as the person may read it (None: there is no such record).
    record: dict[str, Any] | None
    #: Why it would not move now, as the record page says it (empty: it would).
    why_not: list[str]
    #: What its step would ask to confirm now (None: nothing).
    confirm: str | None = None

    @property
    def movable(self) -> bool:
        return not self.why_not


@dataclass(frozen=True)
class Selection:
    """The records a step on many would run on: those named, or all matching a filter."""

    ids: list[int]
    #: More records matched the filter than one step may take: only the first are in ``ids``.
    cut: bool = False


def steps_for(conn: Connection, actor: Principal, model: TypeModel) -> list[TransitionSpec]:
    """The steps of the type's workflow the person's roles may run, in definition order:
    what a list offers to run on the selected records."""
    if not model.workflow:
        return []
    workflow = workflow_model(conn, model.workflow)
    return [t for t in workflow.spec.transitions if actor.has_any_role(t.roles)]


def step_of(conn: Connection, model: TypeModel, transition_key: str) -> TransitionSpec:
    """The transition ``transition_key`` of the type's workflow, or NotFound."""
    workflow = workflow_model(conn, model.workflow) if model.workflow else None
    step = workflow.transition_specs.get(transition_key) if workflow else None
    if step is None:
        raise NotFound(f"{model.spec.plural} have no step '{transition_key}'.")
    return step


def matching(conn: Connection, actor: Principal, model: TypeModel, query: ListQuery) -> Selection:
    """The records matching a list's filter, in its order, up to what one step may take.

    ``actor`` is the person selecting, as for ``list_records``: a reference
    filter names records by number or title only if they may read that type.
    """
    query.cursor, query.limit = None, MAX_RECORDS + 1
    listed = list_records(conn, model, query, actor=actor, max_limit=MAX_RECORDS + 1)
    found = [item["id"] for item in listed["items"]]
    return Selection(found[:MAX_RECORDS], cut=len(found) > MAX_RECORDS)


def candidates(
    conn: Connection,
    actor: Principal,
    type_key: str,
    record_ids: Sequence[int],
    transition_key: str,
) -> list[Candidate]:
    """Each record as the step would find it, with why it would not move, checked as the
    record page checks its buttons (``available_transitions``)."""
    model = readable_model(conn, actor, type_key)
    step = step_of(conn, model, transition_key)
    found = []
    for record_id in _checked(record_ids):
        try:
            rec = get_record(conn, actor, type_key, record_id)
        except NotFound:
            found.append(Candidate(record_id, None, [f"There is no {model.label} {record_id}."]))
            continue
        options = available_transitions(conn, actor, type_key, record_id)
        option = next((o for o in options if o["key"] == step.key), None)
        if option is None:
            found.append(
                Candidate(record_id, rec, [f"{step.label} does not start from its state."])
            )
            continue
        why_not = [w["message"] for w in option["why_not"]]
        found.append(Candidate(record_id, rec, why_not, option["confirm"]))
    return found


def outcomes_view(outcomes: list[Outcome]) -> dict[str, Any]:
    """Every record's outcome, in order, with how many moved and how many were refused."""
    moved = sum(outcome.refusal is None for outcome in outcomes)
    return {
        "items": [outcome.as_dict() for outcome in outcomes],
        "moved": moved,
        "refused": len(outcomes) - moved,
    }


def run_transitions(
    db: Database,
    actor: Principal,
    type_key: str,
    record_ids: Sequence[int],
    transition_key: str,
    *,
    reason: str | None = None,
    justification: str | None = None,
    signature: SignatureInput | None = None,
    signing_session: SigningSession | None = None,
    throttled: bool = False,
) -> list[Outcome]:
    """Run ``transition_key`` on each record, in the order given; one outcome per record.

    Raises only for the request as a whole: no records, too many or the same
    one twice, or a refused signature (then no record moved, and the refusal
    is on the trail of each record it was for).
    """
    attempts = [
        Attempt(actor, type_key, record_id, transition_key, reason, justification)
        for record_id in _checked(record_ids)
    ]
    with db.read() as conn:
        signed = needs_signature(conn, type_key, transition_key)
    refused: dict[int, Outcome] = {}
    signer: Principal | None = None
    if signed:
        refused = _unauthorised(db, attempts)
        signable = [a for a in attempts if a.record_id not in refused]
        if signable:
            signer = _signer(db, actor, signable, signature, signing_session, throttled)
    return [refused.get(a.record_id) or _step(db, a, signer) for a in attempts]


def _checked(record_ids: Sequence[int]) -> list[int]:
    ids = list(record_ids)
    problem = (
        "name at least one record"
        if not ids
        else f"name at most {MAX_RECORDS} records"
        if len(ids) > MAX_RECORDS
        else "name each record once"
        if len(set(ids)) != len(ids)
        else None
    )
    if problem:
        raise ValidationFailed("Bad list of records.", [FieldError("ids", problem)])
    return ids


def _unauthorised(db: Database, attempts: list[Attempt]) -> dict[int, Outcome]:
    """The records whose step the person's role or part rules out, each refusal audited."""
    refused = {}
    for attempt in attempts:
        try:
            with refusals_audited(db, attempt), db.read() as conn:
                refuse_unauthorised(
                    conn, attempt.actor, attempt.type_key, attempt.record_id, attempt.transition
                )
        except ServiceError as exc:
            refused[attempt.record_id] = Outcome(attempt.record_id, refusal=exc)
    return refused


def _signer(
    db: Database,
    actor: Principal,
    attempts: list[Attempt],
    signature: SignatureInput | None,
    session: SigningSession | None,
    throttled: bool,
) -> Principal:
    """The signer, checked once; a refused signature is on the trail of every record it
    was for, and refuses the whole request."""
    try:
        return verify_signer(db, actor, signature, session=session, throttled=throttled)
    except ServiceError as exc:
        for attempt in attempts:
            record_refusal(db, attempt, exc)
        raise


def _step(db: Database, attempt: Attempt, signer: Principal | None) -> Outcome:
    """One record's step in its own transaction, with its signatures in the answer."""
    try:
        with refusals_audited(db, attempt):
            view = db.write_retrying(
                lambda conn: step_with_answer(conn, attempt, signer=signer, with_signatures=True)
            )
    except ServiceError as exc:
        return Outcome(attempt.record_id, refusal=exc)
    return Outcome(attempt.record_id, record=view)
