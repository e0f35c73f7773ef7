"""Driving the HTML pages in tests: CSRF tokens and signing in."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import TestClient

_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


def csrf_token(client: TestClient[Any], path: str = "/login") -> str:
    """The CSRF token from a page's form (the cookie is kept by the client)."""
    match = _CSRF.search(client.get(path).text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def sign_in(client: TestClient[Any], username: str, password: str) -> Any:
    token = csrf_token(client)
    return client.post(
        "/login",
        data={"username": username, "password": password, "next": "/", "_csrf_token": token},
        follow_redirects=False,
    )
