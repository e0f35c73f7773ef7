"""Browser tests: real Chromium (Debian's package) driven by Playwright against
the real app, served by uvicorn on a loopback port, on each database backend.

Playwright's own browser download cannot work on machines without internet
access, so the tests launch the system Chromium and skip, saying why, when
there is none.

The tests photograph the main pages through the `shoot` fixture. A test run
never writes into the repository: the pictures go to a temporary directory
unless pytest is given `--screenshots=DIR` (`make screenshots` passes
docs/screenshots, the pictures the documentation shows).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import expect

from labledger.app import create_app

CHROMIUM = (
    os.environ.get("LABLEDGER_CHROMIUM")
    or shutil.which("chromium")
    or shutil.which("chromium-browser")
)
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
#: `shoot(name, full_page=True)`: save the page as NAME.png (see the `shoot` fixture).
Shoot = Callable[..., None]

#: How long an `expect(...)` waits for the page to reach the state it names. Playwright's
#: default (5 s) is shorter than a round trip takes on a busy 2-core machine running two
#: test processes, each with Chromium, a server and a database: an answer arriving after
#: 5 s failed the grid test, whose row status still showed the previous save's message.
#: Waiting longer changes no assertion; a page that never gets there still fails.
EXPECT_TIMEOUT_MS = 20_000
expect.set_options(timeout=EXPECT_TIMEOUT_MS)

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live_server(db) -> Iterator[str]:
    """The real app on a real HTTP server in a background thread; yields its base URL."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(db), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the test server did not start")
        threading.Event().wait(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM:
        pytest.skip("no Chromium on this machine (install Debian's 'chromium' package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright gives each launch a fresh, empty profile directory of its own.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server) -> Iterator[Any]:
    """A fresh browser context (no cookies) whose relative URLs go to the live server."""
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def screenshots_dir(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """`--screenshots` (relative to the repository's root), or a temporary directory."""
    chosen = request.config.getoption("screenshots")
    if chosen is None:
        return tmp_path_factory.mktemp("screenshots")
    return request.config.rootpath / chosen


@pytest.fixture
def shoot(page, db, screenshots_dir: Path) -> Shoot:
    """Save the page as NAME.png, on SQLite only: a run on both backends takes
    each picture once, and the documentation's pictures do not depend on which
    backend ran last."""

    def take(name: str, *, full_page: bool = True) -> None:
        if db.dialect == "sqlite":
            screenshots_dir.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshots_dir / f"{name}.png"), full_page=full_page)

    return take


def sign_in_page(page: Any, username: str, password: str) -> None:
    """Sign in as ``username``, signing out first whoever is signed in."""
    if page.locator("text=Sign out").count():
        page.click("text=Sign out")
        page.wait_for_url("**/login")
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
