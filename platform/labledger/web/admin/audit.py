"""The system-wide audit trail in the browser, and the verification of its hash chain.

Filters and paging are those of ``audit.queries.search_events`` (the same as
``GET /api/v1/audit``): newest first, a page at a time, each page ending
where the next begins. Record events read as on the record's own page
(``web.history``): type label and number, field, state and step labels,
values formatted. Verifying the chain reads every event, so it runs when
asked, not on every page.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template
from sqlalchemy import Connection

from labledger.audit.checkpoints import parse_checkpoint
from labledger.audit.queries import AuditFilter, parse_time, search_events
from labledger.audit.verify import verify
from labledger.db.engine import Database
from labledger.errors import NotFound, ValidationFailed
from labledger.identity.principal import READ_AUDIT, Principal
from labledger.identity.sessions import WebSession
from labledger.identity.users import list_users
from labledger.metadata import versions
from labledger.metadata.model import TypeModel
from labledger.metadata.types import KIND as TYPE_KIND
from labledger.metadata.types import type_model
from labledger.params import BeforeCursor
from labledger.records.lookup import record_id_by_number
from labledger.web.admin.common import (
    Problems,
    compact_json,
    page_links,
    render,
    require_permission,
)
from labledger.web.display import EMPTY, Shown, utc_text
from labledger.web.history import Change, HistoryLabels
from labledger.web.pages import page
from labledger.web.records import state_labels

WHAT = "The system-wide audit trail"
PAGE_SIZE = 50
FILTERS = ("user", "type", "record", "action", "since", "until")


def change_rows(changes: Any) -> list[Change]:
    """The changes of an event no type describes, by key and as stored.

    Configuration publishes hold a definition diff (``added``, ``removed``,
    ``changed``); record events of a type that is no longer defined hold
    ``{field: {"old", "new"}}``.
    """
    if not isinstance(changes, dict):
        return []

    def shown(value: Any) -> Shown:
        return EMPTY if value is None else Shown(compact_json(value))

    rows = []
    for name, value in changes.items():
        if isinstance(value, dict) and value and set(value) <= {"old", "new"}:
            rows.append(Change(name, shown(value.get("old")), shown(value.get("new"))))
        elif name in ("added", "removed") and isinstance(value, dict):
            rows += [
                Change(f"{group} {name}", EMPTY, Shown(", ".join(map(str, keys))))
                for group, keys in value.items()
            ]
        elif name == "changed" and isinstance(value, dict):
            rows += [
                Change(path, shown(v.get("old")), shown(v.get("new")))
                for path, v in value.items()
                if isinstance(v, dict)
            ]
        else:
            rows.append(Change(name, EMPTY, shown(value)))
    return rows


def _models(conn: Connection, keys: set[str]) -> dict[str, TypeModel]:
    """The current model of each type among ``keys`` that is still defined."""
    models = {}
    for key in keys:
        try:
            models[key] = type_model(conn, key)
        except NotFound:
            continue
    return models


def readable_events(
    conn: Connection, actor: Principal, events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A page of events as the record page's history shows them, with the type's label.

    Labels and the records values point at are looked up once per type on the
    page, so a page costs a few queries per type, however many events it holds.
    An event of a type no longer defined shows its keys and values as stored.
    """
    models = _models(conn, {e["type"] for e in events if e["type"]})
    of_records: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        if event["record_id"] is not None and event["type"] in models:
            of_records.setdefault(event["type"], []).append(event)
    labels = {
        key: HistoryLabels.load(conn, actor, models[key], group, state_labels(conn, models[key]))
        for key, group in of_records.items()
    }
    rows = []
    for event in events:
        found = labels.get(event["type"]) if event["record_id"] is not None else None
        shown = (
            found.view(event)
            if found
            else {
                "when": utc_text(event["occurred_at"]),
                "label": event["action"],
                "changes": change_rows(event["changes"]),
            }
        )
        model = models.get(event["type"])
        rows.append({**event, **shown, "type_label": model.label if model else event["type"]})
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
            # The user filter's choices, and the printed name shown beside each actor.
            names = {u["username"]: u["full_name"] for u in list_users(conn)}
            # The type filter's choices, by label (a removed type keeps its key).
            types = {key: type_model(conn, key).label for key in versions.keys(conn, TYPE_KIND)}
            events = readable_events(conn, session.principal, result["items"])
        filters = {k: v for k, v in chosen.items() if v}
        return page(
            "admin/audit.html",
            session,
            status_code=422 if problems else 200,
            chosen=chosen,
            events=events,
            **page_links("/audit", filters, result["next"], before),
            problems=problems,
            note=note,
            names=names,
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
