"""The system-wide audit trail and the report of its verification."""

from __future__ import annotations

from labledger.api.schemas.base import ResponseStruct
from labledger.api.schemas.records import AuditEvent


class AuditPage(ResponseStruct):
    """Events newest first; ``next`` is the ``before`` of the next page (None: last page)."""

    items: list[AuditEvent]
    next: int | None


class Discrepancy(ResponseStruct):
    """One thing that is not as the audit trail says."""

    #: chain, head, checkpoint, record, signature, configuration or role.
    kind: str
    message: str
    seq: int | None
    record_number: str | None
    field: str | None


class VerifyReport(ResponseStruct):
    """What verification checked and every discrepancy found (the first 200 listed)."""

    ok: bool
    events: int
    records: int
    signatures: int
    config_versions: int
    roles: int
    #: Change requests, approvals and changes of the change-control setting.
    changes: int
    #: Rows written before events carried result hashes: checked by the chain only.
    not_provable: int
    checkpoint: str | None
    summary: str
    problem_count: int
    discrepancies: list[Discrepancy]
