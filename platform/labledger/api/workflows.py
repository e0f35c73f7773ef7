"""/api/v1/workflows and record transitions."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post, put
from litestar.params import HeaderParameter

from labledger.api.definitions import DefinitionBody, publish_definition
from labledger.api.reading import read_items
from labledger.api.records import parse_if_match
from labledger.api.schemas.base import Published, VersionedDefinition, shaped
from labledger.api.schemas.workflows import (
    BulkTransitionWrite,
    SignatureList,
    SignaturePayload,
    SignedRecord,
    TransitionList,
    TransitionOutcomes,
    TransitionWrite,
    WorkflowList,
)
from labledger.db.engine import Database
from labledger.errors import NotFound
from labledger.identity.principal import Principal
from labledger.metadata import versions
from labledger.params import RowId
from labledger.records.states import WORKFLOW_KIND
from labledger.workflows.bulk import outcomes_view, run_transitions
from labledger.workflows.definitions import publish_workflow
from labledger.workflows.engine import (
    available_transitions,
    record_with_signatures,
    run_transition,
)
from labledger.workflows.signing import SignatureInput


class WorkflowsController(Controller):
    path = "/workflows"
    tags = ["workflows"]

    @get("/", sync_to_thread=True, summary="List workflows")
    def list(self, db: Database, principal: Principal) -> WorkflowList:
        with db.read() as conn:
            items = []
            for key in versions.keys(conn, WORKFLOW_KIND):
                version, body = versions.current(conn, WORKFLOW_KIND, key) or (0, {})
                items.append({"key": key, "label": body.get("label"), "version": version})
        return shaped({"items": items}, WorkflowList)

    @get("/{key:str}", sync_to_thread=True, summary="Read a workflow definition")
    def read(self, key: str, db: Database, principal: Principal) -> VersionedDefinition:
        with db.read() as conn:
            found = versions.current(conn, WORKFLOW_KIND, key)
        if found is None:
            raise NotFound(f"There is no workflow '{key}'.")
        return VersionedDefinition(key=key, version=found[0], definition=found[1])

    @put("/{key:str}", sync_to_thread=True, summary="Publish a new version of a workflow")
    def publish(
        self, key: str, data: DefinitionBody, db: Database, principal: Principal
    ) -> Published:
        return publish_definition(db, principal, publish_workflow, data, key)


class TransitionsController(Controller):
    path = "/records/{type_key:str}/{record_id:int}"
    tags = ["records"]

    @get("/transitions", sync_to_thread=True, summary="Transitions you may run now, and why not")
    def list(
        self, type_key: str, record_id: RowId, db: Database, principal: Principal
    ) -> TransitionList:
        return read_items(
            db,
            TransitionList,
            lambda conn: available_transitions(conn, principal, type_key, record_id),
        )

    @post(
        "/transitions/{transition:str}",
        sync_to_thread=True,
        status_code=200,
        summary="Run a transition (with a signature where required)",
    )
    def run(
        self,
        type_key: str,
        record_id: RowId,
        transition: str,
        data: TransitionWrite,
        db: Database,
        principal: Principal,
        if_match: Annotated[str | None, HeaderParameter(name="If-Match")] = None,
    ) -> SignedRecord:
        view = run_transition(
            db,
            principal,
            type_key,
            record_id,
            transition,
            reason=data.reason,
            justification=data.justification,
            expected_version=parse_if_match(if_match) if if_match else None,
            signature=_signature_input(data.signature),
            throttled=True,
            with_signatures=True,
        )
        # The record as this step left it, with its signatures (a later change or a
        # chained step that came back to it must not show as its outcome).
        return shaped(view, SignedRecord)

    @get("/signatures", sync_to_thread=True, summary="Signatures with verification status")
    def signatures(
        self, type_key: str, record_id: RowId, db: Database, principal: Principal
    ) -> SignatureList:
        with db.read() as conn:
            signed = record_with_signatures(conn, principal, type_key, record_id)
        return shaped({"items": signed["signatures"]}, SignatureList)


class BulkTransitionsController(Controller):
    path = "/records/{type_key:str}/transitions"
    tags = ["records"]

    @post(
        "/{transition:str}",
        sync_to_thread=True,
        status_code=200,
        summary="Run a transition on several records, with one signature where required",
    )
    def run(
        self,
        type_key: str,
        transition: str,
        data: BulkTransitionWrite,
        db: Database,
        principal: Principal,
    ) -> TransitionOutcomes:
        outcomes = run_transitions(
            db,
            principal,
            type_key,
            data.ids,
            transition,
            reason=data.reason,
            justification=data.justification,
            signature=_signature_input(data.signature),
            throttled=True,
        )
        return shaped(outcomes_view(outcomes), TransitionOutcomes)


def _signature_input(payload: SignaturePayload | None) -> SignatureInput | None:
    return SignatureInput(payload.username or "", payload.password) if payload else None
