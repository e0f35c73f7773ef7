"""The start page: the signed-in user's work."""

from __future__ import annotations

from litestar import Controller, get
from litestar.response import Template

from labledger.db.engine import Database
from labledger.identity.sessions import WebSession
from labledger.metadata.types import list_types
from labledger.web.pages import page


class HomeController(Controller):
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def home(self, session: WebSession, db: Database) -> Template:
        with db.read() as conn:
            types = list_types(conn, session.principal)
        return page("home.html", session, types=types)
