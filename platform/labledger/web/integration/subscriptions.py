"""Webhook subscriptions in the browser: the list, a new one, a change.

The forms call ``integration.subscriptions`` with the same body the JSON API
sends, so a subscription is validated (the outgoing-URL allowlist included)
and audited exactly as one made through the API.

The secret is write-only. The form never shows it; a secret the admin types
is saved and not shown back. A secret the server generates (a new
subscription without one, or "generate a new secret") is shown once, on the
page that answers the save, just as the API shows it once in its answer:
the receiver cannot check signatures without it.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.response import Template

from labledger.db.engine import Database
from labledger.errors import ValidationFailed
from labledger.identity.principal import CONFIGURE
from labledger.identity.sessions import WebSession
from labledger.integration.allowlist import Allowlist
from labledger.integration.subscriptions import (
    DEFAULT_MAX_ATTEMPTS,
    create_subscription,
    list_subscriptions,
    subscription_status,
    update_subscription,
)
from labledger.metadata.types import list_types
from labledger.settings import WEBHOOK_ALLOWLIST_ENV
from labledger.web.admin.common import (
    Form,
    FormBody,
    Problems,
    form_page,
    pages_needing,
    parse_list,
    parse_number,
)
from labledger.web.integration.common import unplaced
from labledger.web.pages import page

WHAT = "Managing webhooks"
#: The inputs of the form; errors about anything else show above it.
INPUTS = ("name", "url", "types", "kinds", "states", "secret", "active", "max_attempts")


def subscription_body(form: Form, *, creating: bool) -> dict[str, Any]:
    """The service's input from the form: lists from comma-separated text, and a
    secret only when one was typed (blank: generated on create, kept on a change)."""
    body: dict[str, Any] = {
        "url": form.text("url"),
        "types": [t for t in form.values("types") if t],
        "kinds": parse_list(form.text("kinds")) or [],
        "states": parse_list(form.text("states")) or [],
        "active": form.checked("active"),
    }
    if creating:
        body["name"] = form.text("name")
    attempts = parse_number(form.text("max_attempts"))
    if attempts is not None:
        body["max_attempts"] = attempts
    if form.text("secret"):
        body["secret"] = form.text("secret")
    elif form.checked("rotate_secret"):
        body["rotate_secret"] = True
    return body


def _form_values(form: Form) -> dict[str, Any]:
    """What the admin typed, to show again beside the errors (never the secret)."""
    return {
        "name": form.text("name"),
        "url": form.text("url"),
        "types": form.values("types"),
        "kinds": form.text("kinds"),
        "states": form.text("states"),
        "active": form.checked("active"),
        "max_attempts": form.text("max_attempts"),
    }


def _saved_values(view: dict[str, Any]) -> dict[str, Any]:
    """A stored subscription as the form shows it."""
    return {
        "name": view["name"],
        "url": view["url"],
        "types": view["filter"]["types"],
        "kinds": ", ".join(view["filter"]["kinds"]),
        "states": ", ".join(view["filter"]["states"]),
        "active": view["active"],
        "max_attempts": str(view["max_attempts"]),
    }


class WebhookPagesController(Controller):
    path = "/admin/webhooks"
    include_in_schema = False
    dependencies = pages_needing(CONFIGURE, WHAT)

    @get("/", sync_to_thread=True)
    def index(self, session: WebSession, db: Database) -> Template:
        return self._list(session, db)

    @get("/new", sync_to_thread=True)
    def new(self, session: WebSession, db: Database) -> Template:
        values = {"active": True, "max_attempts": str(DEFAULT_MAX_ATTEMPTS), "types": []}
        return self._form(session, db, values=values)

    @post("/new", sync_to_thread=True, status_code=200)
    def create(self, data: FormBody, session: WebSession, db: Database) -> Template:
        return self._save(session, db, Form(data))

    @get("/{name:str}/edit", sync_to_thread=True)
    def edit(self, name: str, session: WebSession, db: Database) -> Template:
        with db.read() as conn:
            view = subscription_status(conn, session.principal, name, failures=0)
        return self._form(session, db, original=name, values=_saved_values(view))

    @post("/{name:str}/edit", sync_to_thread=True, status_code=200)
    def update(self, name: str, data: FormBody, session: WebSession, db: Database) -> Template:
        return self._save(session, db, Form(data), original=name)

    def _save(self, session: WebSession, db: Database, form: Form, original: str = "") -> Template:
        """Create a subscription, or change the one named ``original``; a secret the
        server generated is shown this once."""
        try:
            body = subscription_body(form, creating=not original)
            allowlist = Allowlist.from_settings(db.settings)
            with db.write() as conn:
                if original:
                    saved = update_subscription(conn, session.principal, original, body, allowlist)
                else:
                    saved = create_subscription(conn, session.principal, body, allowlist)
        except ValidationFailed as exc:
            return self._refused(session, db, form, exc, original=original)
        name = original or saved["name"]
        generated = "secret" in saved and not form.text("secret")
        return self._list(
            session,
            db,
            message=f"Webhook {name} was {'saved' if original else 'created'}.",
            secret=saved["secret"] if generated else None,
            secret_for=name,
        )

    def _refused(
        self,
        session: WebSession,
        db: Database,
        form: Form,
        exc: ValidationFailed,
        original: str = "",
    ) -> Template:
        problems = Problems(exc.errors)
        return self._form(
            session,
            db,
            status_code=exc.status,
            original=original,
            values={**_form_values(form), "name": original or form.text("name")},
            problems=problems,
            detail=exc.detail,
            others=unplaced(problems, INPUTS),
        )

    def _list(self, session: WebSession, db: Database, **context: Any) -> Template:
        with db.read() as conn:
            subscriptions = list_subscriptions(conn, session.principal)
        return page(
            "integration/webhooks.html",
            session,
            subscriptions=subscriptions,
            allowlist_env=WEBHOOK_ALLOWLIST_ENV,
            **context,
        )

    def _form(
        self, session: WebSession, db: Database, *, status_code: int = 200, **context: Any
    ) -> Template:
        with db.read() as conn:
            types = list_types(conn, session.principal)
        return form_page(
            "integration/webhook_form.html",
            session,
            status_code,
            context,
            others=[],
            original="",
            types=types,
            allowlist_env=WEBHOOK_ALLOWLIST_ENV,
        )
