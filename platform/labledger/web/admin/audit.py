"""The system-wide audit trail in the browser, and the verification of its hash chain.

Filters and paging are those of ``audit.queries.search_events`` (the same as
``GET /api/v1/audit``): newest first, a page at a time, each page ending
where the next begins. Verifying the chain reads every event, so it runs
when asked, not on every page.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from labledger.audit.checkpoints import parse_checkpoint
from labledger.audit.queries import AuditFilter, parse_time, search_events
from labledger.audit.verify import verify
from labledger.db.engine import Database
from labledger.errors import ValidationFailed
from labledger.identity.principal import READ_AUDIT
from labledger.identity.sessions import WebSession
from labledger.identity.users import list_users
from labledger.metadata import versions
from labledger.metadata.types import KIND as TYPE_KIND
from labledger.params import BeforeCursor
from labledger.records.lookup import record_id_by_number
from labledger.web.admin.common import (
    Problems,
    compact_json,
    page_links,
    render,
    require_permission,
)
from labledger.web.pages import page

WHAT = "The system-wide audit trail"
PAGE_SIZE = 50
FILTERS = ("user", "type", "record", "action", "since", "until")


def change_rows(changes: Any) -> list[tuple[str, str, str]]:
    """(what, old, new) rows of an event's changes, for record and configuration events.

    Record events hold ``{field: {"old", "new"}}``; configuration publishes
    hold a definition diff (``added``, ``removed``, ``changed``).
    """
    if not isinstance(changes, dict):
        return []

    def shown(value: Any) -> str:
        return "—" if value is None else compact_json(value)

    rows = []
    for name, value in changes.items():
        if isinstance(value, dict) and value and set(value) <= {"old", "new"}:
            rows.append((name, shown(value.get("old")), shown(value.get("new"))))
        elif name in ("added", "removed") and isinstance(value, dict):
            rows += [
                (f"{group} {name}", "", ", ".join(map(str, keys))) for group, keys in value.items()
            ]
        elif name == "changed" and isinstance(value, dict):
            rows += [
                (path, shown(v.get("old")), shown(v.get("new")))
                for path, v in value.items()
                if isinstance(v, dict)
            ]
        else:
            rows.append((name, "", shown(value)))
    return rows


def _moment(raw: str) -> str:
    """A time from the form's UTC date-time input, given its zone for the query service."""
    has_zone = raw.endswith("Z") or "+" in raw[10:] or "-" in raw[10:]
    return raw if not raw or has_zone else f"{raw}Z"


class AuditPagesController(Controller):
    path = "/audit"
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def search(
        self,
        request: Request[Any, Any, Any],
        session: WebSession,
        db: Database,
        before: BeforeCursor = None,
    ) -> Template:
        require_permission(session.principal, READ_AUDIT, WHAT)
        chosen = {name: request.query_params.get(name, "").strip() for name in FILTERS}
        problems = Problems.none()
        result: dict[str, Any] = {"items": [], "next": None}
        note = None
        with db.read() as conn:
            record = chosen["record"]
            record_id = int(record) if record.isdigit() else None
            if record and record_id is None:
                record_id = record_id_by_number(conn, record)
                if record_id is None:
                    note = f"There is no record numbered {record}."
            try:
                query = AuditFilter(
                    actor=chosen["user"] or None,
                    type_key=chosen["type"] or None,
                    record_id=record_id,
                    action=chosen["action"] or None,
                    since=parse_time("since", _moment(chosen["since"])),
                    until=parse_time("until", _moment(chosen["until"])),
                    before_seq=before,
                    limit=PAGE_SIZE,
                )
                if note is None:
                    result = search_events(conn, session.principal, query)
            except ValidationFailed as exc:
                problems = Problems(exc.errors)
            users = [u["username"] for u in list_users(conn)]
            types = versions.keys(conn, TYPE_KIND)
        filters = {k: v for k, v in chosen.items() if v}
        return page(
            "admin/audit.html",
            session,
            status_code=422 if problems else 200,
            chosen=chosen,
            events=[{**e, "rows": change_rows(e["changes"])} for e in result["items"]],
            **page_links("/audit", filters, result["next"], before),
            problems=problems,
            note=note,
            users=users,
            types=types,
        )

    @get("/verify", sync_to_thread=True)
    def verify(
        self,
        request: Request[Any, Any, Any],
        session: WebSession,
        db: Database,
        checkpoint: str = "",
    ) -> Template:
        """Check the chain and every row it vouches for; list what is not as it says."""
        require_permission(session.principal, READ_AUDIT, "Verifying the audit trail")
        problems, report = Problems.none(), None
        try:
            wanted = parse_checkpoint(checkpoint) if checkpoint.strip() else None
        except ValidationFailed as exc:
            problems = Problems(exc.errors)
        else:
            with db.snapshot() as conn:
                report = verify(conn, checkpoint=wanted)
        return render(
            request,
            session,
            "admin/audit_verify.html",
            "admin/_audit_verify.html",
            status_code=422 if problems else 200,
            report=report,
            checkpoint=checkpoint,
            problems=problems,
        )
