"""When the browser's cookies must be ``Secure``.

Behind HTTPS every cookie the pages set (the session and the anonymous CSRF
binding) is marked ``Secure``, so a browser never sends it over plain HTTP.
HTTPS is known from the request's own scheme: the server sets it to
``https`` for a TLS connection, or from ``X-Forwarded-Proto`` when the
connection comes from a trusted proxy (``LABLEDGER_TRUSTED_PROXIES``). An
installation whose proxy is not trusted that way sets
``LABLEDGER_SECURE_COOKIES`` instead. Plain ``http://127.0.0.1`` for local
work keeps working: there the cookies cannot be ``Secure``.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection

from labledger.db.engine import Database


def cookie_is_secure(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """True when cookies set in answer to this request must be ``Secure``."""
    db: Database = connection.app.state.db
    return db.settings.secure_cookies or connection.url.scheme == "https"
