"""Refused workflow steps and signatures, kept on the record's audit trail.

A refused step changes nothing: its transaction rolls back. The attempt is
still evidence an inspector may ask for (who tried which step, and why it was
refused), so it is written afterwards in a transaction of its own, as one
event per attempt on the record. Refusal events carry no changes: they never
alter what the record's history says its content is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import select

from labledger.audit.trail import AuditEntry, append
from labledger.db.engine import Database
from labledger.db.tables import record
from labledger.errors import NotFound, ServiceError
from labledger.identity.principal import Principal

#: A step that was asked for and refused (role, separation, guard, fields, reason, stale).
TRANSITION_REFUSED = "record.transition_refused"
#: A signature that was asked for and refused (missing, wrong account, wrong password, locked).
SIGN_REFUSED = "record.sign_refused"
#: Extra key of a refusal error naming why it was refused (also in the API's problem JSON).
BLOCKED_BY = "blocked_by"
#: The causes that make a refusal a refused signature (set by ``workflows.signing``).
SIGNATURE_KINDS = frozenset({"signature", "signer", "password", "one_time_password"})


@dataclass(frozen=True)
class Attempt:
    """One person's request to run one step on one record."""

    actor: Principal
    type_key: str
    record_id: int
    transition: str
    reason: str | None
    #: The answer to the step's confirmation, where it asks for one.
    justification: str | None = None


def refusal_kinds(error: ServiceError) -> list[str]:
    """Why ``error`` refused the attempt, as short keys (its title when it names none)."""
    return list(error.extra.get(BLOCKED_BY) or [error.title.lower()])


def refusal_action(error: ServiceError) -> str:
    """The refusal's audit action: a refused signature, or a refused step."""
    return SIGN_REFUSED if SIGNATURE_KINDS & set(refusal_kinds(error)) else TRANSITION_REFUSED


def record_refusal(db: Database, attempt: Attempt, error: ServiceError) -> None:
    """Write the refusal event in its own transaction (nothing when the record is unknown)."""
    with db.write() as conn:
        found = conn.execute(
            select(record.c.number, record.c.type_version).where(
                record.c.id == attempt.record_id, record.c.type_key == attempt.type_key
            )
        ).first()
        if found is None:
            return
        append(
            conn,
            [
                AuditEntry(
                    actor=attempt.actor.username,
                    action=refusal_action(error),
                    type_key=attempt.type_key,
                    record_id=attempt.record_id,
                    record_number=found.number,
                    reason=(attempt.reason or "").strip() or None,
                    config_version=found.type_version,
                    details={
                        "transition": attempt.transition,
                        "refused_for": refusal_kinds(error),
                        "message": error.detail,
                        "fields": [e.field for e in error.errors],
                    },
                )
            ],
        )


@contextmanager
def refusals_audited(db: Database, attempt: Attempt) -> Iterator[None]:
    """Record every refusal raised in the block, then let it through unchanged.

    A step or record that does not exist is not a refusal: nothing is written.
    """
    try:
        yield
    except NotFound:
        raise
    except ServiceError as exc:
        record_refusal(db, attempt, exc)
        raise
