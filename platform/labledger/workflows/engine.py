"""Running transitions as people ask for them: the workflow engine's entry points.

A step is planned and checked (``workflows.checks``: roles, separation of
duties, fields, guard), evaluated (``workflows.evaluation``), acted on
(``workflows.actions``) and written (``workflows.transition``) inside one
transaction. The record rows a step touches are locked in one order
(``workflows.step``), and a step the database still aborts for a deadlock
runs again in a fresh transaction (``Database.write_retrying``).

Only the password check of a signature runs in a transaction of its own: a
wrong password must be audited and counted toward lockout even though the
transition it was for is refused.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from labledger.db.engine import Database
from labledger.identity.principal import Principal
from labledger.metadata.types import readable_model, type_model
from labledger.records.views import load_row, record_view, row_of_view
from labledger.workflows.checks import available_transitions, refuse_unauthorised
from labledger.workflows.model import workflow_model
from labledger.workflows.refusals import Attempt, refusals_audited
from labledger.workflows.signatures import signatures_of
from labledger.workflows.signing import SignatureInput, SigningSession, verify_signer
from labledger.workflows.transition import execute_transition

__all__ = [
    "SignatureInput",
    "available_transitions",
    "execute_transition",
    "record_with_signatures",
    "run_transition",
]


def run_transition(
    db: Database,
    actor: Principal,
    type_key: str,
    record_id: int,
    transition_key: str,
    *,
    reason: str | None = None,
    justification: str | None = None,
    expected_version: int | None = None,
    signature: SignatureInput | None = None,
    signing_session: SigningSession | None = None,
    throttled: bool = False,
    with_signatures: bool = False,
) -> dict[str, Any]:
    """The whole transition as a person asks for it; returns the record as the step left it
    (``with_signatures``: and its signatures, read in the step's transaction).

    A step that needs no signature runs in one transaction, its checks, its
    writes and the answer together.

    ``signing_session`` is the caller's continuous session (a browser's), or
    None (an API call): it decides whether the signature needs the username
    (``workflows.signing``); ``throttled`` (a browser's or an API call's step)
    counts refused signatures against the rate limits. Every refusal is
    written to the record's audit trail, in a transaction of its own, before
    it is raised (``workflows.refusals``).
    """
    attempt = Attempt(actor, type_key, record_id, transition_key, reason, justification)
    with refusals_audited(db, attempt):

        def step(conn: Connection, signer: Principal | None = None) -> dict[str, Any]:
            return step_with_answer(
                conn,
                attempt,
                signer=signer,
                expected_version=expected_version,
                with_signatures=with_signatures,
            )

        def unless_signed(conn: Connection) -> dict[str, Any] | None:
            """The step, in one transaction, unless it needs a signature (then None)."""
            if not needs_signature(conn, type_key, transition_key):
                return step(conn)
            # Refuse a person who may not do this step before asking for a password,
            # so a wrong password is never counted against someone without the role.
            refuse_unauthorised(conn, actor, type_key, record_id, transition_key)
            return None

        # Only the step is retried when the database aborts it for a deadlock: the
        # password check stays one check, recorded once.
        outcome = db.write_retrying(unless_signed)
        if outcome is not None:
            return outcome
        signer = verify_signer(
            db,
            actor,
            signature,
            session=signing_session,
            throttled=throttled,
        )
        return db.write_retrying(lambda conn: step(conn, signer))


def step_with_answer(
    conn: Connection,
    attempt: Attempt,
    *,
    signer: Principal | None,
    expected_version: int | None = None,
    with_signatures: bool = False,
) -> dict[str, Any]:
    """The step inside the caller's transaction; the record as it left it (and, with
    ``with_signatures``, its signatures, read in the same transaction)."""
    view = execute_transition(
        conn,
        attempt.actor,
        attempt.type_key,
        attempt.record_id,
        attempt.transition,
        reason=attempt.reason,
        justification=attempt.justification,
        expected_version=expected_version,
        signer=signer,
    )
    if with_signatures:
        view["signatures"] = signatures_of(conn, row_of_view(view))
    return view


def needs_signature(conn: Connection, type_key: str, transition_key: str) -> bool:
    """Whether the type's workflow asks for a signature on this transition."""
    model = type_model(conn, type_key)
    workflow = workflow_model(conn, model.workflow) if model.workflow else None
    transition = workflow.transition_specs.get(transition_key) if workflow else None
    return bool(transition and transition.signature_meaning)


def record_with_signatures(
    conn: Connection, actor: Principal, type_key: str, record_id: int
) -> dict[str, Any]:
    """A record view with its signatures and their verification status."""
    readable_model(conn, actor, type_key)
    row = load_row(conn, type_key, record_id)
    return {**record_view(row), "signatures": signatures_of(conn, row)}
