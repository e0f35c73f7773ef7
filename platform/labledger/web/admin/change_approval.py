"""Approving a change request by electronic signature, in a dialog that shows what is signed.

The dialog names the request (its number and title), the content hash the
reviewer read on the request's page and the meaning of the signature,
"Configuration approval" (21 CFR 11.50). The form posts that hash back: a
request edited since is refused by the service, so nobody signs what they
did not see. As for a record's signed step (``web.signing``), the dialog
tells the service whether this browser session has signed before, and asks
for the username only when it has not; a wrong password is audited and the
dialog says so and stays open.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from labledger.changes import service
from labledger.changes.store import load
from labledger.db.engine import Database
from labledger.errors import ServiceError
from labledger.identity.sessions import WebSession
from labledger.params import RowId
from labledger.web.admin.changes import change_url
from labledger.web.admin.common import FormBody
from labledger.web.forms import first
from labledger.web.fragments import fragment, is_htmx
from labledger.web.pages import page
from labledger.web.signer import browser_signature, signed


def _dialog(
    request: Request[Any, Any, Any],
    session: WebSession,
    db: Database,
    change_id: int,
    content_hash: str,
    *,
    status_code: int = 200,
    **shown: Any,
) -> Template:
    """The dialog (an htmx fragment) or, without htmx, a page of its own."""
    service.require_reader(session.principal)
    with db.read() as conn:
        change = load(conn, change_id)
    context = {
        "change": change,
        "content_hash": content_hash or change.content_hash,
        "meaning": service.APPROVAL_MEANING,
        "ask_username": not session.signed_in_session,
        "username": "",
        "refusal": None,
        **shown,
    }
    if is_htmx(request):
        return fragment("admin/_change_approve.html", session, status_code=status_code, **context)
    return page("admin/change_approve.html", session, status_code=status_code, **context)


class ChangeApprovalController(Controller):
    path = "/admin/changes/{change_id:int}/approve"
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def dialog(
        self,
        change_id: RowId,
        request: Request[Any, Any, Any],
        session: WebSession,
        db: Database,
        content_hash: str = "",
    ) -> Template:
        """The dialog for the content the reviewer read (``content_hash`` of the page)."""
        return _dialog(request, session, db, change_id, content_hash)

    @post("/", sync_to_thread=True, status_code=200)
    def sign(
        self,
        change_id: RowId,
        data: FormBody,
        request: Request[Any, Any, Any],
        session: WebSession,
        db: Database,
    ) -> Response[Any]:
        content_hash = first(data, "content_hash")
        given = browser_signature(data, session)
        try:
            service.approve(
                db,
                session.principal,
                change_id,
                content_hash=content_hash,
                credentials=given.credentials,
                session=given.session,
                throttled=True,
            )
        except ServiceError as exc:
            return _dialog(
                request,
                session,
                db,
                change_id,
                content_hash,
                status_code=exc.status,
                refusal=exc,
                username=given.username,
            )
        return signed(db, request, session, change_url(change_id, "approved"))
