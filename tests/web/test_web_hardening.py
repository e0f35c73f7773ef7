"""Browser-facing defences: CSRF bound to the session, Secure cookies, security headers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from labledger.app import create_app
from labledger.db.tables import record
from labledger.identity.principal import CONFIGURE, MANAGE_USERS, READ_AUDIT, SYSTEM
from labledger.identity.sessions import SESSION_COOKIE
from labledger.metadata.types import publish_type
from labledger.web.csrf import ANONYMOUS_COOKIE
from tests.conftest import TEST_PASSWORD
from tests.definitions import add_roles, batch_type, unchanged
from tests.web.helpers import csrf_token, sign_in
from tests.web.record_fixtures import create, make_lab

#: The directives every page's policy must hold (the issue's minimum).
REQUIRED_DIRECTIVES = (
    "default-src 'self'",
    "frame-ancestors 'none'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)
INLINE_STYLE = re.compile(r"<style\b|<[a-z][^>]*\sstyle\s*=", re.I)


@pytest.fixture
def second_client(client: TestClient[Any]) -> Iterator[TestClient[Any]]:
    """Another browser on the same application, with cookies of its own."""
    with TestClient(client.app, raise_server_exceptions=False) as other:
        yield other


@pytest.fixture
def schematics(db, make_person):
    """A type whose key contains "schema": its forms must still need a token."""
    add_roles(db, "analyst")
    with db.write() as conn:
        publish_type(conn, SYSTEM, batch_type(key="schematic", label="Schematic"))
    return make_person("ann", "analyst")


def _schematic_count(db) -> int:
    with db.read() as conn:
        count = select(func.count()).select_from(record).where(record.c.type_key == "schematic")
        return conn.execute(count).scalar_one()


def test_a_type_keyed_like_the_exempt_paths_keeps_its_csrf_check(client, db, schematics):
    sign_in(client, "ann", TEST_PASSWORD)
    form = {"code": "S-1", "product": "wiring"}
    with unchanged(db):
        refused = client.post("/records/schematic/new", data=form, follow_redirects=False)
    assert refused.status_code == 403
    assert "reload the page" in refused.text
    token = csrf_token(client, "/records/schematic/new")
    saved = client.post(
        "/records/schematic/new", data={**form, "_csrf_token": token}, follow_redirects=False
    )
    assert saved.status_code in (302, 303)
    assert _schematic_count(db) == 1


@pytest.mark.requirement("REQ-ACC-07")
def test_the_api_never_takes_the_session_cookie(client, schematics):
    sign_in(client, "ann", TEST_PASSWORD)
    assert client.cookies.get(SESSION_COOKIE)
    response = client.get("/api/v1/types/schematic")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.requirement("REQ-ACC-07")
def test_a_token_works_only_in_the_session_it_was_issued_to(
    client, second_client, db, make_person, schematics
):
    make_person("bo", "analyst")
    sign_in(client, "ann", TEST_PASSWORD)
    sign_in(second_client, "bo", TEST_PASSWORD)
    anns_token = csrf_token(client, "/records/schematic/new")
    bos_token = csrf_token(second_client, "/records/schematic/new")
    form = {"code": "S-2"}
    with unchanged(db):
        for sent in (
            {"data": {**form, "_csrf_token": anns_token}},
            {
                "data": form,
                "headers": {"HX-Request": "true", "x-csrftoken": anns_token},
            },
        ):
            refused = second_client.post("/records/schematic/new", follow_redirects=False, **sent)
            assert refused.status_code == 403
    by_header = second_client.post(
        "/records/schematic/new",
        data=form,
        headers={"x-csrftoken": bos_token},
        follow_redirects=False,
    )
    assert by_header.status_code in (302, 303)
    assert _schematic_count(db) == 1


def test_a_forged_or_garbled_token_is_refused_cleanly(client, db, schematics):
    sign_in(client, "ann", TEST_PASSWORD)
    genuine = csrf_token(client, "/records/schematic/new")
    forged = genuine[:-1] + ("0" if genuine[-1] != "0" else "1")
    with unchanged(db):
        for token in (forged, genuine[:32], "é" * 100, genuine[:32] + "é" * 64):
            response = client.post(
                "/records/schematic/new",
                data={"code": "S-4", "_csrf_token": token},
                follow_redirects=False,
            )
            assert response.status_code == 403, token


def test_signing_in_binds_new_tokens_to_the_new_session(client, db, schematics):
    before = csrf_token(client, "/login")
    sign_in(client, "ann", TEST_PASSWORD)
    with unchanged(db):
        response = client.post(
            "/records/schematic/new",
            data={"code": "S-3", "_csrf_token": before},
            follow_redirects=False,
        )
    assert response.status_code == 403


def test_a_sign_in_form_token_belongs_to_one_browser(client, second_client, db, schematics):
    """Login CSRF: a token fetched by one browser cannot sign another one in."""
    stranger_token = csrf_token(second_client, "/login")
    client.get("/login")
    form = {"username": "ann", "password": TEST_PASSWORD, "_csrf_token": stranger_token}
    with unchanged(db):
        refused = client.post("/login", data=form, follow_redirects=False)
    assert refused.status_code == 403 and not client.cookies.get(SESSION_COOKIE)


def _set_cookies(response: Any) -> dict[str, str]:
    """Each cookie a response sets, by name, with its attributes."""
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


def _token(page: Any) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert match, "no CSRF field"
    return match.group(1)


def _signed_in_cookies(client: TestClient[Any], **headers: str) -> dict[str, str]:
    login = client.get("/login", headers=headers)
    signed_in = client.post(
        "/login",
        data={"username": "ann", "password": TEST_PASSWORD, "_csrf_token": _token(login)},
        headers=headers,
        follow_redirects=False,
    )
    assert signed_in.status_code in (302, 303)
    return {**_set_cookies(login), **_set_cookies(signed_in)}


def test_cookies_over_plain_http_work_for_local_use(client, schematics):
    cookies = _signed_in_cookies(client, **{"X-Forwarded-Proto": "https"})
    for name in (SESSION_COOKIE, ANONYMOUS_COOKIE):
        attributes = cookies[name].lower()
        assert "httponly" in attributes and "samesite=lax" in attributes, name
        assert "secure" not in attributes, f"{name}: a header alone must not decide"


def test_cookies_are_secure_over_https(client, schematics):
    with TestClient(client.app, base_url="https://testserver.local") as browser:
        cookies = _signed_in_cookies(browser)
        assert browser.get("/", follow_redirects=False).status_code == 200
    for name in (SESSION_COOKIE, ANONYMOUS_COOKIE):
        attributes = cookies[name].lower()
        assert "secure" in attributes and "httponly" in attributes, name
        assert "samesite=lax" in attributes, name


def test_the_secure_cookies_setting_marks_them_secure_behind_a_plain_proxy(
    db, settings, schematics
):
    app = create_app(replace(db, settings=replace(settings, secure_cookies=True)))
    with TestClient(app) as browser:
        login = browser.get("/login")
        binding = _set_cookies(login)[ANONYMOUS_COOKIE]
        # A Secure cookie is not sent back over plain HTTP: hand it over as the proxy would.
        signed_in = browser.post(
            "/login",
            data={"username": "ann", "password": TEST_PASSWORD, "_csrf_token": _token(login)},
            headers={"cookie": binding.split(";", 1)[0]},
            follow_redirects=False,
        )
    assert signed_in.status_code in (302, 303)
    assert "secure" in binding.lower()
    assert "secure" in _set_cookies(signed_in)[SESSION_COOKIE].lower()


@pytest.fixture
def signed_in_admin(client, db, make_person):
    """A signed-in user who may see every page, and a lot to show."""
    lab = make_lab(db, make_person)
    make_person("root", "overseer", "analyst", permissions=(CONFIGURE, MANAGE_USERS, READ_AUDIT))
    lot = create(db, lab.analyst, "lot", {"code": "L-1"})
    sign_in(client, "root", TEST_PASSWORD)
    return lot


PAGES = [
    "/",
    "/records",
    "/records/lot",
    "/records/lot/new",
    "/records/lot/{id}",
    "/records/lot/{id}/edit",
    "/records/lot/{id}/print",
    "/records/lot/scan?transition=submit",
    "/admin/types",
    "/admin/types/lot",
    "/admin/workflows",
    "/admin/workflows/lot_flow",
    "/admin/users",
    "/admin/roles",
    "/admin/config",
    "/admin/webhooks",
    "/imports",
    "/mappings",
    "/audit",
    "/account/password",
    "/no/such/page",
]


def test_every_page_sends_the_policy_and_has_no_inline_code(client, signed_in_admin):
    """One signed-in walk over the main pages (a fresh database per page would be slow)."""
    for path in PAGES:
        response = client.get(path.format(id=signed_in_admin["id"]), follow_redirects=False)
        assert response.status_code in (200, 404), (path, response.text[:300])
        assert response.headers["content-type"].startswith("text/html"), path
        _assert_protected(response, path)


def test_the_sign_in_page_and_the_api_viewer_send_the_policy(client):
    for path in ("/login", "/schema/swagger"):
        _assert_protected(client.get(path), path)
    api = client.get("/api/v1/types")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in api.headers["content-security-policy"]


def _assert_protected(response: Any, path: str) -> None:
    policy = response.headers["content-security-policy"]
    directives = [d.strip() for d in policy.split(";")]
    for required in REQUIRED_DIRECTIVES:
        assert required in directives, f"{path}: {required!r} missing from {policy!r}"
    script = next(d for d in directives if d.startswith(("script-src", "default-src")))
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script, path
    assert response.headers["x-content-type-options"] == "nosniff", path
    assert response.headers["referrer-policy"] == "same-origin", path
    for inline in (INLINE_SCRIPT, INLINE_HANDLER, INLINE_STYLE):
        found = inline.search(response.text)
        assert not found, f"{path}: inline code {found.group(0) if found else ''!r}"
