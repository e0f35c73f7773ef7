"""Workflows, the transitions of a record, and electronic signatures."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from msgspec import Meta

from labledger.api.schemas.base import FieldProblem, RequestStruct, ResponseStruct
from labledger.api.schemas.records import RecordView
from labledger.limits import INT64_MAX


class SignaturePayload(RequestStruct):
    """The signer's credentials, re-entered for every signature.

    Both are required: an API call has no signing session. The username is
    optional here only so that leaving it out gets a field-level problem
    (``signature.username``) from the workflow service, not a parse error.
    """

    password: str
    username: str | None = None


class TransitionWrite(RequestStruct):
    """Run a transition: an optional reason, the signature where one is required, and the
    justification where the transition asks for a confirmation (its ``confirm`` holds)."""

    reason: str | None = None
    signature: SignaturePayload | None = None
    justification: str | None = None


class BulkTransitionWrite(RequestStruct):
    """Run one transition on several records of a type: their ids (1 to 500, each once),
    an optional reason for all of them, and one signature where the transition needs one."""

    ids: list[Annotated[int, Meta(ge=1, le=INT64_MAX)]]
    reason: str | None = None
    signature: SignaturePayload | None = None
    #: Confirms every record whose transition asks for a confirmation, for this reason.
    justification: str | None = None


class WorkflowSummary(ResponseStruct):
    key: str
    label: str | None
    version: int


class WorkflowList(ResponseStruct):
    items: list[WorkflowSummary]


class Blocker(ResponseStruct):
    """Why a transition cannot run now: a kind (roles, guard, required, ...) and a sentence."""

    kind: str
    message: str


class TransitionOption(ResponseStruct):
    """A transition from the record's state, whether the caller may run it, and why not."""

    key: str
    label: str
    to: str
    allowed: bool
    why_not: list[Blocker]
    reason_required: bool
    #: The meaning of the signature the transition asks for (None: no signature).
    signature: str | None
    #: What running it now must be confirmed for, with a justification (None: nothing).
    confirm: str | None


class TransitionList(ResponseStruct):
    items: list[TransitionOption]


class Signature(ResponseStruct):
    """An electronic signature and whether it still matches the signed record."""

    signer: str
    printed_name: str
    meaning: str
    signed_at: datetime
    transition: str
    record_version: int
    content_hash: str
    #: current, earlier_version (the record changed since) or invalid.
    status: str


class SignatureList(ResponseStruct):
    items: list[Signature]


class SignedRecord(RecordView):
    """The record as a transition left it, with every signature it carries."""

    signatures: list[Signature]


class Refusal(ResponseStruct):
    """Why one record was not moved: the problem a single transition would have answered."""

    status: int
    title: str
    detail: str
    errors: list[FieldProblem]
    #: What blocked it (version, state, roles, guard, fields, ...).
    blocked_by: list[str]


class TransitionOutcome(ResponseStruct):
    """One record of a bulk transition: the record as its step left it, or its refusal."""

    id: int
    ok: bool
    record: SignedRecord | None
    refusal: Refusal | None


class TransitionOutcomes(ResponseStruct):
    """Every record's outcome, in the order the ids were given, and the counts."""

    items: list[TransitionOutcome]
    moved: int
    refused: int
