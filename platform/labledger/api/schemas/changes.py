"""Change requests: proposals, their review, approvals and the change-control setting."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta

from labledger.api.schemas.base import JsonObject, RequestStruct, ResponseStruct
from labledger.api.schemas.workflows import SignaturePayload
from labledger.changes.control import MAX_APPROVALS
from labledger.changes.impact import TypeImpact
from labledger.limits import INT32_MAX

#: What a change request can propose on its own (whole bundles come as ``/bundle``).
ItemKind = Literal[
    "object_type", "workflow", "role", "mapping", "print_template", "dashboard", "webhook"
]


class ProposedItemWrite(RequestStruct):
    """A definition to put into a change request."""

    kind: ItemKind
    key: str
    body: JsonObject


class ChangeRequestWrite(RequestStruct):
    """Open a change request: a title, a reason, and (optionally) its first definitions."""

    title: str
    reason: str
    items: list[ProposedItemWrite] = []


class ChangeRequestText(RequestStruct):
    """A new title and reason for a draft."""

    title: str
    reason: str


class RevertWrite(RequestStruct):
    """Propose bringing back an earlier version of a definition."""

    kind: ItemKind
    key: str
    version: Annotated[int, Meta(ge=1, le=INT32_MAX)]
    reason: str


class ApprovalWrite(RequestStruct):
    """Approve: the content hash you reviewed, and your signature (username and password)."""

    content_hash: str
    signature: SignaturePayload | None = None


class ReasonWrite(RequestStruct):
    """A reason (a rejection, a withdrawal)."""

    reason: str


class ActivationWrite(RequestStruct):
    """Activate now, or at ``at`` (a time with zone)."""

    at: datetime | None = None


class ControlWrite(RequestStruct):
    """Switch change control on or off; set the approvals a change needs."""

    enabled: bool
    reason: str
    approvals_required: Annotated[int, Meta(ge=1, le=MAX_APPROVALS)] | None = None


class Control(ResponseStruct):
    enabled: bool
    approvals_required: int


class StatementView(ResponseStruct):
    """One change in words; ``weakens`` marks a weakened control."""

    subject: str
    text: str
    weakens: bool


class ItemReviewView(ResponseStruct):
    kind: str
    key: str
    title: str
    active_version: int | None
    new: bool
    bundle: str | None
    statements: list[StatementView]


class ItemView(ResponseStruct):
    """A proposed definition as stored, with the active version it was proposed against."""

    kind: str
    key: str
    base_version: int | None
    body: JsonObject


class ApprovalView(ResponseStruct):
    """An approver's signature; ``audit_seq`` is the audit event that recorded it."""

    id: int
    audit_seq: int
    signer: str
    printed_name: str
    meaning: str
    signed_at: datetime
    content_hash: str
    #: False once the request was edited after this signature.
    valid: bool


class StaleView(ResponseStruct):
    kind: str
    key: str
    message: str


class ChangeRequestView(ResponseStruct):
    """A change request with its review: what it changes, in words."""

    id: int
    label: str
    title: str
    reason: str
    status: str
    content_hash: str
    origin: JsonObject | None
    rejection: str | None
    activate_at: datetime | None
    activated_at: datetime | None
    activated_by: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    approvals_required: int
    approvals_missing: int
    items: list[ItemView]
    review: list[ItemReviewView]
    weakening: list[StatementView]
    stale: list[StaleView]
    approvals: list[ApprovalView]


class ChangeSummaryView(ResponseStruct):
    id: int
    label: str
    title: str
    status: str
    created_by: str
    updated_at: datetime
    items: int
    approvals: int


class ChangeRequestList(ResponseStruct):
    items: list[ChangeSummaryView]
    control: Control


class ChangeImpact(ResponseStruct):
    """For each type the request changes (itself or through its workflow): records per
    state, states whose rules change, and the open records the new rules would fail."""

    types: list[TypeImpact]
