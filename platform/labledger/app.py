"""The Litestar application: API, static files, OpenAPI, error handling.

``create_app`` is also the factory the production server loads
(``labledger serve``); each worker process builds its own engine, and nothing
that workers must share lives in process memory.
"""

from __future__ import annotations

from litestar import Litestar, Router
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from litestar.types import ExceptionHandlersMap

from labledger import __version__
from labledger.api.attachments import AttachmentsController
from labledger.api.audit import AuditController
from labledger.api.changes import ChangeRequestsController
from labledger.api.config import ConfigController
from labledger.api.dashboards import DashboardsController
from labledger.api.deps import API_DEPENDENCIES, APP_DEPENDENCIES
from labledger.api.dossier import DossierController
from labledger.api.events import EventsController
from labledger.api.mappings import ImportsController, MappingsController
from labledger.api.openapi import ApiOpenAPIConfig
from labledger.api.printing import PrintingController
from labledger.api.problems import EXCEPTION_HANDLERS
from labledger.api.records import RecordsController
from labledger.api.types import TypesController
from labledger.api.viewer import StaticSwaggerPage
from labledger.api.webhooks import WebhooksController
from labledger.api.workflows import (
    BulkTransitionsController,
    TransitionsController,
    WorkflowsController,
)
from labledger.changes.schedule import scheduled_activations
from labledger.db.engine import Database, database_named_by
from labledger.identity.token_cache import TokenCache
from labledger.input_guard import InputGuard
from labledger.resources import data_path
from labledger.settings import Settings
from labledger.web.csrf import SessionBoundCSRF
from labledger.web.deps import WEB_DEPENDENCIES, LoginRequired, PasswordChangeRequired
from labledger.web.errors import for_pages, login_required_handler, password_change_handler
from labledger.web.headers import add_security_headers
from labledger.web.setup import WEB_CONTROLLERS, csrf_secret, template_config

SWAGGER = "/static/vendor/swagger-ui"


def _openapi() -> ApiOpenAPIConfig:
    """OpenAPI at /schema/openapi.json (errors documented as problem JSON), with a viewer
    that loads nothing from a CDN."""
    return ApiOpenAPIConfig(
        title="labledger API",
        version=__version__,
        path="/schema",
        render_plugins=[
            StaticSwaggerPage(
                js_url=f"{SWAGGER}/swagger-ui-bundle.js",
                css_url=f"{SWAGGER}/swagger-ui.css",
                standalone_preset_js_url=f"{SWAGGER}/swagger-ui-standalone-preset.js",
                path="/swagger",
            )
        ],
        components=Components(
            security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}
        ),
        security=[{"bearer": []}],
    )


def create_app(db: Database | None = None) -> Litestar:
    """The application over ``db`` (by default the database ``LABLEDGER_*`` names).

    Its settings are the database's, the ones its connections carry to the
    services (``settings_of``), so handlers, middleware and the write path
    cannot disagree about a limit.
    """
    db = db or database_named_by(Settings.from_env())
    app = build_app(db.settings)
    serve_database(app, db)
    return app


def build_app(settings: Settings) -> Litestar:
    """The application before it has a database (``serve_database`` gives it one).

    Building registers some 250 handlers, a fifth of a second; a process that
    serves several databases in turn (the test suite) builds the application
    once and gives it each database before serving it.
    """
    api = Router(
        path="/api/v1",
        route_handlers=[
            TypesController,
            RecordsController,
            DossierController,
            TransitionsController,
            BulkTransitionsController,
            WorkflowsController,
            AuditController,
            AttachmentsController,
            ConfigController,
            ChangeRequestsController,
            PrintingController,
            DashboardsController,
            EventsController,
            WebhooksController,
            MappingsController,
            ImportsController,
        ],
        dependencies=API_DEPENDENCIES,
    )
    static = create_static_files_router(path="/static", directories=[data_path("ui", "static")])
    exception_handlers: ExceptionHandlersMap = {
        kind: for_pages(h) for kind, h in EXCEPTION_HANDLERS.items()
    }
    exception_handlers[LoginRequired] = login_required_handler
    exception_handlers[PasswordChangeRequired] = password_change_handler
    return Litestar(
        route_handlers=[api, static, *WEB_CONTROLLERS],
        dependencies={**APP_DEPENDENCIES, **WEB_DEPENDENCIES},
        exception_handlers=exception_handlers,
        template_config=template_config(),
        # Hostile input is refused first, before the CSRF check reads any form.
        middleware=[InputGuard(), SessionBoundCSRF()],
        before_send=[add_security_headers],
        openapi_config=_openapi(),
        request_max_body_size=settings.request_max_bytes,
        on_shutdown=[_dispose_database],
        lifespan=[scheduled_activations],
    )


def serve_database(app: Litestar, db: Database) -> None:
    """Make ``db`` the database ``app`` serves: its requests, CSRF key, API tokens and
    scheduled activations all use it. Call it before the application starts serving."""
    if db.settings.request_max_bytes != app.request_max_body_size:
        raise ValueError("the database's request limit differs from the application's")
    app.state.db = db
    app.state.csrf_secret = csrf_secret(db)
    app.state.token_cache = TokenCache()


def _dispose_database(app: Litestar) -> None:
    db: Database = app.state.db
    db.dispose()
