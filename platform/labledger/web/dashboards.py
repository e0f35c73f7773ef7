"""Dashboards in the browser: those the person may open, one dashboard's panels (an
SVG chart each, its numbers beside it), and a panel's numbers as a CSV file.

The numbers, the charts and who may see what are the dashboards service's
(``labledger.dashboards``); these handlers only read and render.
"""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.response import Template

from labledger.dashboards.definitions import list_dashboards
from labledger.dashboards.panels import dashboard_view, panel_csv
from labledger.db.engine import Database
from labledger.errors import NotFound
from labledger.identity.sessions import WebSession
from labledger.metadata.types import list_types
from labledger.web.pages import page

CSV_SUFFIX = ".csv"


class DashboardPagesController(Controller):
    path = "/dashboards"
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def index(self, session: WebSession, db: Database) -> Template:
        with db.read() as conn:
            dashboards = list_dashboards(conn, session.principal)
        return page("dashboards/list.html", session, dashboards=dashboards)

    @get("/{key:str}", sync_to_thread=True)
    def dashboard(self, key: str, session: WebSession, db: Database) -> Template:
        with db.read() as conn:
            view = dashboard_view(conn, session.principal, key)
            types = {t["key"]: t for t in list_types(conn, session.principal)}
        return page("dashboards/dashboard.html", session, view=view, types=types)

    @get("/{key:str}/{file:str}", sync_to_thread=True)
    def csv(self, key: str, file: str, session: WebSession, db: Database) -> Response[str]:
        """``/dashboards/{key}/{panel}.csv``: the panel's table, as a download."""
        panel = file.removesuffix(CSV_SUFFIX)
        if panel == file:
            raise NotFound(f"There is no page '{file}' of dashboard '{key}'.")
        with db.read() as conn:
            text = panel_csv(conn, session.principal, key, panel)
        # Both keys passed their patterns (lower-case letters, digits, _): a safe file name.
        return Response(
            text,
            media_type="text/csv",  # Litestar adds "; charset=utf-8" to text
            headers={"Content-Disposition": f'attachment; filename="{key}-{panel}.csv"'},
        )


CONTROLLERS = [DashboardPagesController]
