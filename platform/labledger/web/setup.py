"""Wiring the browser application into the Litestar app: templates, CSRF, routes."""

from __future__ import annotations

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
from labledger.web.csrf import SessionBoundCSRF
from labledger.web.home import HomeController
from labledger.web.integration import CONTROLLERS as INTEGRATION_CONTROLLERS
from labledger.web.printing import CONTROLLERS as PRINT_CONTROLLERS
from labledger.web.record_controllers import CONTROLLERS as RECORD_CONTROLLERS
from labledger.web.scan import CONTROLLERS as SCAN_CONTROLLERS

#: The admin pages (configuration, users, audit, integration): each learns, before its
#: handler runs, whether the layout must show that change control is off.
ADMIN_PAGES = Router(
    path="/",
    route_handlers=[*ADMIN_CONTROLLERS, *INTEGRATION_CONTROLLERS],
    before_request=note_change_control,
)
#: Every page controller. Each page module exports its own CONTROLLERS list.
WEB_CONTROLLERS: list[ControllerRouterHandler] = [
    AccountController,
    HomeController,
    *PRINT_CONTROLLERS,
    ADMIN_PAGES,
    *RECORD_CONTROLLERS,
    *SCAN_CONTROLLERS,
]


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """Jinja2 over ui/templates with autoescaping on (every value is escaped)."""
    return TemplateConfig(directory=data_path("ui", "templates"), engine=JinjaTemplateEngine)


def csrf_middleware(db: Database) -> SessionBoundCSRF:
    """CSRF for every form, keyed by the secret all workers share; the API is exempt."""
    try:
        with db.write() as conn:
            secret = instance_secret(conn, "csrf_secret")
    except DBAPIError:
        raise SystemExit(
            "The database is not set up (or not reachable): run 'labledger init' first."
        ) from None
    return SessionBoundCSRF(secret)
