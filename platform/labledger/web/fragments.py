"""Pages that update in place: telling htmx requests apart and answering them with fragments.

A fragment answering a refusal (403 wrong password, 409 conflict, 422
invalid input) carries ``X-Fragment: true``: app.js swaps such responses in
whatever their status, while a full error page is never pasted into a part
of a page.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.response import Template

from labledger.identity.sessions import WebSession
from labledger.web.pages import page

FRAGMENT_HEADER = "X-Fragment"


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    """An htmx request for part of a page (a history restore needs the whole page)."""
    headers = request.headers
    return headers.get("hx-request") == "true" and not headers.get("hx-history-restore-request")


def fragment(
    template: str, session: WebSession, *, status_code: int = 200, **context: Any
) -> Template:
    response = page(template, session, status_code=status_code, **context)
    response.set_header(FRAGMENT_HEADER, "true")
    return response


def htmx_redirect(location: str) -> Response[Any]:
    """Send the browser to ``location`` after an htmx request (htmx follows HX-Redirect)."""
    return Response(b"", status_code=200, headers={"HX-Redirect": location})
