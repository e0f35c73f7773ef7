"""Creating and editing records in a form drawn from the type's fields.

While a person types, the form posts itself to a validate address (htmx, on
change and after a pause in typing) and gets back only the parts that
change: error messages next to the fields touched so far, computed values,
required markers and fields that appear or disappear. The inputs themselves
are never replaced while someone types in them. The answer comes from
``records.preview``, that is from the service's own checks.

On submit the form is parsed into typed data and handed to the record
service (``web.record_form``); the form itself is drawn by ``web.form_view``.
A refused save shows the form again with every message and the values as
typed; a save that lost a race with someone else's (409) keeps
the typed values, shows what was saved meanwhile and takes the new version,
so saving again is a deliberate choice.
"""

from __future__ import annotations

from typing import Annotated, Any

from anyio.to_thread import run_sync
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from labledger.db.engine import Database
from labledger.errors import Conflict, FieldError, ServiceError, ValidationFailed
from labledger.identity.sessions import WebSession
from labledger.metadata.spec.fields import AttachmentField
from labledger.metadata.types import readable_model
from labledger.params import RowId
from labledger.records.attachments import store_attachment
from labledger.records.service import create_record, update_record
from labledger.settings import Settings
from labledger.web.form_view import active_users, form_context, initial_form
from labledger.web.forms import first, parse_form, same_value, values_of
from labledger.web.fragments import fragment
from labledger.web.pages import page
from labledger.web.record_form import check_form, data_to_save, form_target

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
#: Hidden inputs the form uses for itself.
TOUCHED, SHOWN = "__touched", "__shown"


class RecordFormController(Controller):
    include_in_schema = False
    path = "/records/{type_key:str}"

    def _render(
        self,
        db: Database,
        session: WebSession,
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
            target = form_target(conn, actor, type_key, record_id)
            checked = check_form(conn, actor, target, form)
            if errors is not None:
                checked.parse_errors, checked.refused = [], errors
            context = form_context(
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
        request: Request[Any, Any, Any],
        session: WebSession,
        db: Database,
    ) -> Template:
        with db.read() as conn:
            target = form_target(conn, session.principal, type_key, None)
            prefill = {
                k: v for k, v in request.query_params.items() if k in target.model.field_specs and v
            }
            form = initial_form(conn, session.principal, target, prefill)
        return self._render(db, session, type_key, None, form)

    @post("/new", sync_to_thread=True)
    def create(self, type_key: str, data: Form, session: WebSession, db: Database) -> Response[Any]:
        actor = session.principal
        try:
            with db.write() as conn:
                target = form_target(conn, actor, type_key, None)
                view = create_record(
                    conn,
                    actor,
                    type_key,
                    data_to_save(conn, actor, target, data),
                )
        except ValidationFailed as exc:
            return self._render(
                db, session, type_key, None, data, errors=exc.errors, status_code=422
            )
        return Redirect(f"/records/{type_key}/{view['id']}", status_code=303)

    @get("/{record_id:int}/edit", sync_to_thread=True)
    def edit(
        self,
        type_key: str,
        record_id: RowId,
        session: WebSession,
        db: Database,
    ) -> Template:
        with db.read() as conn:
            target = form_target(conn, session.principal, type_key, record_id)
            form = initial_form(conn, session.principal, target, {})
        return self._render(db, session, type_key, record_id, form)

    @post("/{record_id:int}/edit", sync_to_thread=True)
    def update(
        self,
        type_key: str,
        record_id: RowId,
        data: Form,
        session: WebSession,
        db: Database,
    ) -> Response[Any]:
        actor = session.principal
        version = first(data, "version")
        try:
            with db.write() as conn:
                target = form_target(conn, actor, type_key, record_id)
                update_record(
                    conn,
                    actor,
                    type_key,
                    record_id,
                    data_to_save(conn, actor, target, data),
                    expected_version=int(version) if version.isdigit() else -1,
                    reason=first(data, "reason"),
                )
        except ValidationFailed as exc:
            return self._render(
                db, session, type_key, record_id, data, errors=exc.errors, status_code=422
            )
        except Conflict as exc:
            return self._conflict(db, session, type_key, record_id, data, exc)
        return Redirect(f"/records/{type_key}/{record_id}", status_code=303)

    def _conflict(
        self,
        db: Database,
        session: WebSession,
        type_key: str,
        record_id: int,
        data: dict[str, Any],
        exc: Conflict,
    ) -> Template:
        """Keep what was typed, show what was saved meanwhile, and take the new version."""
        current = exc.extra["current"]
        with db.read() as conn:
            target = form_target(conn, session.principal, type_key, record_id)
            typed, _ = parse_form(target.model, data, target.editable(conn))
        now = {
            k: current["data"].get(k)
            for k, v in typed.items()
            if not same_value(target.model.field_specs[k], current["data"].get(k), v)
        }
        form = {**data, "version": str(current["version"])}
        message = (
            f"{exc.detail} Your values are kept below; where someone else saved a different "
            "value it is shown under the field. Saving again replaces their values with yours."
        )
        return self._render(
            db,
            session,
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
        self, type_key: str, data: Form, session: WebSession, db: Database
    ) -> Template:
        return self._validate(db, session, type_key, None, data)

    @post("/{record_id:int}/validate", sync_to_thread=True)
    def validate_edit(
        self,
        type_key: str,
        record_id: RowId,
        data: Form,
        session: WebSession,
        db: Database,
    ) -> Template:
        return self._validate(db, session, type_key, record_id, data)

    def _validate(
        self,
        db: Database,
        session: WebSession,
        type_key: str,
        record_id: int | None,
        form: dict[str, Any],
    ) -> Template:
        """The parts of the form that change with its values, as out-of-band swaps."""
        actor = session.principal
        with db.read() as conn:
            target = form_target(conn, actor, type_key, record_id)
            checked = check_form(conn, actor, target, form)
            context = form_context(
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
        if any(f.fdef.kind == "user" for f in context["flipped"]):
            with db.read() as conn:
                context["users"] = active_users(conn)
        return fragment("records/_validation.html", session, **context)

    @post("/upload", status_code=200)
    async def upload(
        self,
        type_key: str,
        request: Request[Any, Any, Any],
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
            fdef = model.field_specs.get(field)
            if not isinstance(fdef, AttachmentField):
                raise ValidationFailed(f"{model.label} has no attachment field '{field}'.")
            limit = settings.attachment_max_bytes
            if isinstance(fdef.max_size, int):
                limit = min(fdef.max_size, limit)
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
