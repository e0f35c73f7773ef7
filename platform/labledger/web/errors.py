"""Errors on pages: a readable HTML page, or a redirect to sign in.

The same service errors the API turns into problem JSON become, for a
browser, a page that says what went wrong. Requests under /api always get
problem JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.response import Redirect

from labledger.api.problems import framework_errors
from labledger.errors import FieldError, ServiceError
from labledger.web.deps import LoginRequired, PasswordChangeRequired
from labledger.web.pages import page


def _is_page_request(request: Request[Any, Any, Any]) -> bool:
    path = request.url.path
    return not (path.startswith("/api/") or path.startswith("/schema"))


def _redirect(request: Request[Any, Any, Any], location: str) -> Response[Any]:
    if request.headers.get("hx-request"):
        return Response(b"", status_code=204, headers={"HX-Redirect": location})
    return Redirect(location)


def login_required_handler(request: Request[Any, Any, Any], exc: LoginRequired) -> Response[Any]:
    return _redirect(request, f"/login?next={exc.next_path}")


def password_change_handler(
    request: Request[Any, Any, Any], exc: PasswordChangeRequired
) -> Response[Any]:
    return _redirect(request, "/account/password")


def for_pages(
    api_handler: Callable[[Request[Any, Any, Any], Any], Response[Any]],
) -> Callable[[Request[Any, Any, Any], Any], Response[Any]]:
    """Wrap an API error handler: browsers get an HTML error page instead."""

    def handler(request: Request[Any, Any, Any], exc: Any) -> Response[Any]:
        if not _is_page_request(request):
            return api_handler(request, exc)
        if isinstance(exc, ServiceError):
            status, title, detail = exc.status, exc.title, exc.detail
            errors = exc.errors
        elif isinstance(exc, HTTPException):
            status, title, detail = exc.status_code, "Request failed", exc.detail
            errors = [FieldError(**error) for error in framework_errors(exc)]
            if status == 404:
                title, detail = "Not found", "There is no page at this address."
        else:
            api_handler(request, exc)  # logs the unexpected error
            status, title, errors = 500, "Something went wrong", []
            detail = "The server could not complete the request; nothing was saved."
        return page(
            "error.html", None, status_code=status, title=title, detail=detail, errors=errors
        )

    return handler
