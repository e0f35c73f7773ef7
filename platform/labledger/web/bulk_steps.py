"""One step on many records from the browser: the page that shows what will be signed,
then one signing, then each record's outcome.

A list, a work queue or a grid sends the selected records (``id``, repeated)
or "all matching this filter" (``all`` with the list's filters) to
``/records/{type}/transitions/{step}``. The page lists every record with its
summary fields and flags and whether it would move, asks once for what the
step needs (reason, confirmation with a justification, signature) and posts
the records to ``workflows.bulk.run_transitions``, which signs and audits each
record on its own. A refused signature refuses the whole request and the page
says so, keeping what was typed but the password.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Template
from sqlalchemy import Connection

from labledger.db.engine import Database
from labledger.errors import FieldError, ServiceError, ValidationFailed
from labledger.identity.principal import Principal
from labledger.identity.sessions import WebSession
from labledger.metadata.model import TypeModel
from labledger.metadata.spec import TransitionSpec
from labledger.metadata.types import readable_model
from labledger.records.query import ListQuery
from labledger.records.related import record_summaries
from labledger.web.forms import first, row_id, values_of
from labledger.web.pages import page
from labledger.web.records import list_params, state_labels
from labledger.web.signer import browser_signature, remember_signing
from labledger.web.summaries import RecordSummary, summarise
from labledger.workflows.bulk import (
    Candidate,
    Outcome,
    Selection,
    candidates,
    matching,
    run_transitions,
    step_of,
)

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
#: Query parameters of this page that are not the list's filters.
_OWN_PARAMS = ("id", "all")


def selected_ids(values: list[str]) -> list[int]:
    """The record ids a form or address names, or a refusal naming the bad one."""
    ids = []
    for value in values:
        record_id = row_id(value)
        if record_id is None:
            raise ValidationFailed(
                "The selection is not valid.",
                [FieldError("id", f"'{value.strip()[:40]}' is no record")],
            )
        ids.append(record_id)
    return ids


def _selection(
    conn: Connection, actor: Principal, model: TypeModel, request: Request[Any, Any, Any]
) -> Selection:
    params = request.query_params
    if params.get("all"):
        filters = {k: v for k, v in list_params(request).items() if k not in _OWN_PARAMS}
        return matching(conn, actor, model, ListQuery.from_params(filters))
    return Selection(selected_ids(params.getall("id", [])))


def _context(
    conn: Connection,
    actor: Principal,
    model: TypeModel,
    transition_key: str,
    ids: list[int],
) -> dict[str, Any]:
    step = step_of(conn, model, transition_key)
    found = candidates(conn, actor, model.key, ids, transition_key)
    readable = [c.record for c in found if c.record is not None]
    summaries = {s.record["id"]: s for s in summarise(conn, actor, model, readable)}
    rows: list[tuple[Candidate, RecordSummary | None]] = [
        (c, summaries.get(c.record_id)) for c in found
    ]
    states = state_labels(conn, model)
    asked = [c for c in found if c.movable and c.confirm]
    return {
        "model": model,
        "type_key": model.key,
        "step": step,
        "to_label": states.get(step.to, step.to),
        "states": states,
        "rows": rows,
        "movable": sum(c.movable for c in found),
        "flagged": sum(bool(s and s.flagged) for _, s in rows),
        "confirm_messages": list(dict.fromkeys(c.confirm for c in asked)),
        "confirm_count": len(asked),
        "reason": "",
        "justification": "",
        "confirmed": False,
        "username": "",
        "error": None,
        "errors": [],
        "cut": False,
    }


class BulkStepPagesController(Controller):
    include_in_schema = False
    path = "/records/{type_key:str}/transitions/{key:str}"

    @get("/", sync_to_thread=True)
    def review(
        self,
        type_key: str,
        key: str,
        request: Request[Any, Any, Any],
        session: WebSession,
        db: Database,
    ) -> Template:
        """What the step would do to each selected record, and the one signing form."""
        actor = session.principal
        with db.read() as conn:
            model = readable_model(conn, actor, type_key)
            try:
                selection = _selection(conn, actor, model, request)
                context = _context(conn, actor, model, key, selection.ids)
            except ValidationFailed as exc:
                return self._empty(session, model, key, exc)
        context.update(cut=selection.cut, ask_username=not session.signed_in_session)
        return page("records/bulk.html", session, **context)

    @post("/", sync_to_thread=True, status_code=200)
    def run(
        self,
        type_key: str,
        key: str,
        data: Form,
        session: WebSession,
        db: Database,
    ) -> Template:
        actor = session.principal
        given = browser_signature(data, session)
        confirmed = first(data, "confirmed") == "yes"
        justification = first(data, "justification")
        with db.read() as conn:
            model = readable_model(conn, actor, type_key)
            step = step_of(conn, model, key)
        try:
            ids = selected_ids(values_of(data, "id"))
        except ValidationFailed as exc:
            return self._empty(session, model, key, exc)
        try:
            if first(data, "asked") == "yes" and not (confirmed and justification.strip()):
                # The page asked: nothing moves until the person answers, rather than the
                # records that ask being refused one by one while the others move.
                raise ValidationFailed(
                    "Confirm what is flagged, with a justification, to go on.",
                    [FieldError("justification", "tick the confirmation and give a justification")],
                )
            outcomes = run_transitions(
                db,
                actor,
                type_key,
                ids,
                key,
                reason=first(data, "reason"),
                justification=justification if confirmed else None,
                signature=given.credentials if step.signature_meaning else None,
                signing_session=given.session,
                throttled=True,
            )
        except ServiceError as exc:
            with db.read() as conn:
                context = _context(conn, actor, model, key, ids)
            context.update(
                reason=first(data, "reason"),
                justification=justification,
                confirmed=confirmed,
                username=given.username,
                error=exc.detail,
                errors=exc.errors,
                ask_username=not session.signed_in_session,
            )
            return page("records/bulk.html", session, status_code=exc.status, **context)
        if step.signature_meaning:
            remember_signing(db, session)
        return self._done(db, session, model, step, outcomes)

    def _done(
        self,
        db: Database,
        session: WebSession,
        model: TypeModel,
        step: TransitionSpec,
        outcomes: list[Outcome],
    ) -> Template:
        """Each record's outcome: where it went, or why it stayed."""
        with db.read() as conn:
            states = state_labels(conn, model)
            named = record_summaries(conn, session.principal, [o.record_id for o in outcomes])
        moved = sum(o.refusal is None for o in outcomes)
        return page(
            "records/bulk_done.html",
            session,
            model=model,
            type_key=model.key,
            step=step,
            states=states,
            outcomes=[(o, named.get(o.record_id)) for o in outcomes],
            moved=moved,
            refused=len(outcomes) - moved,
        )

    def _empty(
        self, session: WebSession, model: TypeModel, key: str, exc: ValidationFailed
    ) -> Template:
        """The page for a selection that names no record the step could take."""
        return page(
            "records/bulk.html",
            session,
            status_code=exc.status,
            model=model,
            type_key=model.key,
            step=None,
            rows=[],
            error=exc.detail,
            errors=exc.errors,
        )


CONTROLLERS = [BulkStepPagesController]
