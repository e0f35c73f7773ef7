"""/api/v1/dashboards: dashboards published like print templates, and their numbers."""

from __future__ import annotations

from litestar import Controller, get, put

from labledger.api.definitions import DefinitionBody, publish_definition
from labledger.api.reading import read_items
from labledger.api.schemas.base import Published, VersionedDefinition, shaped
from labledger.api.schemas.dashboards import DashboardList, DashboardNumbers
from labledger.dashboards.definitions import list_dashboards, open_dashboard, publish_dashboard
from labledger.dashboards.panels import dashboard_view
from labledger.db.engine import Database
from labledger.identity.principal import Principal


class DashboardsController(Controller):
    path = "/dashboards"
    tags = ["dashboards"]

    @get("/", sync_to_thread=True, summary="The dashboards you may open")
    def list(self, db: Database, principal: Principal) -> DashboardList:
        return read_items(db, DashboardList, lambda conn: list_dashboards(conn, principal))

    @get("/{key:str}", sync_to_thread=True, summary="Read a dashboard's definition")
    def read(self, key: str, db: Database, principal: Principal) -> VersionedDefinition:
        with db.read() as conn:
            found = open_dashboard(conn, principal, key)
        return VersionedDefinition(key=key, version=found.version, definition=found.definition)

    @put(
        "/{key:str}",
        sync_to_thread=True,
        summary="Publish a new version of a dashboard (needs 'configure')",
    )
    def publish(
        self, key: str, data: DefinitionBody, db: Database, principal: Principal
    ) -> Published:
        return publish_definition(db, principal, publish_dashboard, data, key, noun="dashboard")

    @get(
        "/{key:str}/numbers",
        sync_to_thread=True,
        summary="A dashboard's numbers now: a table per panel, of the types you may read",
    )
    def numbers(self, key: str, db: Database, principal: Principal) -> DashboardNumbers:
        with db.read() as conn:
            view = dashboard_view(conn, principal, key)
        return shaped(view.as_data(), DashboardNumbers)
