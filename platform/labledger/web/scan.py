"""One workflow step on many records, by scanning or typing their numbers into one field.

A barcode scanner is a keyboard that types the number and presses Enter, so
the page is a single input: each number posts on its own and runs the step on
the record with that number through the workflow engine, exactly as the
step's button on the record page would, with the same checks and audit. Its
outcome (done, or refused with the reason) is added to a list that grows,
while the input keeps the focus for the next number.

Steps that need an electronic signature are not offered: a signature is given
record by record, with the password each time, in the step's own dialog.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Template
from sqlalchemy import Connection

from labledger.db.engine import Database
from labledger.db.types import utc_now
from labledger.errors import FieldError, NotFound, ServiceError, ValidationFailed
from labledger.identity.principal import Principal
from labledger.identity.sessions import WebSession
from labledger.metadata.model import TypeModel
from labledger.metadata.spec.workflow import TransitionSpec
from labledger.metadata.types import readable_model
from labledger.records.lookup import record_id_by_number
from labledger.records.related import record_summaries
from labledger.web.forms import first
from labledger.web.fragments import fragment, is_htmx
from labledger.web.pages import page
from labledger.web.records import state_labels
from labledger.workflows.engine import run_transition
from labledger.workflows.model import workflow_model

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


@dataclass(frozen=True)
class Line:
    """The outcome of one scanned number."""

    number: str
    done: bool
    message: str
    at: str
    href: str | None = None


def scannable_steps(conn: Connection, model: TypeModel) -> dict[str, TransitionSpec]:
    """The type's workflow steps that can run by number: those without a signature."""
    if not model.workflow:
        raise ValidationFailed(f"{model.spec.plural} have no workflow, so no steps.")
    steps = workflow_model(conn, model.workflow).transition_specs
    return {k: t for k, t in steps.items() if not t.signature}


def chosen_step(conn: Connection, model: TypeModel, key: str) -> TransitionSpec:
    """The step ``key``, refused with the reason when it cannot run by number."""
    steps = workflow_model(conn, model.workflow).transition_specs if model.workflow else {}
    step = scannable_steps(conn, model).get(key)
    if step is not None:
        return step
    if key in steps:
        raise ValidationFailed(
            f"'{steps[key].label}' needs an electronic signature, which is given record by "
            "record on the record's page: it cannot be run by scanning.",
            [FieldError("transition", "choose a step without a signature")],
        )
    raise NotFound(f"{model.label} records have no step '{key}'.")


def _record_of(conn: Connection, actor: Principal, model: TypeModel, number: str) -> int:
    """The id of the record of this type numbered ``number`` (NotFound otherwise)."""
    record_id = record_id_by_number(conn, number)
    found = record_summaries(conn, actor, [record_id]) if record_id is not None else {}
    if record_id is None or record_id not in found:
        raise NotFound(f"There is no {model.label} numbered '{number}'.")
    if found[record_id]["type"] != model.key:
        other = readable_model(conn, actor, found[record_id]["type"])
        raise NotFound(f"{number} is a {other.label}, not a {model.label}.")
    return record_id


def _scan_one(
    db: Database,
    actor: Principal,
    type_key: str,
    step_key: str,
    number: str,
    reason: str,
) -> tuple[Line, int]:
    """Run the step on one numbered record; returns its line and the status to answer with."""
    at = utc_now().strftime("%H:%M:%S")
    try:
        if not number:
            raise ValidationFailed("Type or scan a number.", [FieldError("number", "is empty")])
        with db.read() as conn:
            model = readable_model(conn, actor, type_key)
            step = chosen_step(conn, model, step_key)
            record_id = _record_of(conn, actor, model, number)
        view = run_transition(
            db,
            actor,
            type_key,
            record_id,
            step_key,
            reason=reason or None,
            throttled=True,
        )
        with db.read() as conn:
            state = state_labels(conn, model).get(view["state"], view["state"])
        href = f"/records/{type_key}/{record_id}"
        return Line(number, True, f"{step.label}: now {state}.", at, href), 200
    except ServiceError as exc:
        return Line(number, False, exc.detail, at), exc.status


class ScanController(Controller):
    include_in_schema = False
    path = "/records/{type_key:str}/scan"

    @get("/", sync_to_thread=True)
    def form(
        self, type_key: str, request: Request[Any, Any, Any], session: WebSession, db: Database
    ) -> Template:
        """The scan page for ``?transition=<key>``, or the steps to choose from."""
        key = request.query_params.get("transition", "")
        with db.read() as conn:
            model = readable_model(conn, session.principal, type_key)
            steps = scannable_steps(conn, model)
            step = chosen_step(conn, model, key) if key else None
            states = state_labels(conn, model)
        return page(
            "scan/scan.html",
            session,
            model=model,
            type_key=type_key,
            steps=steps,
            step=step,
            states=states,
            reason="",
            lines=[],
        )

    @post("/", sync_to_thread=True, status_code=200)
    def scan(
        self,
        type_key: str,
        data: Form,
        request: Request[Any, Any, Any],
        session: WebSession,
        db: Database,
    ) -> Template:
        """One number: the step runs on its record; the answer is the outcome's line."""
        key, reason = first(data, "transition"), first(data, "reason").strip()
        line, status = _scan_one(
            db, session.principal, type_key, key, first(data, "number").strip(), reason
        )
        if is_htmx(request):
            return fragment("scan/_line.html", session, status_code=status, line=line)
        with db.read() as conn:  # without scripts: the page again, with this outcome
            model = readable_model(conn, session.principal, type_key)
            steps = scannable_steps(conn, model)
            step = chosen_step(conn, model, key)
            states = state_labels(conn, model)
        return page(
            "scan/scan.html",
            session,
            status_code=status,
            model=model,
            type_key=type_key,
            steps=steps,
            step=step,
            states=states,
            reason=reason,
            lines=[line],
        )


CONTROLLERS = [ScanController]
