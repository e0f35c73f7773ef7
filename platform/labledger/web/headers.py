"""Security headers on every response.

Every page gets a Content-Security-Policy that lets only the application's
own static files run (no inline script or style, nothing from elsewhere) and
forbids framing by any site, so the signature dialog cannot be clickjacked.
A response that sets its own policy (the print pages, the API viewer) keeps
it. Every response also tells the browser not to guess content types and to
send no referrer to other sites.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar.datastructures import MutableScopeHeaders

if TYPE_CHECKING:
    from litestar.types import Message, Scope

PAGE_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "content-security-policy": PAGE_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


async def add_security_headers(message: Message, scope: Scope) -> None:
    """``before_send`` hook: add each security header the response did not set itself."""
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    for name, value in SECURITY_HEADERS.items():
        if name not in headers:
            headers[name] = value
