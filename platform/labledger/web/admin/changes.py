"""Change requests in the browser: the list, one request's review, and each step of the procedure.

The pages drive ``changes.service`` exactly as ``/api/v1/change-requests``
does: the author opens a request, edits its title and reason, takes items
out, rebases it or withdraws it; a reviewer rejects it with a reason (the
approval by signature has its dialog, ``web.admin.change_approval``); a
configurer activates an approved request now or at a chosen time. A step that
succeeds goes back to the request's page with a note of what was done; a
refused one shows the request again with the refusal, never an error page
for a rule of the procedure.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from litestar import Controller, Response, get, post
from litestar.response import Redirect, Template
from sqlalchemy import Connection

from labledger.change_gate import control_setting
from labledger.changes import service
from labledger.changes.activation import CHANGE_KINDS, KIND_NOUN
from labledger.changes.promotion import export_change
from labledger.changes.store import ChangeRequest, summaries
from labledger.db.engine import Database
from labledger.db.types import utc_now
from labledger.errors import FieldError, NotFound, ServiceError, ValidationFailed
from labledger.identity.principal import Principal
from labledger.identity.sessions import WebSession
from labledger.params import RowId
from labledger.web.admin.change_view import change_page
from labledger.web.admin.common import Form, FormBody, Problems, form_page
from labledger.web.downloads import bundle_download
from labledger.web.forms import TIME_ZONES

PATH = "/admin/changes"
#: What the page of a request says after a step, by the ``done`` its address carries.
DONE = {
    "proposed": "Change request opened. Put definitions into it from the designers.",
    "bundle": "Change request opened: it imports the bundle once approved and activated.",
    "retitled": "Title and reason saved. Approvals given before no longer count.",
    "removed": "Item taken out of the request. Approvals given before no longer count.",
    "rebased": "Rebased on the active definitions: review the differences again.",
    "withdrawn": "Withdrawn. The request stays on record.",
    "approved": "Your signature was recorded: Configuration approval.",
    "rejected": "Rejected: the request is back with its author.",
    "activated": "Activated: its definitions are in force.",
    "scheduled": "Scheduled for activation at the time chosen.",
}
_ZONES = {value for value, _ in TIME_ZONES}


def change_url(change_id: int, done: str | None = None) -> str:
    return f"{PATH}/{change_id}" + (f"?done={done}" if done else "")


def activation_time(form: Form) -> datetime:
    """The date and time (with its zone) a request is scheduled for: in the future."""
    try:
        return _future_time(form.text("at"), form.text("at__tz") or "Z")
    except ValueError as exc:
        raise ValidationFailed(
            "The activation was not scheduled.", [FieldError("at", str(exc))]
        ) from None


def _future_time(text: str, zone: str) -> datetime:
    if not text:
        raise ValueError("choose the date and time of activation")
    if zone not in _ZONES:
        raise ValueError("choose a time zone from the list")
    try:
        when = datetime.fromisoformat(text + zone)
    except ValueError:
        raise ValueError("is not a date and time") from None
    if when <= utc_now():
        raise ValueError("choose a time in the future, or activate now")
    return when


#: A step of the procedure a form on the request's page takes: (what the page then
#: says was done, the service call with the form's fields).
Step = Callable[[Connection, Principal, int, Form], object]
STEPS: dict[str, tuple[str, Step]] = {
    "text": (
        "retitled",
        lambda conn, actor, change_id, form: service.retitle(
            conn, actor, change_id, title=form.text("title"), reason=form.raw("reason")
        ),
    ),
    "remove": (
        "removed",
        lambda conn, actor, change_id, form: service.remove_item(
            conn, actor, change_id, form.text("kind"), form.text("key")
        ),
    ),
    "rebase": (
        "rebased",
        lambda conn, actor, change_id, _form: service.rebase(conn, actor, change_id),
    ),
    "withdraw": (
        "withdrawn",
        lambda conn, actor, change_id, form: service.withdraw(
            conn, actor, change_id, form.raw("reason")
        ),
    ),
    "reject": (
        "rejected",
        lambda conn, actor, change_id, form: service.reject(
            conn, actor, change_id, form.raw("reason")
        ),
    ),
}


class ChangeRequestPagesController(Controller):
    path = PATH
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def index(self, session: WebSession, db: Database) -> Template:
        service.require_reader(session.principal)
        return self._list(session, db)

    @post("/", sync_to_thread=True, status_code=200)
    def propose(self, data: FormBody, session: WebSession, db: Database) -> Response[Any]:
        """Open a draft with a title and a reason; definitions come from the designers."""
        service.require_reader(session.principal)
        form = Form(data)
        title, reason = form.text("title"), form.raw("reason").strip()
        return self._opened(
            session,
            db,
            lambda conn: service.propose(conn, session.principal, title=title, reason=reason),
            lambda exc: {
                "problems": Problems(exc.errors),
                "values": {"title": title, "reason": reason},
            },
        )

    @post("/revert", sync_to_thread=True, status_code=200)
    def revert(self, data: FormBody, session: WebSession, db: Database) -> Response[Any]:
        """Propose bringing back an earlier version of a definition (a rollback)."""
        service.require_reader(session.principal)
        form = Form(data)
        version = form.text("version")
        return self._opened(
            session,
            db,
            lambda conn: service.propose_revert(
                conn,
                session.principal,
                kind=form.text("kind"),
                key=form.text("key"),
                version=int(version) if version.isdigit() else 0,
                reason=form.raw("reason"),
            ),
            lambda exc: {
                "revert_problems": Problems(exc.errors),
                "revert_refusal": exc,
                "revert_values": {name: form.text(name) for name in ("kind", "key", "version")}
                | {"reason": form.raw("reason")},
            },
        )

    def _opened(
        self,
        session: WebSession,
        db: Database,
        open_request: Callable[[Connection], ChangeRequest],
        shown_if_refused: Callable[[ServiceError], dict[str, Any]],
    ) -> Response[Any]:
        """Open a change request and go to its page; refused, the list again, saying why."""
        try:
            with db.write() as conn:
                change = open_request(conn)
        except ServiceError as exc:
            return self._list(session, db, status_code=exc.status, **shown_if_refused(exc))
        return Redirect(change_url(change.id, "proposed"), status_code=303)

    @get("/{change_id:int}/bundle", sync_to_thread=True)
    def export(self, change_id: RowId, session: WebSession, db: Database) -> Response[bytes]:
        """The approved request as a bundle for another installation."""
        with db.write() as conn:  # the installation's identity is made on first use
            return bundle_download(export_change(conn, session.principal, change_id))

    @get("/{change_id:int}", sync_to_thread=True)
    def read(self, change_id: RowId, session: WebSession, db: Database, done: str = "") -> Template:
        service.require_reader(session.principal)
        return self._request(session, db, change_id, message=DONE.get(done))

    @post("/{change_id:int}/{step:str}", sync_to_thread=True, status_code=200)
    def take_step(
        self, change_id: RowId, step: str, data: FormBody, session: WebSession, db: Database
    ) -> Response[Any]:
        """One of the steps in ``STEPS`` (edit the text, take an item out, rebase,
        withdraw, reject), named by the form's address."""
        found = STEPS.get(step)
        if found is None:
            raise NotFound(f"There is no step '{step}' of a change request.")
        done, run = found
        form = Form(data)
        return self._step(
            session,
            db,
            change_id,
            form,
            step,
            done,
            lambda conn: run(conn, session.principal, change_id, form),
        )

    @post("/{change_id:int}/activate", sync_to_thread=True, status_code=200)
    def activate(
        self, change_id: RowId, data: FormBody, session: WebSession, db: Database
    ) -> Response[Any]:
        """Activate now, or (the Schedule button) at the date and time chosen."""
        form = Form(data)
        scheduling = form.text("op") == "schedule"

        def run(conn: Connection) -> object:
            at = activation_time(form) if scheduling else None
            return service.activate(conn, session.principal, change_id, at=at)

        done = "scheduled" if scheduling else "activated"
        return self._step(session, db, change_id, form, "activate", done, run)

    def _step(
        self,
        session: WebSession,
        db: Database,
        change_id: int,
        form: Form,
        name: str,
        done: str,
        run: Callable[[Connection], object],
    ) -> Response[Any]:
        """Run one step in a write transaction; back to the request's page, saying what
        was done, or the page again with the refusal beside the form ``name``."""
        service.require_reader(session.principal)
        try:
            with db.write() as conn:
                run(conn)
        except ServiceError as exc:
            return self._request(
                session,
                db,
                change_id,
                status_code=exc.status,
                failed=name,
                refusal=exc,
                problems=Problems(exc.errors),
                values={"title": form.text("title"), "reason": form.raw("reason")},
            )
        return Redirect(change_url(change_id, done), status_code=303)

    def _request(
        self,
        session: WebSession,
        db: Database,
        change_id: int,
        *,
        status_code: int = 200,
        **context: Any,
    ) -> Template:
        with db.read() as conn:
            shown = change_page(conn, session.principal, change_id)
        return form_page(
            "admin/change.html",
            session,
            status_code,
            context,
            view=shown,
            change=shown.change,
            failed=None,
            refusal=None,
            values={},
            zones=TIME_ZONES,
        )

    def _list(
        self, session: WebSession, db: Database, *, status_code: int = 200, **context: Any
    ) -> Template:
        with db.read() as conn:
            changes = summaries(conn)
            setting = control_setting(conn)
        return form_page(
            "admin/changes.html",
            session,
            status_code,
            context,
            changes=changes,
            setting=setting,
            values={},
            revert_problems=Problems.none(),
            revert_refusal=None,
            revert_values={},
            kinds={kind: KIND_NOUN[kind] for kind in CHANGE_KINDS},
        )
