"""The delivery monitor of one webhook, and replaying its dead deliveries.

The page shows what ``subscription_status`` reports — queue depth, dead and
delivered counts, the last success and the latest failed attempts with the
answer received — and refreshes that part every few seconds (htmx polls a
fragment). Below it, deliveries by status, newest first; dead ones can be
replayed one by one or all at once through ``replay_dead``, which is audited.
A replay answers with a redirect, so reloading the page never replays twice.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from litestar import Controller, Response, get, post
from litestar.response import Redirect, Template

from labledger.db.engine import Database
from labledger.errors import FieldError, ValidationFailed
from labledger.identity.principal import CONFIGURE
from labledger.identity.sessions import WebSession
from labledger.integration.subscriptions import (
    DEAD,
    DELIVERED,
    PENDING,
    list_deliveries,
    replay_dead,
    subscription_status,
)
from labledger.params import BeforeCursor, OptionalCount
from labledger.web.admin.common import (
    Form,
    FormBody,
    Problems,
    compact_json,
    form_page,
    pages_needing,
)
from labledger.web.display import utc_text
from labledger.web.integration.subscriptions import WHAT
from labledger.web.pages import page

#: Deliveries shown per page of the monitor.
PAGE_SIZE = 50
#: Seconds between refreshes of the status panel.
REFRESH_SECONDS = 10
#: The filters of the deliveries table: one status, or every delivery.
ALL = "all"
STATUSES = (DEAD, PENDING, DELIVERED, ALL)


def monitor_url(name: str, **query: Any) -> str:
    shown = {k: v for k, v in query.items() if v not in (None, "")}
    return f"/admin/webhooks/{quote(name, safe='')}/monitor" + (
        f"?{urlencode(shown)}" if shown else ""
    )


def _replayed(count: int) -> str:
    if not count:
        return "There was no dead delivery to replay."
    noun = "delivery was" if count == 1 else "deliveries were"
    return f"{count} dead {noun} replayed: due now, the worker sends them on its next round."


class DeliveryMonitorController(Controller):
    path = "/admin/webhooks/{name:str}"
    include_in_schema = False
    dependencies = pages_needing(CONFIGURE, WHAT)

    @get("/monitor", sync_to_thread=True)
    def monitor(
        self,
        name: str,
        session: WebSession,
        db: Database,
        status: str = DEAD,
        before: BeforeCursor = None,
        replayed: OptionalCount = None,
    ) -> Template:
        message = None if replayed is None else _replayed(replayed)
        return self._page(session, db, name, status=status, before=before, message=message)

    @get("/monitor/status", sync_to_thread=True)
    def status_panel(self, name: str, session: WebSession, db: Database) -> Template:
        """The part of the monitor that refreshes itself."""
        with db.read() as conn:
            monitor = subscription_status(conn, session.principal, name)
        return page(
            "integration/_webhook_status.html",
            session,
            monitor=monitor,
            utc=utc_text,
            refresh=REFRESH_SECONDS,
        )

    @post("/replay", sync_to_thread=True, status_code=200)
    def replay(self, name: str, data: FormBody, session: WebSession, db: Database) -> Response[Any]:
        """Replay the dead delivery named in the form, or every dead one."""
        chosen = Form(data).text("delivery")
        try:
            if chosen and not chosen.isdigit():
                raise ValidationFailed(
                    "Which delivery to replay was not understood.",
                    [FieldError("delivery", f"'{chosen}' is not a delivery number")],
                )
            with db.write() as conn:
                count = replay_dead(
                    conn,
                    session.principal,
                    name,
                    delivery_ids=[int(chosen)] if chosen else None,
                )
        except ValidationFailed as exc:
            return self._page(
                session,
                db,
                name,
                status=DEAD,
                status_code=exc.status,
                problems=Problems(exc.errors),
                detail=exc.detail,
            )
        return Redirect(monitor_url(name, replayed=count), status_code=303)

    def _page(
        self,
        session: WebSession,
        db: Database,
        name: str,
        *,
        status: str,
        before: int | None = None,
        status_code: int = 200,
        **context: Any,
    ) -> Template:
        status = status if status in STATUSES else DEAD
        with db.read() as conn:
            monitor = subscription_status(conn, session.principal, name)
            deliveries = list_deliveries(
                conn,
                session.principal,
                name,
                status=None if status == ALL else status,
                before=before,
                limit=PAGE_SIZE,
            )
        return form_page(
            "integration/webhook_monitor.html",
            session,
            status_code,
            context,
            monitor=monitor,
            deliveries=deliveries["items"],
            status=status,
            statuses=STATUSES,
            next_url=monitor_url(name, status=status, before=deliveries["next"])
            if deliveries["next"]
            else None,
            first_url=monitor_url(name, status=status) if before else None,
            monitor_url=monitor_url,
            utc=utc_text,
            shown=compact_json,
            refresh=REFRESH_SECONDS,
        )
