"""/api/v1/audit: the system-wide audit trail and its verification."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import QueryParameter

from labledger.api.schemas.audit import AuditPage, VerifyReport
from labledger.api.schemas.base import shaped
from labledger.audit.checkpoints import parse_checkpoint
from labledger.audit.queries import AuditFilter, parse_time, search_events
from labledger.audit.verify import verify
from labledger.db.engine import Database
from labledger.errors import Forbidden
from labledger.identity.principal import READ_AUDIT, Principal
from labledger.params import BeforeCursor, Count, OptionalRowId


class AuditController(Controller):
    path = "/audit"
    tags = ["audit trail"]

    @get("/", sync_to_thread=True, summary="Search the audit trail, newest first")
    def search(
        self,
        db: Database,
        principal: Principal,
        user: str | None = None,
        type: str | None = None,
        record_id: OptionalRowId = None,
        action: str | None = None,
        since: Annotated[str | None, QueryParameter(name="from")] = None,
        until: Annotated[str | None, QueryParameter(name="to")] = None,
        before: BeforeCursor = None,
        limit: Count = 100,
    ) -> AuditPage:
        query = AuditFilter(
            actor=user,
            type_key=type,
            record_id=record_id,
            action=action,
            since=parse_time("from", since),
            until=parse_time("to", until),
            before_seq=before,
            limit=limit,
        )
        with db.read() as conn:
            page = search_events(conn, principal, query)
        return shaped(page, AuditPage)

    @get(
        "/verify",
        sync_to_thread=True,
        summary="Verify the hash chain and every record, signature and definition it vouches for",
    )
    def verify(
        self, db: Database, principal: Principal, checkpoint: str | None = None
    ) -> VerifyReport:
        if not principal.has_permission(READ_AUDIT):
            raise Forbidden("Verifying the audit trail needs the 'read_audit' permission.")
        wanted = parse_checkpoint(checkpoint) if checkpoint else None
        with db.snapshot() as conn:
            report = verify(conn, checkpoint=wanted)
        return shaped(report.as_dict(), VerifyReport)
