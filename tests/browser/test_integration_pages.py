"""Journeys through the integration pages in a real browser.

An admin checks a new mapping in the editor, uploads an instrument file
through a published mapping, sees the row error in the preview, uploads the
corrected file, applies it and follows the import to the records it
produced. Then a webhook whose receiver cannot be reached has a dead
delivery; the delivery monitor shows why, and Replay sends it again.
"""

from __future__ import annotations

import re
import socket
from typing import Any

import pytest
from playwright.sync_api import expect

from labledger.identity.principal import SYSTEM
from labledger.integration.delivery import DeliveryPolicy, deliver_due
from labledger.integration.mappings import publish_mapping
from labledger.records.service import create_record
from tests.browser.conftest import Shoot, sign_in_page
from tests.browser.test_admin_designs_type import ADMIN_PERMISSIONS
from tests.conftest import TEST_PASSWORD
from tests.definitions import acting, add_roles, batch_type, measurement_type
from tests.test_integration_mappings import HEADER, results_mapping
from tests.test_integration_support import allow_webhooks

pytestmark = pytest.mark.browser

ANALYST = acting("ann", "analyst")
GOOD = HEADER + "B-1,pH,3.5,mg/L,2026-05-01\nB-2,Lead,0.004,g/L,2026-05-02\n"
TYPO = GOOD + "B-9,Zinc,2,mg/L,2026-05-02\n"


@pytest.fixture
def admin_page(page: Any, db: Any, publish: Any, make_person: Any) -> Any:
    """The lab's types, batches B-1 and B-2, the plate reader mapping; an admin signed in."""
    add_roles(db, "analyst", "reviewer")
    publish(batch_type())
    publish(measurement_type())
    with db.write() as conn:
        for code in ("B-1", "B-2"):
            create_record(conn, ANALYST, "batch", {"code": code})
        publish_mapping(conn, SYSTEM, results_mapping())
    make_person("ada", "configurer", "analyst", permissions=ADMIN_PERMISSIONS)
    sign_in_page(page, "ada", TEST_PASSWORD)
    return page


def upload(page: Any, content: str, name: str) -> None:
    page.goto("/imports")
    page.select_option("#mapping", "plate_results")
    page.set_input_files(
        "#file", files=[{"name": name, "mimeType": "text/csv", "buffer": content.encode()}]
    )
    page.get_by_role("button", name="Preview").click()


def test_an_admin_imports_a_file_through_a_mapping(admin_page: Any, shoot: Shoot) -> None:
    page = admin_page
    page.goto("/mappings/new?target=measurement")
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#check-result")).to_contain_text("No problems found")
    shoot("integration-mapping-editor")

    upload(page, TYPO, "plate-0501.csv")
    errors = page.locator("table.row-errors")
    expect(errors).to_contain_text("line 4, column Sample (field batch)")
    expect(errors).to_contain_text("there is no batch record with code 'B-9'")
    expect(page.locator("#line-4")).to_have_class("error-row")
    expect(page.locator("#apply")).to_have_count(0)

    upload(page, GOOD, "plate-0501-fixed.csv")
    expect(page.locator("#report")).to_contain_text("Preview only: nothing was written yet.")
    expect(page.locator("table.import-rows .badge.ok")).to_have_count(2)
    shoot("integration-import-preview")
    page.locator("#apply").click()
    expect(page.locator("#report")).to_contain_text("2 created")
    page.locator("#import-link").click()
    expect(page.locator("h1")).to_contain_text("plate-0501-fixed.csv")
    expect(page.locator("table.produced tbody tr")).to_have_count(2)
    shoot("integration-import")
    first = page.locator("table.produced a").first
    number = first.inner_text()
    first.click()
    page.wait_for_url(re.compile(r"/records/measurement/\d+$"))
    expect(page.locator("main")).to_contain_text(number)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_monitor_shows_a_dead_delivery_and_replays_it(
    admin_page: Any, db: Any, shoot: Shoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = admin_page
    port = _closed_port()
    allow_webhooks(monkeypatch, db, f"127.0.0.1:{port}")
    page.goto("/admin/webhooks/new")
    page.fill("#name", "lims-out")
    page.fill("#url", f"http://127.0.0.1:{port}/hooks")
    page.fill("#kinds", "record.*")
    page.fill("#max_attempts", "1")
    page.get_by_role("button", name="Create webhook").click()
    expect(page.locator("#webhook-secret")).to_contain_text("whsec_")

    with db.write() as conn:
        create_record(conn, ANALYST, "batch", {"code": "B-3"})
    assert deliver_due(db, policy=DeliveryPolicy(timeout=2)).dead == 1, "nobody listens there"

    page.goto("/admin/webhooks")
    page.get_by_role("link", name="lims-out").click()
    expect(page.locator("#stat-dead")).to_have_text("1")
    expect(page.locator("table.failures")).to_contain_text("ConnectError")
    shoot("integration-webhook-monitor")
    page.get_by_role("button", name=re.compile(r"Replay delivery \d+")).click()
    expect(page.get_by_role("status")).to_contain_text("1 dead delivery was replayed")
    expect(page.locator("#stat-dead")).to_have_text("0")
    expect(page.locator("#stat-queue")).to_have_text("1")
    page.get_by_role("link", name="Waiting").click()
    expect(page.locator("table.compact tbody .badge")).to_have_text("pending")
