"""Workflows, the transitions of a record, and electronic signatures."""

from __future__ import annotations

from datetime import datetime

from labledger.api.schemas.base import RequestStruct, ResponseStruct
from labledger.api.schemas.records import RecordView


class SignaturePayload(RequestStruct):
    """The signer's credentials, re-entered for every signature.

    Both are required: an API call has no signing session. The username is
    optional here only so that leaving it out gets a field-level problem
    (``signature.username``) from the workflow service, not a parse error.
    """

    password: str
    username: str | None = None


class TransitionWrite(RequestStruct):
    """Run a transition: an optional reason, and the signature where one is required."""

    reason: str | None = None
    signature: SignaturePayload | None = None


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
