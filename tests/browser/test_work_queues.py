"""A technician's day from My work, in a real browser with the shipped LIMS: the results
waiting for her entry are a queue with their sample and limits, its link opens the grid
with their samples, she types every value by keyboard (a choice result picks from its
analysis's answers, an instrument is named by its identifier), then submits them all from
My work with one action, and the reviewer's queue shows each of them once with its flags."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from labledger.db.tables import app_user
from labledger.identity.principal import Principal
from labledger.identity.users import load_principal
from labledger.records.service import create_record
from labledger.workflows.engine import run_transition
from tests.browser.conftest import sign_in_page
from tests.test_seed_lims import DEMO_PASSWORDS, load_lims, records_of

pytestmark = pytest.mark.browser


def _person(db, username: str) -> Principal:
    with db.read() as conn:
        user_id = conn.execute(
            select(app_user.c.id).where(app_user.c.username == username)
        ).scalar_one()
        found = load_principal(conn, user_id)
    assert found is not None
    return found


def _received_sample(db) -> tuple[dict, list[dict]]:
    """A drinking-water sample tina registered and received: six results to enter."""
    drinking = next(
        t for t in records_of(db, "sample_type") if t["data"]["name"] == "Drinking water"
    )
    tina = _person(db, "tina")
    with db.write() as conn:
        sample = create_record(
            conn,
            tina,
            "sample",
            {"sample_type": drinking["id"], "client": "Queue Test Waterworks"},
        )
    run_transition(db, tina, "sample", sample["id"], "receive")
    results = [r for r in records_of(db, "result") if r["data"]["sample"] == sample["id"]]
    return sample, results


def _clear_earlier_entry_work(db) -> None:
    """The demo's own pending results are invalidated, so the queue holds this sample's."""
    mark = _person(db, "mark")
    for result in records_of(db, "result"):
        if result["state"] == "pending":
            run_transition(
                db, mark, "result", result["id"], "invalidate", reason="Not needed for the test"
            )


def test_a_technician_enters_and_submits_her_results_from_my_work(page, db, tmp_path, shoot):
    load_lims(db, tmp_path, demo=True)
    _clear_earlier_entry_work(db)
    sample, results = _received_sample(db)
    by_analysis = {r["data"]["analysis_name"]: r["id"] for r in results}
    sign_in_page(page, "tina", DEMO_PASSWORDS["tina"])

    pending = page.locator("section.work-queue", has_text="Results · Pending")
    expect(pending.locator("h2 .count")).to_have_text("6")
    expect(pending).to_contain_text(sample["number"])
    expect(pending).to_contain_text("6 wait for your data entry")
    expect(pending).to_contain_text("Odour")
    shoot("home")
    pending.get_by_role("link", name="Enter these results in the grid").click()
    expect(page.locator("h1")).to_have_text("Results: grid entry")

    # Every value by keyboard: numbers down the value column, the answer from its list,
    # the instrument by its identifier.
    numeric = ["pH", "Conductivity at 20 °C", "Turbidity", "Nitrate", "Escherichia coli"]
    expect(page.locator(f"#c-{by_analysis['Odour']}-value")).to_have_count(0)
    expect(page.locator(f"#c-{by_analysis['pH']}-text_value")).to_have_count(0)
    page.focus(f"#c-{by_analysis['pH']}-value")
    for value in ("7.2", "410", "0.3", "72", "0"):  # nitrate out of specification
        page.keyboard.type(value)
        page.keyboard.press("Enter")
    odour = page.locator(f"#c-{by_analysis['Odour']}-text_value")
    expect(odour.locator("option")).to_have_text(["—", "Acceptable", "Not acceptable"])
    odour.focus()
    page.keyboard.press("ArrowDown")  # a select takes the keyboard: the first answer
    instrument = page.locator(f"#c-{by_analysis['pH']}-instrument")
    instrument.focus()
    page.keyboard.type("PH-01")
    page.keyboard.press("Tab")
    for name in [*numeric, "Odour"]:
        expect(page.locator(f"#s-{by_analysis[name]}")).to_contain_text("Saved")
    expect(page.locator(f"#s-{by_analysis['pH']}")).to_contain_text("v3")  # value, instrument
    page.evaluate(
        "document.activeElement.blur(); document.querySelector('.grid-scroll').scrollLeft = 0"
    )
    shoot("grid")
    stored = {r["id"]: r["data"] for r in records_of(db, "result")}
    assert stored[by_analysis["Odour"]]["text_value"] == "Acceptable"
    ph_meter = next(i for i in records_of(db, "instrument") if i["data"]["identifier"] == "PH-01")
    assert stored[by_analysis["pH"]]["instrument"] == ph_meter["id"]

    # Back in My work the six results wait for one action: tick them all and submit.
    page.goto("/")
    pending = page.locator("section.work-queue", has_text="Results · Pending")
    pending.get_by_label("Select all in Pending").check()
    pending.get_by_role("button", name=re.compile("^Submit result")).click()
    expect(page.locator("h1")).to_have_text("Submit result: 6 Results")
    page.get_by_role("button", name=re.compile("^Submit result 6 results")).click()
    expect(page.locator("h1")).to_have_text("Submit result: 6 moved")
    assert {r["state"] for r in records_of(db, "result") if r["id"] in by_analysis.values()} == {
        "entered"
    }

    # The reviewer's queue shows each result once, under its sample, with its flags.
    sign_in_page(page, "rita", DEMO_PASSWORDS["rita"])
    entered = page.locator("section.work-queue", has_text="Results · Entered")
    entered.get_by_role("link", name=re.compile("^All .* →")).click()
    group = page.locator("tbody", has_text=sample["number"])
    expect(group.locator("tr:not(.group-row)")).to_have_count(6)
    for name in [*numeric, "Odour"]:
        expect(group).to_contain_text(name)
    expect(group.locator("tr.flagged")).to_have_count(1)
    expect(group.locator("tr.flagged")).to_contain_text("Nitrate")
    expect(group.locator("tr.flagged .flags")).to_contain_text("Out of specification")
    shoot("work-queue-review")
