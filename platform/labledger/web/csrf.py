"""CSRF protection for the browser pages, with tokens bound to the session.

Every state-changing page request (anything but GET, HEAD, OPTIONS) must carry
a token, in the ``_csrf_token`` form field or the ``x-csrftoken`` header (htmx
sends the header). A token is a random nonce followed by an HMAC, under the
instance's secret, of that nonce and the browser's session cookie; so a token
taken from one session is worthless in another, and no server-side state is
needed (any worker checks any token). Before signing in, the token is bound
to a random cookie of its own instead, so a cross-site form cannot sign a
victim in to another account either. The nonce makes each page's token
different, so a compressed response never repeats a secret.

The JSON API and the OpenAPI documents are exempt: they are matched as
anchored prefixes (``/api/...``, ``/schema...``), and the API accepts bearer
tokens only, never the session cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import TYPE_CHECKING, Any

from litestar import Request
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import RequestEncodingType, ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.utils.scope.state import ScopeState

from labledger.errors import Forbidden
from labledger.identity.sessions import SESSION_COOKIE
from labledger.web.cookies import cookie_is_secure

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

#: Paths that never use the session cookie, so need no token (anchored at the start).
EXEMPT_PATHS = re.compile(r"^/(?:api/|schema(?:/|$))")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HEADER = "x-csrftoken"
FORM_FIELD = "_csrf_token"
#: The random value anonymous pages bind their tokens to (never the token itself).
ANONYMOUS_COOKIE = "labledger_csrf"
_NONCE_BYTES = 16
REFUSAL = "This form is out of date or belongs to another sign-in: reload the page and try again."


def issue_token(secret: str, binding: str) -> str:
    """A fresh token for the session (or anonymous browser) ``binding`` names."""
    nonce = secrets.token_hex(_NONCE_BYTES)
    return nonce + _mac(secret, nonce, binding)


def token_is_valid(secret: str, binding: str, token: str) -> bool:
    """True when ``token`` was issued for ``binding`` under ``secret``."""
    nonce, mac = token[: _NONCE_BYTES * 2], token[_NONCE_BYTES * 2 :]
    if len(nonce) != _NONCE_BYTES * 2 or not mac:
        return False
    # Compared as bytes: compare_digest refuses text that is not ASCII.
    expected = _mac(secret, nonce, binding).encode()
    return hmac.compare_digest(mac.encode("utf-8", "surrogatepass"), expected)


def _mac(secret: str, nonce: str, binding: str) -> str:
    message = f"{nonce}|{binding}".encode("utf-8", "surrogatepass")
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _binding(cookies: dict[str, str]) -> str | None:
    """What a token must be bound to: the session if there is one, else the anonymous cookie.

    Only a digest of the session cookie enters the MAC, so a token never
    reveals anything about the cookie.
    """
    session = cookies.get(SESSION_COOKIE)
    if session:
        return "session:" + hashlib.sha256(session.encode("utf-8", "surrogatepass")).hexdigest()
    anonymous = cookies.get(ANONYMOUS_COOKIE)
    return f"anonymous:{anonymous}" if anonymous else None


class SessionBoundCSRF(ASGIMiddleware):
    """Checks the token of every state-changing page request; issues one to every page.

    The secret is the one of the database the application serves
    (``app.state.csrf_secret``, set with the database by ``serve_database``).
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["type"] != ScopeType.HTTP or EXEMPT_PATHS.match(scope["path"]):
            await next_app(scope, receive, send)
            return
        request: Request[Any, Any, Any] = Request(scope, receive)
        secret: str = request.app.state.csrf_secret
        binding = _binding(request.cookies)
        if request.method not in SAFE_METHODS:
            token = await _submitted_token(request)
            if binding is None or token is None or not token_is_valid(secret, binding, token):
                raise Forbidden(REFUSAL)
            ScopeState.from_scope(scope).csrf_token = token
            await next_app(scope, receive, send)
            return
        new_cookie = None
        if binding is None:
            new_cookie = secrets.token_urlsafe(32)
            binding = f"anonymous:{new_cookie}"
        ScopeState.from_scope(scope).csrf_token = issue_token(secret, binding)
        if new_cookie is not None:
            send = _setting_cookie(send, new_cookie, secure=cookie_is_secure(request))
        await next_app(scope, receive, send)


async def _submitted_token(request: Request[Any, Any, Any]) -> str | None:
    """The token from the header, or from the form field of a form post."""
    token = request.headers.get(HEADER)
    if token:
        return token
    content_type, _ = request.content_type
    if content_type in (RequestEncodingType.URL_ENCODED, RequestEncodingType.MULTI_PART):
        value = (await request.form()).get(FORM_FIELD)
        return value if isinstance(value, str) else None
    return None


def _setting_cookie(send: Send, value: str, secure: bool) -> Send:
    """Wrap ``send`` so the response sets the anonymous binding cookie."""
    cookie = Cookie(
        key=ANONYMOUS_COOKIE, value=value, path="/", httponly=True, samesite="lax", secure=secure
    )

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            MutableScopeHeaders.from_message(message).add("set-cookie", cookie.to_header(header=""))
        await send(message)

    return wrapped
