"""/api/v1/events: the event feed in commit order, resumable by cursor."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import QueryParameter

from labledger.api.queries import TypeKeys
from labledger.api.schemas.base import shaped
from labledger.api.schemas.integration import EventPage
from labledger.db.engine import Database
from labledger.identity.principal import Principal
from labledger.integration.feed import DEFAULT_LIMIT, EventFilter, read_events
from labledger.limits import INT32_MAX


class EventsController(Controller):
    path = "/events"
    tags = ["integration"]

    @get(
        "/",
        sync_to_thread=True,
        summary="Events after a cursor, oldest first; resume with 'next' as 'after'",
    )
    def feed(
        self,
        db: Database,
        principal: Principal,
        after: Annotated[
            str | None, QueryParameter(description="cursor ('next' of a page)")
        ] = None,
        type: TypeKeys = None,
        kind: Annotated[
            str | None,
            QueryParameter(description="comma-separated kinds; 'record.*' matches a prefix"),
        ] = None,
        limit: Annotated[
            int, QueryParameter(ge=0, le=INT32_MAX, description="1 to 1000")
        ] = DEFAULT_LIMIT,
    ) -> EventPage:
        page = read_events(
            db, principal, after=after, events=EventFilter.of(type, kind), limit=limit
        )
        return shaped(page, EventPage)
