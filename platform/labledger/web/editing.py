"""Creating and editing records in a form drawn from the type's fields.

While a person types, the form posts itself to a validate address (htmx, on
change and after a pause in typing) and gets back only the parts that
change: error messages next to the fields touched so far, computed values,
required markers and fields that appear or disappear. The inputs themselves
are never replaced while someone types in them. The answer comes from
``records.preview``, that is from the service's own checks.

On submit the form is parsed into typed data and handed to the record
service. A refused save shows the form again with every message and the
values as typed; a save that lost a race with someone else's (409) keeps
the typed values, shows what was saved meanwhile and takes the new version,
so saving again is a deliberate choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from anyio.to_thread import run_sync
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from sqlalchemy import Connection

from labledger.db.engine import Database
from labledger.errors import Conflict, FieldError, Forbidden, ServiceError, ValidationFailed
from labledger.identity.principal import Principal
from labledger.identity.sessions import WebSession
from labledger.identity.users import list_users
from labledger.metadata.model import TypeModel
from labledger.metadata.types import readable_model
from labledger.params import RowId
from labledger.records.attachments import store_attachment
from labledger.records.preview import Preview, preview_record
from labledger.records.related import attachment_summaries, record_summaries
from labledger.records.service import (
    StateRules,
    create_record,
    get_record,
    state_rules,
    update_record,
)
from labledger.settings import Settings
from labledger.web.display import Formatter, ids_of, sections
from labledger.web.forms import (
    TIME_ZONES,
    TZ_SUFFIX,
    FormField,
    changed_only,
    error_map,
    first,
    form_text,
    input_keys,
    parse_form,
    same_value,
    step_of,
    stored_as_form,
    values_of,
)
from labledger.web.fragments import fragment
from labledger.web.pages import page
from labledger.web.records import state_labels

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
#: Hidden inputs the form uses for itself.
TOUCHED, SHOWN = "__touched", "__shown"


@dataclass
class Target:
    """What a form edits: a new record of a type, or one record at one version."""

    model: TypeModel
    row: dict[str, Any] | None = None

    @property
    def creating(self) -> bool:
        return self.row is None

    def rules(self, conn: Connection) -> StateRules:
        return state_rules(conn, self.model, None if self.row is None else self.row["state"])

    def editable(self, conn: Connection) -> list[str]:
        """The fields the form has inputs for: never a field only the system sets
        (a new record: every other field a person types)."""
        rules = self.rules(conn)
        keys = [k for k in input_keys(self.model) if k not in rules.system_set]
        if self.row is None:
            return keys
        return [
            k for k in keys if k not in rules.locked and not self.model.fields[k].get("read_only")
        ]

    def system_set_given(self, conn: Connection, form: dict[str, Any]) -> list[str]:
        """System-set fields the posted form gives a value anyway (no input offers
        them): they are handed to the service, which refuses them by name."""
        return [k for k in sorted(self.rules(conn).system_set) if any(values_of(form, k))]

    def base(self) -> str:
        key = self.model.key
        return f"/records/{key}/new" if self.row is None else f"/records/{key}/{self.row['id']}"


def _target(conn: Connection, actor: Principal, type_key: str, record_id: int | None) -> Target:
    model = readable_model(conn, actor, type_key)
    action = "create" if record_id is None else "edit"
    if not model.allows(actor, action):
        raise Forbidden(f"You may not {action} {model.definition['plural']}.")
    if record_id is None:
        return Target(model)
    return Target(model, get_record(conn, actor, type_key, record_id))


@dataclass
class Checked:
    """A posted form, parsed and previewed."""

    preview: Preview
    #: Inputs that are not even a number (the service never sees them).
    parse_errors: list[FieldError]
    #: Replaces the preview's errors with those of a refused save.
    refused: list[FieldError] | None = None

    @property
    def errors(self) -> list[FieldError]:
        found = self.preview.errors if self.refused is None else self.refused
        unread = {e.field for e in self.parse_errors}
        return self.parse_errors + [e for e in found if e.field not in unread]


def _parsed(
    target: Target, form: dict[str, Any], keys: list[str]
) -> tuple[dict[str, Any], list[FieldError]]:
    """Typed values of the posted fields that were read: a new record's filled-in
    values, or an edit's real changes."""
    data, unread = parse_form(target.model, form, keys)
    bad = {e.field for e in unread}
    if target.row is not None:
        data = changed_only(target.model, target.row["data"], data)
    else:
        data = {k: v for k, v in data.items() if v is not None}
    return {k: v for k, v in data.items() if f"data.{k}" not in bad}, unread


def _visible_only(
    conn: Connection, actor: Principal, target: Target, data: dict[str, Any], limit: int
) -> tuple[dict[str, Any], Preview]:
    """``data`` without the fields its values hide (``visible_if``), and its preview.

    A field the person could not see is never saved.
    """
    record_id = target.row["id"] if target.row else None
    preview = preview_record(
        conn, actor, target.model.key, data, record_id=record_id, attachment_limit=limit
    )
    if all(k in preview.visible for k in data):
        return data, preview
    data = {k: v for k, v in data.items() if k in preview.visible}
    return data, preview_record(
        conn, actor, target.model.key, data, record_id=record_id, attachment_limit=limit
    )


def check_form(
    conn: Connection,
    actor: Principal,
    target: Target,
    form: dict[str, Any],
    limit: int,
    keys: list[str] | None = None,
) -> Checked:
    """Parse the posted fields (``keys``, by default every editable one) and run the
    service's checks on them, writing nothing: what a form shows."""
    data, unread = _parsed(target, form, target.editable(conn) if keys is None else keys)
    _, preview = _visible_only(conn, actor, target, data, limit)
    return Checked(preview, unread)


def data_to_save(
    conn: Connection,
    actor: Principal,
    target: Target,
    form: dict[str, Any],
    limit: int,
    keys: list[str] | None = None,
) -> dict[str, Any]:
    """The typed data of a posted form, for the record service to check and store.

    Text that is no number is refused here, with every other message of the
    form at once. The preview runs only where fields may be hidden: the
    service checks everything else itself.
    """
    keys = (target.editable(conn) if keys is None else keys) + target.system_set_given(conn, form)
    data, unread = _parsed(target, form, keys)
    if unread:
        raise ValidationFailed(
            "Some values could not be read.",
            check_form(conn, actor, target, form, limit, keys).errors,
        )
    if any(f.get("visible_if") for f in target.model.fields.values()):
        data, _ = _visible_only(conn, actor, target, data, limit)
    return data


def _field_list(
    conn: Connection,
    actor: Principal,
    target: Target,
    form: dict[str, Any],
    preview: Preview,
    errors: dict[str, str],
    now: dict[str, Any] | None = None,
) -> list[FormField]:
    model = target.model
    editable = set(target.editable(conn))
    system_set = target.rules(conn).system_set
    stored = target.row["data"] if target.row else {}
    states = state_labels(conn, model)
    attachment_ids = {
        int(v)
        for k, f in model.fields.items()
        if f["type"] == "attachment"
        for v in values_of(form, k)
        if v.isdigit()
    }
    fmt = Formatter(
        record_summaries(conn, actor, ids_of(model, [stored], "reference")),
        attachment_summaries(conn, attachment_ids | ids_of(model, [stored], "attachment")),
        None,
    )
    fields = []
    for key, fdef in model.fields.items():
        item = FormField(
            key=key,
            fdef=fdef,
            raw=values_of(form, key) if fdef["type"] == "multi_choice" else first(form, key),
            zone=first(form, key + TZ_SUFFIX) or "Z",
            error=errors.get(key),
            visible=key in preview.visible,
            required=key in preview.required,
        )
        if fdef["type"] == "computed":
            item.locked = "computed"
            item.shown = fmt.value(fdef, preview.data.get(key))
        elif key not in editable:
            item.locked = _why_locked(target, key, system_set, states)
            item.shown = fmt.value(fdef, stored.get(key))
        elif fdef["type"] == "attachment":
            chosen = first(form, key)
            item.shown = fmt.value(fdef, int(chosen)) if chosen.isdigit() else None
        if now and key in now:
            item.now = fmt.value(fdef, now[key])
        fields.append(item)
    return fields


def _why_locked(
    target: Target, key: str, system_set: frozenset[str], states: dict[str, str]
) -> str:
    """Why the form shows a field's value instead of an input."""
    if key in system_set:
        return "set by the system (a workflow step)"
    if target.model.fields[key].get("read_only"):
        return "read-only once the record is created"
    state = target.row["state"] if target.row else None
    return f"locked in state {states.get(state or '', state)}"


def _form_context(
    conn: Connection,
    actor: Principal,
    target: Target,
    form: dict[str, Any],
    checked: Checked,
    *,
    show_errors: bool,
    message: str | None = None,
    now: dict[str, Any] | None = None,
    with_users: bool = True,
) -> dict[str, Any]:
    per_field, other = error_map(checked.errors)
    if not show_errors:
        per_field, other = {}, []
    fields = _field_list(conn, actor, target, form, checked.preview, per_field, now)
    by_key = {f.key: f for f in fields}
    hidden_errors = [
        f"{f.fdef['label']}: {f.error}" for f in fields if f.error and (not f.visible or f.locked)
    ]
    users = active_users(conn) if with_users and _has(target.model, "user") else []
    model = target.model
    return {
        "model": model,
        "type_key": model.key,
        "target": target,
        "rec": target.row,
        "groups": [
            (label, [by_key[k] for k in keys]) for label, keys in sections(model, model.fields)
        ],
        "fields": fields,
        "form_errors": other + hidden_errors,
        "reason_error": per_field.get("__reason"),
        "reason": first(form, "reason"),
        "version": first(form, "version") or (target.row["version"] if target.row else ""),
        "message": message,
        "users": users,
        "zones": TIME_ZONES,
        "step_of": step_of,
        "action": target.base() if target.creating else f"{target.base()}/edit",
        "validate_url": f"/records/{model.key}/validate"
        if target.creating
        else f"{target.base()}/validate",
    }


def active_users(conn: Connection) -> list[dict[str, Any]]:
    """The people a user field may name."""
    return [u for u in list_users(conn) if u["active"]]


def _has(model: TypeModel, field_type: str) -> bool:
    return any(f["type"] == field_type for f in model.fields.values())


def _initial_form(
    conn: Connection, actor: Principal, target: Target, prefill: dict[str, str]
) -> dict[str, Any]:
    """The inputs' first values: the record as stored, or defaults and prefilled values."""
    model = target.model
    if target.row is not None:
        data = target.row["data"]
        numbers = record_summaries(conn, actor, ids_of(model, [data], "reference"))
        return stored_as_form(model, data, {i: s["number"] for i, s in numbers.items()})
    form: dict[str, Any] = {}
    for key in input_keys(model):
        fdef = model.fields[key]
        if key in prefill:
            form[key] = prefill[key]
        elif fdef.get("default") is not None:
            form[key] = form_text(fdef, fdef["default"], {})
    return form


class RecordFormController(Controller):
    include_in_schema = False
    path = "/records/{type_key:str}"

    def _render(
        self,
        db: Database,
        session: WebSession,
        settings: Settings,
        type_key: str,
        record_id: int | None,
        form: dict[str, Any],
        *,
        errors: list[FieldError] | None = None,
        status_code: int = 200,
        message: str | None = None,
        now: dict[str, Any] | None = None,
    ) -> Template:
        actor = session.principal
        with db.read() as conn:
            target = _target(conn, actor, type_key, record_id)
            checked = check_form(conn, actor, target, form, settings.attachment_max_bytes)
            if errors is not None:
                checked.parse_errors, checked.refused = [], errors
            context = _form_context(
                conn,
                actor,
                target,
                form,
                checked,
                show_errors=errors is not None,
                message=message,
                now=now,
            )
        return page("records/form.html", session, status_code=status_code, **context)

    @get("/new", sync_to_thread=True)
    def new(
        self,
        type_key: str,
        request: Request,
        session: WebSession,
        db: Database,
        settings: Settings,
    ) -> Template:
        with db.read() as conn:
            target = _target(conn, session.principal, type_key, None)
            prefill = {
                k: v for k, v in request.query_params.items() if k in target.model.fields and v
            }
            form = _initial_form(conn, session.principal, target, prefill)
        return self._render(db, session, settings, type_key, None, form)

    @post("/new", sync_to_thread=True)
    def create(
        self, type_key: str, data: Form, session: WebSession, db: Database, settings: Settings
    ) -> Response[Any]:
        actor = session.principal
        try:
            with db.write() as conn:
                target = _target(conn, actor, type_key, None)
                view = create_record(
                    conn,
                    actor,
                    type_key,
                    data_to_save(conn, actor, target, data, settings.attachment_max_bytes),
                    attachment_limit=settings.attachment_max_bytes,
                )
        except ValidationFailed as exc:
            return self._render(
                db, session, settings, type_key, None, data, errors=exc.errors, status_code=422
            )
        return Redirect(f"/records/{type_key}/{view['id']}", status_code=303)

    @get("/{record_id:int}/edit", sync_to_thread=True)
    def edit(
        self,
        type_key: str,
        record_id: RowId,
        session: WebSession,
        db: Database,
        settings: Settings,
    ) -> Template:
        with db.read() as conn:
            target = _target(conn, session.principal, type_key, record_id)
            form = _initial_form(conn, session.principal, target, {})
        return self._render(db, session, settings, type_key, record_id, form)

    @post("/{record_id:int}/edit", sync_to_thread=True)
    def update(
        self,
        type_key: str,
        record_id: RowId,
        data: Form,
        session: WebSession,
        db: Database,
        settings: Settings,
    ) -> Response[Any]:
        actor = session.principal
        version = first(data, "version")
        try:
            with db.write() as conn:
                target = _target(conn, actor, type_key, record_id)
                update_record(
                    conn,
                    actor,
                    type_key,
                    record_id,
                    data_to_save(conn, actor, target, data, settings.attachment_max_bytes),
                    expected_version=int(version) if version.isdigit() else -1,
                    reason=first(data, "reason"),
                    attachment_limit=settings.attachment_max_bytes,
                )
        except ValidationFailed as exc:
            return self._render(
                db, session, settings, type_key, record_id, data, errors=exc.errors, status_code=422
            )
        except Conflict as exc:
            return self._conflict(db, session, settings, type_key, record_id, data, exc)
        return Redirect(f"/records/{type_key}/{record_id}", status_code=303)

    def _conflict(
        self,
        db: Database,
        session: WebSession,
        settings: Settings,
        type_key: str,
        record_id: int,
        data: dict[str, Any],
        exc: Conflict,
    ) -> Template:
        """Keep what was typed, show what was saved meanwhile, and take the new version."""
        current = exc.extra["current"]
        with db.read() as conn:
            target = _target(conn, session.principal, type_key, record_id)
            typed, _ = parse_form(target.model, data, target.editable(conn))
        now = {
            k: current["data"].get(k)
            for k, v in typed.items()
            if not same_value(target.model.fields[k], current["data"].get(k), v)
        }
        form = {**data, "version": str(current["version"])}
        message = (
            f"{exc.detail} Your values are kept below; where someone else saved a different "
            "value it is shown under the field. Saving again replaces their values with yours."
        )
        return self._render(
            db,
            session,
            settings,
            type_key,
            record_id,
            form,
            errors=[],
            status_code=409,
            message=message,
            now=now,
        )

    @post("/validate", sync_to_thread=True)
    def validate_new(
        self, type_key: str, data: Form, session: WebSession, db: Database, settings: Settings
    ) -> Template:
        return self._validate(db, session, settings, type_key, None, data)

    @post("/{record_id:int}/validate", sync_to_thread=True)
    def validate_edit(
        self,
        type_key: str,
        record_id: RowId,
        data: Form,
        session: WebSession,
        db: Database,
        settings: Settings,
    ) -> Template:
        return self._validate(db, session, settings, type_key, record_id, data)

    def _validate(
        self,
        db: Database,
        session: WebSession,
        settings: Settings,
        type_key: str,
        record_id: int | None,
        form: dict[str, Any],
    ) -> Template:
        """The parts of the form that change with its values, as out-of-band swaps."""
        actor = session.principal
        with db.read() as conn:
            target = _target(conn, actor, type_key, record_id)
            checked = check_form(conn, actor, target, form, settings.attachment_max_bytes)
            context = _form_context(
                conn, actor, target, form, checked, show_errors=True, with_users=False
            )
        touched = {t for t in first(form, TOUCHED).split(",") if t}
        shown = set(values_of(form, SHOWN))
        for item in context["fields"]:
            if item.key not in touched:
                item.error = None
        context["form_errors"] = [] if not touched else context["form_errors"]
        context["flipped"] = [
            f for f in context["fields"] if f.conditional and f.visible != (f.key in shown)
        ]
        if any(f.fdef["type"] == "user" for f in context["flipped"]):
            with db.read() as conn:
                context["users"] = active_users(conn)
        return fragment("records/_validation.html", session, **context)

    @post("/upload", status_code=200)
    async def upload(
        self,
        type_key: str,
        request: Request,
        session: WebSession,
        db: Database,
        settings: Settings,
    ) -> Template:
        """Store a file chosen in an attachment input; the form then names its id."""
        field = request.query_params.get("field", "")
        form = await request.form()
        upload = form.get(f"file-{field}")
        content = await upload.read() if isinstance(upload, UploadFile) else b""

        def save() -> Template:
            actor = session.principal
            with db.read() as conn:
                model = readable_model(conn, actor, type_key)
            fdef = model.fields.get(field)
            if fdef is None or fdef["type"] != "attachment":
                raise ValidationFailed(f"{model.label} has no attachment field '{field}'.")
            limit = min(
                fdef.get("max_size", settings.attachment_max_bytes), settings.attachment_max_bytes
            )
            try:
                with db.write() as conn:
                    stored = store_attachment(
                        conn,
                        actor,
                        filename=upload.filename if isinstance(upload, UploadFile) else "file",
                        content_type=upload.content_type if isinstance(upload, UploadFile) else "",
                        content=content,
                        max_bytes=limit,
                    )
            except ServiceError as exc:
                return fragment(
                    "records/_attachment.html",
                    session,
                    status_code=exc.status,
                    key=field,
                    error=exc.detail,
                    file=None,
                )
            return fragment("records/_attachment.html", session, key=field, error=None, file=stored)

        return await run_sync(save)


CONTROLLERS = [RecordFormController]
