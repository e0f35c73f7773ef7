"""Signing in and out, and changing one's password."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from labledger.db.engine import Database
from labledger.errors import ValidationFailed
from labledger.identity.passwords import MAX_PASSWORD_LENGTH
from labledger.identity.reset_notice import ResetNotice, password_expired, password_reset_notice
from labledger.identity.sessions import SESSION_COOKIE, WebSession, end_session, start_session
from labledger.identity.throttle import bounded, client_address
from labledger.identity.users import (
    PasswordCheck,
    change_own_password,
    check_password,
    expire_password_if_due,
)
from labledger.settings import Settings
from labledger.web.cookies import cookie_is_secure
from labledger.web.display import utc_text
from labledger.web.pages import page

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]

#: Largest sign-in form accepted (bytes): a username, a password and a CSRF token
#: fit many times over; anything bigger is refused (413) before it is parsed.
LOGIN_BODY_LIMIT = 16 * 1024


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect to another host after login."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _cookie_response(
    request: Request[Any, Any, Any], location: str, token: str | None
) -> Response[Any]:
    response: Response[Any] = Redirect(location)
    secure = cookie_is_secure(request)
    if token is None:
        response.delete_cookie(SESSION_COOKIE, path="/")
    else:
        response.set_cookie(
            SESSION_COOKIE, token, path="/", httponly=True, samesite="lax", secure=secure
        )
    return response


def _shown(notice: ResetNotice | None) -> dict[str, Any] | None:
    """The reset notice with its times written out in UTC."""
    if notice is None:
        return None
    return {
        "reset_by": notice.reset_by,
        "reset_at": utc_text(notice.reset_at),
        "last_sign_in": utc_text(notice.last_sign_in),
        "failed_attempts": notice.failed_attempts,
    }


def _password_page(
    session: WebSession,
    db: Database,
    settings: Settings,
    *,
    errors: dict[str, str],
    done: bool = False,
) -> Template:
    """The change-password page: the policy in force, and why a change is due.

    Shown before a change, after a refused one (422, the reason at its field)
    and after a successful one (``done``). Until the user has chosen a
    password it says whether an administrator reset it or it expired, so a
    refused attempt does not lose that explanation.
    """
    username = session.principal.username
    with db.read() as conn:
        notice = password_reset_notice(conn, username)
        expired = password_expired(conn, username)
    return page(
        "password.html",
        session,
        status_code=422 if errors else 200,
        errors=errors,
        done=done,
        notice=_shown(notice),
        expired=expired,
        min_length=settings.password_min_length,
        max_length=MAX_PASSWORD_LENGTH,
    )


def _login_refused(target: str, username: str, check: PasswordCheck) -> Template:
    """The sign-in form again with the reason: 401, or 429 with ``Retry-After``."""
    response = page(
        "login.html",
        status_code=401 if check.retry_after is None else 429,
        next=target,
        username=bounded(username),
        message=check.message,
    )
    if check.retry_after is not None:
        response.headers["Retry-After"] = str(check.retry_after)
    return response


class AccountController(Controller):
    include_in_schema = False

    @get("/login", sync_to_thread=False)
    def login_form(self, next: str | None = None) -> Template:
        return page("login.html", next=_safe_next(next), username="", message=None)

    @post("/login", sync_to_thread=True, request_max_body_size=LOGIN_BODY_LIMIT)
    def login(
        self, request: Request[Any, Any, Any], data: Form, db: Database, settings: Settings
    ) -> Response[Any]:
        username = data.get("username", "").strip().lower()
        target = _safe_next(data.get("next"))
        with db.write() as conn:
            check = check_password(
                conn,
                username,
                data.get("password", ""),
                throttled=True,
                client=client_address(request),
            )
            principal = check.principal and expire_password_if_due(
                conn, check.principal, settings.password_max_age_days
            )
            token = start_session(conn, principal) if principal else None
        if token is None:
            return _login_refused(target, username, check)
        return _cookie_response(request, target, token)

    @post("/logout", sync_to_thread=True)
    def logout(self, request: Request[Any, Any, Any], db: Database) -> Response[Any]:
        with db.write() as conn:
            end_session(conn, request.cookies.get(SESSION_COOKIE))
        return _cookie_response(request, "/login", None)

    @get("/account/password", sync_to_thread=True)
    def password_form(self, session: WebSession, db: Database, settings: Settings) -> Template:
        return _password_page(session, db, settings, errors={})

    @post("/account/password", sync_to_thread=True)
    def change_password(
        self, data: Form, session: WebSession, db: Database, settings: Settings
    ) -> Template:
        errors: dict[str, str] = {}
        if data.get("new_password") != data.get("repeat_password"):
            errors["repeat_password"] = "the two new passwords differ"  # noqa: S105
        else:
            try:
                with db.write() as conn:
                    change_own_password(
                        conn,
                        session.principal.username,
                        data.get("old_password", ""),
                        data.get("new_password", ""),
                        settings.password_min_length,
                        keep_session=session.token_hash,
                    )
            except ValidationFailed as exc:
                errors = {e.field: e.message for e in exc.errors}
        return _password_page(session, db, settings, errors=errors, done=not errors)
