"""A person signs in and out in a real browser."""

from __future__ import annotations

import pytest

from tests.browser.conftest import sign_in_page
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.browser


def test_sign_in_shows_my_work_and_sign_out_ends_it(page, make_person, shoot):
    make_person("ann", "analyst")
    page.goto("/")
    assert "/login" in page.url
    page.fill("#username", "ann")
    page.fill("#password", "wrong password")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "Invalid username or password."
    shoot("login", full_page=False)
    sign_in_page(page, "ann", TEST_PASSWORD)
    assert page.locator("h1").inner_text() == "My work"
    page.click("text=Sign out")
    page.wait_for_url("**/login")
    page.goto("/")
    assert "/login" in page.url
