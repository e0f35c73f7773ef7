"""The start page: the signed-in person's work, overdue first, and the record types."""

from __future__ import annotations

from litestar import Controller, get
from litestar.response import Template

from labledger.db.engine import Database
from labledger.identity.sessions import WebSession
from labledger.metadata.types import list_types, readable_model
from labledger.web.pages import page
from labledger.workflows.work import my_work


class HomeController(Controller):
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def home(self, session: WebSession, db: Database) -> Template:
        actor = session.principal
        with db.read() as conn:
            work = my_work(conn, actor)
            types = list_types(conn, actor)
            for item in types:
                model = readable_model(conn, actor, item["key"])
                item["may_create"] = model.allows(actor, "create")
                item["due_field"] = model.spec.due_field
        due = {t["key"]: t["due_field"] for t in types}
        signing = [(w, item) for w in work for item in w.items if item.needs_signature]
        return page("home.html", session, work=work, types=types, due=due, signing=signing)
