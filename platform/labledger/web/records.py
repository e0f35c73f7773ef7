"""Record pages every type gets: the list, the record, its print view, CSV and files.

Nothing here is written for a particular type: columns, filters, sections,
labels and buttons all come from the type's metadata and its workflow, and
every answer comes from the same services the JSON API calls.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get
from litestar.response import Stream, Template
from sqlalchemy import Connection

from labledger.audit.queries import record_history
from labledger.db.engine import Database
from labledger.db.types import utc_now
from labledger.errors import ValidationFailed
from labledger.identity.principal import Principal
from labledger.identity.sessions import WebSession
from labledger.metadata.fieldtypes import FIELD_TYPES
from labledger.metadata.model import TypeModel
from labledger.metadata.spec.fields import ComputedField, FieldSpec
from labledger.metadata.types import list_types, readable_model
from labledger.params import RowId
from labledger.printing.templates import list_print_templates
from labledger.records.attachments import read_attachment
from labledger.records.csv_export import csv_export
from labledger.records.modified import modified_fields
from labledger.records.origin import migration_notice, migrations_of
from labledger.records.preview import visible_fields
from labledger.records.query import ListQuery, list_records
from labledger.records.related import referencing_records, referencing_types
from labledger.records.search import MAX_MATCHES, records_starting_with
from labledger.records.service import expression_context, state_rules
from labledger.web.display import Formatter, sections, utc_text
from labledger.web.downloads import attachment_download
from labledger.web.fragments import fragment, is_htmx
from labledger.web.history import history_view
from labledger.web.pages import page
from labledger.web.record_form import child_forms
from labledger.workflows.bulk import steps_for
from labledger.workflows.engine import available_transitions, record_with_signatures
from labledger.workflows.model import workflow_model
from labledger.workflows.signatures import status_text
from labledger.workflows.work import overdue_check

#: Sort orders every list offers besides its filterable fields.
BASE_SORTS = [
    ("-created_at", "Newest first"),
    ("created_at", "Oldest first"),
    ("-updated_at", "Recently changed"),
    ("number", "Number"),
]
#: Filter kinds that take a range (from, to) instead of one value.
RANGE_TYPES = ("integer", "decimal", "date", "datetime")


def state_labels(conn: Connection, model: TypeModel) -> dict[str, str]:
    """State key -> label in the type's workflow (empty without a workflow)."""
    if not model.workflow:
        return {}
    return {k: s.label for k, s in workflow_model(conn, model.workflow).state_specs.items()}


def list_params(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The list's query parameters that hold a value (an empty filter input filters nothing)."""
    return {k: v for k, v in request.query_params.items() if v.strip()}


class Filter:
    """One filter input of a list page, from a filterable field."""

    def __init__(self, key: str, fdef: FieldSpec, params: dict[str, str]) -> None:
        self.key = key
        self.fdef = fdef
        #: The kind of value compared: a computed field's result type, else the field's kind.
        self.compared = fdef.result_type if isinstance(fdef, ComputedField) else fdef.kind
        self.ranged = fdef.kind in RANGE_TYPES or (
            isinstance(fdef, ComputedField) and self.compared in ("number", "date")
        )
        self.value = params.get(key, "")
        self.low = params.get(f"{key}__gte", "")
        self.high = params.get(f"{key}__lte", "")

    @property
    def input_type(self) -> str:
        return "date" if self.compared == "date" else "text"

    @property
    def yes_no(self) -> bool:
        return self.compared == "boolean"


def _list_context(
    conn: Connection, actor: Principal, model: TypeModel, params: dict[str, str]
) -> dict[str, Any]:
    columns = [k for k, f in model.field_specs.items() if f.in_list]
    query, errors = ListQuery(), []
    try:
        query = ListQuery.from_params(params)
        result = list_records(conn, model, query, actor=actor)
    except ValidationFailed as exc:
        result, errors = {"items": [], "next": None}, exc.errors
    without_cursor = {k: v for k, v in params.items() if k != "cursor"}
    filterable = [k for k, f in model.field_specs.items() if f.filterable]
    return {
        "model": model,
        "type_key": model.key,
        "columns": columns,
        "items": result["items"],
        "errors": errors,
        "fmt": Formatter.load(conn, actor, model, [i["data"] for i in result["items"]]),
        "states": state_labels(conn, model),
        "filters": [Filter(k, model.field_specs[k], params) for k in filterable],
        "params": params,
        "sorts": BASE_SORTS
        + [
            (f"{sign}{k}", f"{model.field_specs[k].label} {word}")
            for k in filterable
            for sign, word in (("", "(ascending)"), ("-", "(descending)"))
        ],
        "sort": query.sort,
        "query_string": urlencode(without_cursor),
        "next_url": f"?{urlencode({**without_cursor, 'cursor': result['next']})}"
        if result["next"]
        else None,
        "first_url": f"?{urlencode(without_cursor)}" if params.get("cursor") else None,
        "may_create": model.allows(actor, "create"),
        "children": referencing_types(conn, actor, model.key),
        "steps": steps_for(conn, actor, model),
        "overdue": overdue_check(conn, model),
    }


def _since_last_signature(events: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Changes made after the last signature (None when the record was never signed)."""
    signed = [i for i, e in enumerate(events) if e["action"] == "record.sign"]
    if not signed:
        return None
    return [e for e in events[signed[-1] + 1 :] if e["changes"]]


def _editable_now(conn: Connection, model: TypeModel, state: str | None) -> bool:
    """Whether the record's state leaves any field a person could change."""
    rules = state_rules(conn, model, state)
    return any(
        FIELD_TYPES[f.kind].accepts_input
        and k not in rules.locked | rules.system_set
        and not f.read_only
        for k, f in model.field_specs.items()
    )


def _migration_notice(conn: Connection, rec: dict[str, Any]) -> str | None:
    marker = migrations_of(conn, [rec["id"]]).get(rec["id"])
    return None if marker is None else migration_notice(rec["number"], marker)


def record_context(
    conn: Connection, actor: Principal, type_key: str, record_id: int
) -> dict[str, Any]:
    """Everything the record page and its print view show."""
    model = readable_model(conn, actor, type_key)
    rec = record_with_signatures(conn, actor, type_key, record_id)
    base = f"/records/{type_key}/{record_id}"
    states = state_labels(conn, model)
    data = rec["data"]
    shown = visible_fields(model, {**data, **expression_context(actor, rec)})
    fmt = Formatter.load(conn, actor, model, [data], f"{base}/attachments")
    groups = [
        (
            label,
            [(model.field_specs[k], fmt.value(model.field_specs[k], data.get(k))) for k in keys],
        )
        for label, keys in sections(model, [k for k in model.field_specs if k in shown])
    ]
    transitions = available_transitions(conn, actor, type_key, record_id) if model.workflow else []
    for transition in transitions:
        transition["to_label"] = states.get(transition["to"], transition["to"])
    history = history_view(
        conn,
        actor,
        model,
        record_history(conn, actor, type_key, record_id),
        states,
        f"{base}/attachments",
    )
    referencing = referencing_records(conn, actor, record_id)
    for group in referencing:
        child = readable_model(conn, actor, group["type"])
        group["model"] = child
        group["states"] = state_labels(conn, child)
        group["columns"] = [
            k for k, f in child.field_specs.items() if f.in_list and k != group["field"]
        ]
        group["fmt"] = Formatter.load(conn, actor, child, [i["data"] for i in group["items"]])
    signatures = [
        {
            **sig,
            "when": utc_text(sig["signed_at"]),
            "status_text": status_text(sig["status"]),
        }
        for sig in rec["signatures"]
    ]
    return {
        "model": model,
        "type_key": type_key,
        "rec": rec,
        "base": base,
        "state_label": states.get(rec["state"] or "", rec["state"]),
        "overdue": overdue_check(conn, model)(rec),
        "groups": groups,
        "transitions": transitions,
        "signatures": signatures,
        "history": history,
        "since_signature": _since_last_signature(history),
        "referencing": referencing,
        "may_edit": model.allows(actor, "edit") and _editable_now(conn, model, rec["state"]),
        "print_templates": list_print_templates(conn, actor, type_key),
        "child_forms": child_forms(conn, actor, type_key, record_id),
        "migration": _migration_notice(conn, rec),
        "modified": modified_fields(conn, [record_id]).get(record_id, {}),
        "created": utc_text(rec["created_at"]),
        "updated": utc_text(rec["updated_at"]),
    }


class RecordPagesController(Controller):
    include_in_schema = False
    path = "/records"

    @get("/", sync_to_thread=True)
    def types(self, session: WebSession, db: Database) -> Template:
        with db.read() as conn:
            types = list_types(conn, session.principal)
            for item in types:
                item["may_create"] = readable_model(conn, session.principal, item["key"]).allows(
                    session.principal, "create"
                )
        return page("records/types.html", session, types=types)

    @get("/{type_key:str}", sync_to_thread=True)
    def list(
        self, type_key: str, request: Request[Any, Any, Any], session: WebSession, db: Database
    ) -> Template:
        with db.read() as conn:
            model = readable_model(conn, session.principal, type_key)
            context = _list_context(conn, session.principal, model, list_params(request))
        status = 422 if context["errors"] else 200
        if is_htmx(request):
            return fragment("records/_results.html", session, status_code=status, **context)
        return page("records/list.html", session, status_code=status, **context)

    @get("/{type_key:str}/export.csv", sync_to_thread=True)
    def export(
        self, type_key: str, request: Request[Any, Any, Any], session: WebSession, db: Database
    ) -> Stream:
        query = ListQuery.from_params(list_params(request))
        lines = csv_export(db, session.principal, type_key, query)
        return Stream(
            _with_bom(lines),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{type_key}.csv"',
                "X-Content-Type-Options": "nosniff",
            },
        )

    @get("/{type_key:str}/choices", sync_to_thread=True)
    def choices(
        self, type_key: str, request: Request[Any, Any, Any], session: WebSession, db: Database
    ) -> Template:
        """Options for a reference picker: records of the type whose number or title starts
        with the typed text (before anything is typed: the newest)."""
        field = request.query_params.get("field", "")
        text = (request.query_params.get(field) or request.query_params.get("q") or "").strip()
        with db.read() as conn:
            model = readable_model(conn, session.principal, type_key)
            items = (
                records_starting_with(conn, model, text)
                if text
                else list_records(conn, model, ListQuery(limit=MAX_MATCHES))["items"]
            )
        return fragment("records/_choices.html", session, items=items)

    @get("/{type_key:str}/{record_id:int}", sync_to_thread=True)
    def show(self, type_key: str, record_id: RowId, session: WebSession, db: Database) -> Template:
        with db.read() as conn:
            context = record_context(conn, session.principal, type_key, record_id)
        return page("records/record.html", session, **context)

    @get("/{type_key:str}/{record_id:int}/print", sync_to_thread=True)
    def print_view(
        self, type_key: str, record_id: RowId, session: WebSession, db: Database
    ) -> Template:
        with db.read() as conn:
            context = record_context(conn, session.principal, type_key, record_id)
        return page("records/print.html", session, printed=utc_text(utc_now()), **context)

    @get("/{type_key:str}/{record_id:int}/attachments/{attachment_id:int}", sync_to_thread=True)
    def download(
        self,
        type_key: str,
        record_id: RowId,
        attachment_id: RowId,
        session: WebSession,
        db: Database,
    ) -> Response[bytes]:
        with db.read() as conn:
            found = read_attachment(conn, session.principal, attachment_id)
        return attachment_download(found)


def _with_bom(lines: Any) -> Any:
    """A byte order mark first, so spreadsheet programs read the file as UTF-8."""
    yield "\ufeff"
    yield from lines


CONTROLLERS = [RecordPagesController]
