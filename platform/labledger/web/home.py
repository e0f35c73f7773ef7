"""The start page and the work queues: the signed-in person's work, overdue first.

The start page shows the first page of each queue (a type in a state where
the person has a step); ``/work/{type}/{state}`` pages through one queue.
Each record shows its summary fields and flags, grouped under its parent
(a sample over its results), with tick boxes for running a step on several
at once and, where records wait for the person's data entry, a link to the
grid with their parents.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template
from sqlalchemy import Connection

from labledger.db.engine import Database
from labledger.identity.principal import Principal
from labledger.identity.sessions import WebSession
from labledger.metadata.types import list_types, readable_model
from labledger.records.related import record_summaries
from labledger.web.pages import page
from labledger.web.summaries import summarise
from labledger.workflows.work import Queue, my_work, queue_page


def queue_view(conn: Connection, actor: Principal, queue: Queue) -> dict[str, Any]:
    """A queue as the page shows it: items with summaries, grouped by parent."""
    summaries = {
        s.record["id"]: s
        for s in summarise(conn, actor, queue.model, [i.record for i in queue.items])
    }
    groups = queue.by_parent()
    parents = record_summaries(conn, actor, [p for p, _ in groups if p is not None])
    entry_parents = sorted(
        {p for p, items in groups if p is not None and any(i.needs_entry for i in items)}
    )
    return {
        "queue": queue,
        "groups": [
            (
                parents.get(p) if p is not None else None,
                [(i, summaries.get(i.record["id"])) for i in items],
            )
            for p, items in groups
        ],
        "entry_parents": entry_parents,
    }


class HomeController(Controller):
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def home(self, session: WebSession, db: Database) -> Template:
        actor = session.principal
        with db.read() as conn:
            queues = [queue_view(conn, actor, q) for q in my_work(conn, actor)]
            types = list_types(conn, actor)
            for item in types:
                item["may_create"] = readable_model(conn, actor, item["key"]).allows(
                    actor, "create"
                )
        signing = sum(view["queue"].signing for view in queues)
        return page("home.html", session, queues=queues, types=types, signing=signing)

    @get("/work/{type_key:str}/{state_key:str}", sync_to_thread=True)
    def queue(
        self,
        type_key: str,
        state_key: str,
        request: Request[Any, Any, Any],
        session: WebSession,
        db: Database,
    ) -> Template:
        """Every record of one queue, a page at a time."""
        actor = session.principal
        cursor = request.query_params.get("cursor") or None
        with db.read() as conn:
            model = readable_model(conn, actor, type_key)
            view = queue_view(conn, actor, queue_page(conn, actor, model, state_key, cursor=cursor))
        return page("work_queue.html", session, view=view)
