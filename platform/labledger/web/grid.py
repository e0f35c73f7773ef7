"""Grid entry: the child records of one or several parents as rows, their fields as cells.

Any type with a reference field gets it (``?via=<field>`` picks the field
when there are several; ``?parent=<id>`` repeats for several parents, and
``?id=<id>`` means the same, as a list's selection sends it). A
person moves with Tab along a row and Enter down a column (app.js), and
each row saves by itself when one of its cells changes: the row posts its
values with the version it was loaded at, and the answer updates only the
row's version, computed cells, messages and status, never the inputs, so
what was typed stays, saved or not.

Cells are inputs for fields a person may change in the row's state;
computed fields, read-only fields, fields locked by the state and field
types that do not fit a cell (lists of choices, files) show their value.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Template
from msgspec import UnsetType
from sqlalchemy import Connection

from labledger.db.engine import Database
from labledger.errors import Conflict, FieldError, ServiceError, ValidationFailed
from labledger.identity.principal import Principal
from labledger.identity.sessions import WebSession
from labledger.metadata.model import TypeModel
from labledger.metadata.spec.fields import ReferenceField, TextField
from labledger.metadata.types import readable_model
from labledger.params import RowId
from labledger.records.preview import settled_hidden
from labledger.records.related import children_of, record_summaries
from labledger.records.service import get_record, update_record
from labledger.web.display import Formatter, Shown
from labledger.web.form_view import active_users
from labledger.web.forms import error_map, first, row_id, step_of, stored_as_form
from labledger.web.fragments import fragment
from labledger.web.pages import page
from labledger.web.record_form import Target, check_form, data_to_save
from labledger.web.records import state_labels
from labledger.workflows.bulk import steps_for

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
#: Field types that fit in a grid cell as an input.
CELL_TYPES = frozenset(
    {"text", "long_text", "integer", "decimal", "boolean", "date", "datetime", "choice"}
    | {"user", "reference"}
)
#: Most rows one grid shows.
GRID_LIMIT = 500


def reference_fields(model: TypeModel) -> list[str]:
    return [k for k, f in model.field_specs.items() if f.kind == "reference"]


def _reference(model: TypeModel, key: str) -> ReferenceField:
    """The reference field ``key`` (``choose_via`` made sure it is one)."""
    fdef = model.field_specs[key]
    assert isinstance(fdef, ReferenceField)
    return fdef


def choose_via(model: TypeModel, via: str | None) -> str | None:
    """The reference field that links rows to their parents (None: the person must choose)."""
    fields = reference_fields(model)
    if via:
        if via not in fields:
            raise ValidationFailed(
                f"{model.label} has no reference field '{via}'.",
                [FieldError("via", f"choose one of: {', '.join(fields) or 'none'}")],
            )
        return via
    if not fields:
        raise ValidationFailed(
            f"{model.spec.plural} have no reference field, so they have no parent "
            "records to enter them for."
        )
    return fields[0] if len(fields) == 1 else None


def cell_keys(conn: Connection, model: TypeModel, row: dict[str, Any], via: str) -> list[str]:
    """The fields of ``row`` that are inputs in the grid: editable and fit for a cell.

    A field shown only under a condition (``visible_if``) keeps its cell while
    the condition may come true as the row is typed (an explanation once a
    value is out of limits); one whose condition reads no input of the row
    (a result's text input, for a numeric analysis) has none. What a field
    holds is saved only while its condition holds.
    """
    editable = Target(model, row).editable(conn)
    hidden = settled_hidden(model, row["data"], editable)
    return [
        k
        for k in editable
        if k != via and k not in hidden and model.field_specs[k].kind in CELL_TYPES
    ]


def computed_cells(model: TypeModel, fmt: Formatter, data: dict[str, Any]) -> dict[str, Shown]:
    """The computed values of ``data`` as the row's computed cells show them."""
    return {
        k: fmt.value(f, data.get(k)) for k, f in model.field_specs.items() if f.kind == "computed"
    }


def grid_layout(model: TypeModel, via: str) -> tuple[list[str], list[str]]:
    """(context, columns): the type's grid layout (``grid`` in its metadata), else no
    context and every field in definition order; never the parent reference."""
    grid = model.spec.grid
    if isinstance(grid, UnsetType):
        return [], [k for k in model.field_specs if k != via]
    return [k for k in grid.context if k != via], [k for k in grid.columns if k != via]


class GridRow:
    """One record as a grid row: its inputs' text, the values shown as text, the answers a
    text cell offers, and the cells that show nothing for this record."""

    def __init__(
        self,
        conn: Connection,
        model: TypeModel,
        rec: dict[str, Any],
        via: str,
        fmt: Formatter,
        numbers: dict[int, str],
        may_edit: bool,
    ) -> None:
        data = rec["data"]
        self.rec = rec
        self.inputs = set(cell_keys(conn, model, rec, via)) if may_edit else set()
        self.hidden = settled_hidden(model, data, self.inputs)
        self.form = stored_as_form(model, data, numbers)
        self.shown = {k: fmt.value(f, data.get(k)) for k, f in model.field_specs.items()}
        self.offered = {
            k: f.offered(data)
            for k, f in model.field_specs.items()
            if isinstance(f, TextField) and f.options_from
        }


def _grid_context(
    conn: Connection,
    actor: Principal,
    model: TypeModel,
    via: str,
    parent_ids: list[int],
) -> dict[str, Any]:
    parent_type = _reference(model, via).to
    found = record_summaries(conn, actor, parent_ids)
    parents = [
        found[i] for i in dict.fromkeys(parent_ids) if found.get(i, {}).get("type") == parent_type
    ]
    records = children_of(conn, model, via, [p["id"] for p in parents], limit=GRID_LIMIT)
    datas = [r["data"] for r in records]
    fmt = Formatter.load(conn, actor, model, datas)
    numbers = {i: s["number"] for i, s in fmt.records.items()}
    may_edit = model.allows(actor, "edit")
    rows = [GridRow(conn, model, r, via, fmt, numbers, may_edit) for r in records]
    context, columns = grid_layout(model, via)
    users = active_users(conn) if any(model.field_specs[k].kind == "user" for k in columns) else []
    return {
        "model": model,
        "type_key": model.key,
        "via": via,
        "via_label": model.field_specs[via].label,
        "parent_type": readable_model(conn, actor, parent_type),
        "groups": [(p, [r for r in rows if r.rec["data"].get(via) == p["id"]]) for p in parents],
        "context": context,
        "columns": columns,
        "states": state_labels(conn, model),
        "truncated": len(records) >= GRID_LIMIT,
        "limit": GRID_LIMIT,
        "users": users,
        "step_of": step_of,
        "may_edit": may_edit,
        "steps": steps_for(conn, actor, model),
    }


class GridController(Controller):
    include_in_schema = False
    path = "/records/{type_key:str}/grid"

    @get("/", sync_to_thread=True)
    def grid(
        self, type_key: str, request: Request[Any, Any, Any], session: WebSession, db: Database
    ) -> Template:
        actor = session.principal
        params = request.query_params
        chosen = [*params.getall("parent", []), *params.getall("id", [])]
        parent_ids = [i for i in map(row_id, chosen) if i is not None]
        with db.read() as conn:
            model = readable_model(conn, actor, type_key)
            via = choose_via(model, params.get("via"))
            if via is None:
                choices = [(k, model.field_specs[k].label) for k in reference_fields(model)]
                return page(
                    "records/grid.html",
                    session,
                    model=model,
                    type_key=type_key,
                    choices=choices,
                    parent_ids=parent_ids,
                )
            context = _grid_context(conn, actor, model, via, parent_ids)
        return page("records/grid.html", session, choices=None, **context)

    @post("/{record_id:int}", sync_to_thread=True, status_code=200)
    def save_row(
        self,
        type_key: str,
        record_id: RowId,
        data: Form,
        request: Request[Any, Any, Any],
        session: WebSession,
        db: Database,
    ) -> Template:
        """Save one row; the answer updates its version, computed cells, messages and status."""
        actor = session.principal
        version = first(data, "version")
        via = request.query_params.get("via") or ""
        try:
            with db.write() as conn:
                model = readable_model(conn, actor, type_key)
                via = choose_via(model, via or None) or ""
                target = Target(model, get_record(conn, actor, type_key, record_id))
                keys = cell_keys(conn, model, target.row or {}, via)
                view = update_record(
                    conn,
                    actor,
                    type_key,
                    record_id,
                    data_to_save(conn, actor, target, data, keys),
                    expected_version=int(version) if version.isdigit() else -1,
                    reason=first(data, "reason"),
                )
                fmt = Formatter.load(conn, actor, model, [view["data"]])
        except ServiceError as exc:
            return self._refused(db, session, type_key, record_id, via, data, exc)
        computed = computed_cells(model, fmt, view["data"])
        return fragment(
            "records/_grid_save.html",
            session,
            record_id=record_id,
            version=view["version"],
            computed=computed,
            keys=keys,
            errors={},
            problem=None,
        )

    def _refused(
        self,
        db: Database,
        session: WebSession,
        type_key: str,
        record_id: int,
        via: str,
        form: dict[str, Any],
        exc: ServiceError,
    ) -> Template:
        """The row's messages for a refused save; its inputs keep what was typed.

        Computed cells show what the typed values give (an out-of-limits flag
        shows at once), though nothing was saved.
        """
        actor = session.principal
        with db.read() as conn:
            model = readable_model(conn, actor, type_key)
            row = get_record(conn, actor, type_key, record_id)
            keys = cell_keys(conn, model, row, via)
            typed = check_form(conn, actor, Target(model, row), form, keys).preview.data
            fmt = Formatter.load(conn, actor, model, [typed])
        computed = computed_cells(model, fmt, typed)
        per_field, _ = error_map(exc.errors)
        reason = per_field.pop("__reason", None)
        if isinstance(exc, Conflict):
            problem = f"{exc.detail} Your typed values are still in the row."
        elif reason:
            problem = f"Reason for change: {reason} (above the grid)."
        else:
            problem = exc.detail
        return fragment(
            "records/_grid_save.html",
            session,
            status_code=exc.status,
            record_id=record_id,
            version=None,
            computed=computed,
            keys=keys,
            errors=per_field,
            problem=problem,
        )


CONTROLLERS = [GridController]
