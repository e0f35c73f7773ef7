"""Wiring the browser application into the Litestar app: templates, CSRF, routes."""

from __future__ import annotations

from functools import cache

from litestar import Router
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig
from litestar.types import ControllerRouterHandler
from sqlalchemy.exc import DBAPIError

from labledger.db.engine import Database
from labledger.identity.sessions import instance_secret
from labledger.resources import data_path
from labledger.web.account import AccountController
from labledger.web.admin import CONTROLLERS as ADMIN_CONTROLLERS
from labledger.web.admin.notice import note_change_control
from labledger.web.dashboards import CONTROLLERS as DASHBOARD_CONTROLLERS
from labledger.web.home import HomeController
from labledger.web.integration import CONTROLLERS as INTEGRATION_CONTROLLERS
from labledger.web.printing import CONTROLLERS as PRINT_CONTROLLERS
from labledger.web.record_controllers import CONTROLLERS as RECORD_CONTROLLERS
from labledger.web.reviews import CONTROLLERS as REVIEW_CONTROLLERS
from labledger.web.scan import CONTROLLERS as SCAN_CONTROLLERS
from labledger.web.tokens import TokensController

#: The admin pages (configuration, users, audit, integration): each learns, before its
#: handler runs, whether the layout must show that change control is off.
ADMIN_PAGES = Router(
    path="/",
    route_handlers=[*ADMIN_CONTROLLERS, *INTEGRATION_CONTROLLERS, *REVIEW_CONTROLLERS],
    before_request=note_change_control,
)
#: Every page controller. Each page module exports its own CONTROLLERS list.
WEB_CONTROLLERS: list[ControllerRouterHandler] = [
    AccountController,
    TokensController,
    HomeController,
    *DASHBOARD_CONTROLLERS,
    *PRINT_CONTROLLERS,
    ADMIN_PAGES,
    *RECORD_CONTROLLERS,
    *SCAN_CONTROLLERS,
]


@cache
def _template_engine() -> JinjaTemplateEngine:
    """Jinja2 over ui/templates with autoescaping on (every value is escaped), one per
    process: every app built in it (the test suite builds hundreds) shares the compiled
    templates instead of compiling each page again."""
    return JinjaTemplateEngine(directory=data_path("ui", "templates"))


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(instance=_template_engine())


def csrf_secret(db: Database) -> str:
    """The key of the forms' CSRF tokens, stored in ``db`` so that all workers share it."""
    try:
        with db.write() as conn:
            return instance_secret(conn, "csrf_secret")
    except DBAPIError:
        raise SystemExit(
            "The database is not set up (or not reachable): run 'labledger init' first."
        ) from None
