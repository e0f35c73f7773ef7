"""Running a workflow step from a record page, with the electronic signature dialog.

Every step opens a small dialog that says what will happen: the target
state, the signature's meaning where one is needed, a reason where the
workflow asks for one. Which signature components are needed is decided by
the workflow engine (``workflows.signing``): the dialog tells it whether
this browser session has signed before, and asks for the username only when
it has not. The engine audits a wrong password and counts it toward lockout;
the dialog then says so and stays open.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from labledger.db.engine import Database
from labledger.errors import NotFound, ServiceError
from labledger.identity.sessions import WebSession
from labledger.metadata.types import readable_model
from labledger.params import RowId
from labledger.records.service import get_record
from labledger.web.forms import first
from labledger.web.fragments import fragment, htmx_redirect, is_htmx
from labledger.web.pages import page
from labledger.web.records import state_labels
from labledger.web.signer import browser_signature, signed
from labledger.web.summaries import summarise
from labledger.workflows.engine import available_transitions, run_transition
from labledger.workflows.model import workflow_model

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _dialog_context(
    db: Database, session: WebSession, type_key: str, record_id: int, key: str
) -> dict[str, Any]:
    actor = session.principal
    with db.read() as conn:
        model = readable_model(conn, actor, type_key)
        rec = get_record(conn, actor, type_key, record_id)
        found = [
            t for t in available_transitions(conn, actor, type_key, record_id) if t["key"] == key
        ]
        states = state_labels(conn, model)
        steps = workflow_model(conn, model.workflow).transition_specs if model.workflow else {}
        (summary,) = summarise(conn, actor, model, [rec])
    if found:
        transition = found[0]
    elif key in steps:  # a step from another state: running it reports the conflict
        step = steps[key]
        transition = {
            "key": key,
            "label": step.label,
            "to": step.to,
            "allowed": False,
            "why_not": [{"kind": "state", "message": "It does not start from the current state."}],
            "reason_required": step.reason_required,
            "signature": step.signature_meaning,
            "confirm": None,
        }
    else:
        raise NotFound(f"{model.label} records have no step '{key}'.")
    return {
        "model": model,
        "type_key": type_key,
        "rec": rec,
        "base": f"/records/{type_key}/{record_id}",
        "transition": transition,
        "from_label": states.get(rec["state"] or "", rec["state"]),
        "to_label": states.get(transition["to"], transition["to"]),
        "ask_username": bool(transition["signature"]) and not session.signed_in_session,
        "version": rec["version"],
        "summary": summary,
        "reason": "",
        "justification": "",
        "confirmed": False,
        "username": "",
        "error": None,
        "errors": [],
    }


def _dialog(
    request: Request[Any, Any, Any],
    session: WebSession,
    context: dict[str, Any],
    status_code: int = 200,
) -> Template:
    if is_htmx(request):
        return fragment("records/_dialog.html", session, status_code=status_code, **context)
    return page("records/transition.html", session, status_code=status_code, **context)


class TransitionPagesController(Controller):
    include_in_schema = False
    path = "/records/{type_key:str}/{record_id:int}/transitions/{key:str}"

    @get("/", sync_to_thread=True)
    def dialog(
        self,
        type_key: str,
        record_id: RowId,
        key: str,
        request: Request[Any, Any, Any],
        session: WebSession,
        db: Database,
    ) -> Template:
        return _dialog(request, session, _dialog_context(db, session, type_key, record_id, key))

    @post("/", sync_to_thread=True, status_code=200)
    def run(
        self,
        type_key: str,
        record_id: RowId,
        key: str,
        data: Form,
        request: Request[Any, Any, Any],
        session: WebSession,
        db: Database,
    ) -> Response[Any]:
        context = _dialog_context(db, session, type_key, record_id, key)
        meaning = context["transition"]["signature"]
        given = browser_signature(data, session)
        version = first(data, "version")
        confirmed = first(data, "confirmed") == "yes"
        context.update(
            reason=first(data, "reason"),
            username=given.username,
            justification=first(data, "justification"),
            confirmed=confirmed,
        )
        try:
            run_transition(
                db,
                session.principal,
                type_key,
                record_id,
                key,
                reason=context["reason"],
                justification=context["justification"] if confirmed else None,
                expected_version=int(version) if version.isdigit() else None,
                signature=given.credentials if meaning else None,
                signing_session=given.session,
                throttled=True,
            )
        except ServiceError as exc:
            context.update(error=exc.detail, errors=exc.errors)
            return _dialog(request, session, context, status_code=exc.status)
        if not meaning:  # no signature given: the session has not signed
            target = context["base"]
            return htmx_redirect(target) if is_htmx(request) else Redirect(target, status_code=303)
        return signed(db, request, session, context["base"])


CONTROLLERS = [TransitionPagesController]
