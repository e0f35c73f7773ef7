"""What web handlers receive: the signed-in session, or a redirect to the login page.

Pages use the session cookie only; the JSON API never does. State-changing
forms are protected by ``labledger.web.csrf`` (a token bound to the session,
sent in each form or htmx request header).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request
from litestar.di import Provide

from labledger.db.engine import Database
from labledger.identity.sessions import SESSION_COOKIE, WebSession, resume_session


class LoginRequired(Exception):
    """No live session: the browser is sent to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PasswordChangeRequired(Exception):
    """The password was set by an admin: the user must choose their own first."""


#: Pages a user with a one-time password may still reach.
_ALLOWED_BEFORE_CHANGE = ("/account/password", "/logout")


def provide_web_session(request: Request[Any, Any, Any]) -> WebSession:
    db: Database = request.app.state.db
    idle_minutes = db.settings.session_idle_minutes
    session = resume_session(db, request.cookies.get(SESSION_COOKIE), idle_minutes)
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(quote(target, safe="/?=&"))
    if session.principal.must_change_password and request.url.path not in _ALLOWED_BEFORE_CHANGE:
        raise PasswordChangeRequired()
    return session


WEB_DEPENDENCIES = {"session": Provide(provide_web_session, sync_to_thread=True)}
