"""/api/v1/change-requests: configuration under change control, the same steps as the browser."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, fields
from typing import Annotated, Any

import msgspec
from anyio.to_thread import run_sync
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.openapi.spec import Reference
from litestar.params import QueryParameter

from labledger.api.definitions import DefinitionBody
from labledger.api.rawbody import raw_body
from labledger.api.schemas.bundles import BUNDLE_FILE_RESPONSES
from labledger.api.schemas.changes import (
    ActivationWrite,
    ApprovalWrite,
    ChangeImpact,
    ChangeRequestList,
    ChangeRequestText,
    ChangeRequestView,
    ChangeRequestWrite,
    ChangeSummaryView,
    Control,
    ControlWrite,
    ItemKind,
    ReasonWrite,
    RevertWrite,
)
from labledger.bundles.format import parse_bundle
from labledger.change_gate import control_setting
from labledger.changes import service
from labledger.changes.control import set_control
from labledger.changes.promotion import export_change
from labledger.changes.review import Review, impact, review
from labledger.changes.store import ChangeRequest, load, summaries
from labledger.db.engine import Database
from labledger.identity.principal import Principal
from labledger.params import RowId
from labledger.web.downloads import bundle_download
from labledger.workflows.signing import SignatureInput


def _view(db: Database, principal: Principal, change_id: RowId) -> ChangeRequestView:
    service.require_reader(principal)
    with db.read() as conn:
        return _shaped(review(conn, load(conn, change_id)))


def _shaped(found: Review) -> ChangeRequestView:
    """The review as the API answers it (the service's dataclasses read by attribute)."""
    change = found.change
    stored = {name: getattr(change, name) for name in _STORED_FIELDS}
    view = {
        **stored,
        "approvals_required": found.approvals_required,
        "approvals_missing": found.approvals_missing,
        "review": found.items,
        "weakening": [statement for _, statement in found.weakening],
        "stale": [{"kind": s.kind, "key": s.key, "message": s.describe()} for s in found.stale],
        "approvals": [
            {**asdict(a), "valid": a.content_hash == change.content_hash} for a in change.approvals
        ],
    }
    return msgspec.convert(view, ChangeRequestView, from_attributes=True)


_STORED_COLUMNS = {field.name for field in fields(ChangeRequest)}
#: What the view shows of the stored request as it is: its stored columns and its label.
_STORED_FIELDS = (
    "label",
    *(name for name in ChangeRequestView.__struct_fields__ if name in _STORED_COLUMNS),
)


def _step_route(step: str, summary: str) -> post:
    """A POST that takes one step of the procedure and answers with the request (200)."""
    return post(f"/{{change_id:int}}/{step}", sync_to_thread=True, status_code=200, summary=summary)


class ChangeRequestsController(Controller):
    path = "/change-requests"
    tags = ["change control"]

    @get("/", sync_to_thread=True, summary="Change requests, newest first, and the setting")
    def list(self, db: Database, principal: Principal) -> ChangeRequestList:
        service.require_reader(principal)
        with db.read() as conn:
            found = summaries(conn)
            setting = control_setting(conn)
        return ChangeRequestList(
            items=[
                ChangeSummaryView(
                    id=s.id,
                    label=f"CR-{s.id}",
                    title=s.title,
                    status=str(s.status),
                    created_by=s.created_by,
                    updated_at=s.updated_at,
                    items=s.items,
                    approvals=s.approvals,
                )
                for s in found
            ],
            control=Control(setting.enabled, setting.approvals_required),
        )

    @post("/", sync_to_thread=True, summary="Propose a configuration change (a draft)")
    def propose(
        self, data: ChangeRequestWrite, db: Database, principal: Principal
    ) -> ChangeRequestView:
        items = [service.ProposedItem(i.kind, i.key, i.body) for i in data.items]
        with db.write() as conn:
            change = service.propose(
                conn, principal, title=data.title, reason=data.reason, items=items
            )
        return _view(db, principal, change.id)

    @post(
        "/bundle",
        summary="Propose importing a whole bundle, sent as the request body",
        operation_class=raw_body(
            "application/json",
            "the bundle file as exported (metadata/bundle.schema.json is its contract)",
            Reference("#/components/schemas/BundleDocument"),
        ),
    )
    async def propose_bundle(
        self,
        request: Request[Any, Any, Any],
        db: Database,
        principal: Principal,
        title: Annotated[str, QueryParameter(description="the change request's title")],
        reason: Annotated[str, QueryParameter(description="why the configuration changes")],
    ) -> ChangeRequestView:
        raw = await request.body()

        def propose() -> ChangeRequestView:
            bundle = parse_bundle(raw, max_bytes=db.settings.bundle_max_bytes)
            with db.write() as conn:
                change = service.propose_bundles(
                    conn, principal, [bundle], title=title, reason=reason
                )
            return _view(db, principal, change.id)

        return await run_sync(propose)

    @post("/revert", sync_to_thread=True, summary="Propose going back to an earlier version")
    def revert(self, data: RevertWrite, db: Database, principal: Principal) -> ChangeRequestView:
        with db.write() as conn:
            change = service.propose_revert(conn, principal, **msgspec.structs.asdict(data))
        return _view(db, principal, change.id)

    @get("/{change_id:int}", sync_to_thread=True, summary="A change request and its review")
    def read(self, change_id: RowId, db: Database, principal: Principal) -> ChangeRequestView:
        return _view(db, principal, change_id)

    @get(
        "/{change_id:int}/bundle",
        sync_to_thread=True,
        summary="Export an approved change request as a bundle for another installation",
        responses=BUNDLE_FILE_RESPONSES,
    )
    def export(self, change_id: RowId, db: Database, principal: Principal) -> Response[bytes]:
        with db.write() as conn:  # the installation's identity is made on first use
            return bundle_download(export_change(conn, principal, change_id))

    @get(
        "/{change_id:int}/impact",
        sync_to_thread=True,
        summary="What the request means for the records stored now",
    )
    def impact(self, change_id: RowId, db: Database, principal: Principal) -> ChangeImpact:
        service.require_reader(principal)
        with db.read() as conn:
            return ChangeImpact(types=impact(conn, load(conn, change_id)))

    @patch("/{change_id:int}", sync_to_thread=True, summary="Change a draft's title and reason")
    def retitle(
        self, change_id: RowId, data: ChangeRequestText, db: Database, principal: Principal
    ) -> ChangeRequestView:
        return self._step(
            db, service.retitle, principal, change_id, title=data.title, reason=data.reason
        )

    @put(
        "/{change_id:int}/items/{kind:str}/{key:str}",
        sync_to_thread=True,
        summary="Put a definition into a draft (checked at once)",
    )
    def put_item(
        self,
        change_id: RowId,
        kind: ItemKind,
        key: str,
        data: DefinitionBody,
        db: Database,
        principal: Principal,
    ) -> ChangeRequestView:
        item = service.ProposedItem(kind, key, data)
        return self._step(db, service.put_item, principal, change_id, item)

    @delete(
        "/{change_id:int}/items/{kind:str}/{key:str}",
        sync_to_thread=True,
        status_code=200,
        summary="Take a definition out of a draft",
    )
    def remove_item(
        self, change_id: RowId, kind: ItemKind, key: str, db: Database, principal: Principal
    ) -> ChangeRequestView:
        return self._step(db, service.remove_item, principal, change_id, kind, key)

    @_step_route("rebase", "Rebase a draft")
    def rebase(self, change_id: RowId, db: Database, principal: Principal) -> ChangeRequestView:
        return self._step(db, service.rebase, principal, change_id)

    @_step_route("approve", "Approve by electronic signature (meaning 'Configuration approval')")
    def approve(
        self, change_id: RowId, data: ApprovalWrite, db: Database, principal: Principal
    ) -> ChangeRequestView:
        signature = (
            SignatureInput(data.signature.username or "", data.signature.password)
            if data.signature
            else None
        )
        service.approve(
            db,
            principal,
            change_id,
            content_hash=data.content_hash,
            credentials=signature,
            session=None,
            throttled=True,
        )
        return _view(db, principal, change_id)

    @_step_route("reject", "Send back to the author, with a reason")
    def reject(
        self, change_id: RowId, data: ReasonWrite, db: Database, principal: Principal
    ) -> ChangeRequestView:
        return self._step(db, service.reject, principal, change_id, data.reason)

    @_step_route("withdraw", "Withdraw")
    def withdraw(
        self, change_id: RowId, data: ReasonWrite, db: Database, principal: Principal
    ) -> ChangeRequestView:
        return self._step(db, service.withdraw, principal, change_id, data.reason)

    @_step_route("activate", "Activate an approved change now (or schedule it)")
    def activate(
        self, change_id: RowId, data: ActivationWrite, db: Database, principal: Principal
    ) -> ChangeRequestView:
        return self._step(db, service.activate, principal, change_id, at=data.at)

    @get("/control", sync_to_thread=True, summary="Whether change control is on")
    def control(self, db: Database, principal: Principal) -> Control:
        with db.read() as conn:
            setting = control_setting(conn)
        return Control(setting.enabled, setting.approvals_required)

    @put("/control", sync_to_thread=True, summary="Switch change control (audited, with a reason)")
    def set_control(self, data: ControlWrite, db: Database, principal: Principal) -> Control:
        with db.write() as conn:
            setting = set_control(
                conn,
                principal,
                enabled=data.enabled,
                reason=data.reason,
                approvals_required=data.approvals_required,
            )
        return Control(setting.enabled, setting.approvals_required)

    @staticmethod
    def _step(
        db: Database,
        step: Callable[..., ChangeRequest],
        principal: Principal,
        change_id: RowId,
        *args: Any,
        **kwargs: Any,
    ) -> ChangeRequestView:
        """Run one service step on the request in a write transaction; the request after it."""
        with db.write() as conn:
            done: ChangeRequest = step(conn, principal, change_id, *args, **kwargs)
        return _view(db, principal, done.id)
