"""The QMS journey in a real browser, with the shipped configuration: a major
deviation, its CAPA, two actions completed with evidence, the effectiveness
check, and closure of the CAPA and the deviation with signatures."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from labledger.audit.verify import verify
from labledger.db.tables import record
from tests.browser.conftest import sign_in_page
from tests.test_seed_qms import DEMO_PASSWORD, days_from_today, load_seeds

pytestmark = pytest.mark.browser


def _data(db: Any, record_id: int) -> dict[str, Any]:
    with db.read() as conn:
        return conn.execute(select(record.c.data).where(record.c.id == record_id)).scalar_one()


def _pointing_at(db: Any, type_key: str, capa_id: int) -> list[int]:
    """The records of ``type_key`` whose CAPA is ``capa_id``, oldest first."""
    with db.read() as conn:
        rows = conn.execute(
            select(record.c.id, record.c.data)
            .where(record.c.type_key == type_key)
            .order_by(record.c.id)
        )
        return [rid for rid, data in rows if data.get("capa") == capa_id]


def _number(db: Any, record_id: int) -> str:
    with db.read() as conn:
        return conn.execute(select(record.c.number).where(record.c.id == record_id)).scalar_one()


def _as(page: Any, username: str) -> None:
    sign_in_page(page, username, DEMO_PASSWORD)


def _state(page: Any, label: str) -> None:
    expect(page.locator(".page-head .badge.state")).to_have_text(label)


def _open_step(page: Any, label: str) -> Any:
    page.locator(".step-buttons a", has_text=label).click()
    dialog = page.locator("dialog[data-modal]")
    expect(dialog).to_be_visible()
    return dialog


def _step(
    page: Any,
    label: str,
    then: str,
    *,
    username: str | None = None,
    password: str | None = None,
    reason: str | None = None,
) -> None:
    """Run a step from the record page through its dialog; the page reloads in state ``then``."""
    dialog = _open_step(page, label)
    if reason is not None:
        dialog.locator("#dlg-reason").fill(reason)
    if username is not None:
        dialog.locator("#dlg-username").fill(username)
    if password is not None:
        dialog.locator("#dlg-password").fill(password)
    dialog.locator("button[type=submit]").click()
    _state(page, then)


def _edit(page: Any, base: str, **values: str) -> None:
    """Change fields on the record's edit form: text, dates and choices by value."""
    page.goto(f"{base}/edit")
    for key, value in values.items():
        field = page.locator(f"#in-{key}")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    page.click("form.record-form button[type=submit]")
    page.wait_for_url(f"**{base}")


def _complete_action(page: Any, base: str, notes: str, filename: str) -> None:
    page.goto(f"{base}/edit")
    page.fill("#in-completion_notes", notes)
    page.set_input_files(
        "#in-evidence",
        files=[
            {
                "name": filename,
                "mimeType": "application/pdf",
                "buffer": b"%PDF-1.4 " + notes.encode(),
            }
        ],
    )
    expect(page.locator("#att-evidence .uploaded")).to_contain_text(filename)
    page.click("form.record-form button[type=submit]")
    page.wait_for_url(f"**{base}")
    _step(page, "Complete", "Completed")
    expect(page.locator(".card.fields")).to_contain_text(filename)


def test_major_deviation_and_its_capa_in_the_browser(page, db, tmp_path, shoot):
    load_seeds(db, tmp_path, "qms", demo=True)

    # The originator raises a major deviation and submits it.
    _as(page, "orla")
    page.goto("/records/deviation/new")
    page.fill("#in-title", "Tablet weight out of limits on press P2")
    page.fill("#in-description", "IPC weights of 12 tablets above the upper limit for 20 minutes.")
    page.fill("#in-occurred_on", days_from_today(-2))
    page.fill("#in-became_aware_on", days_from_today(-1))
    page.fill("#in-discovered_by", "IPC technician")
    page.select_option("#in-area", "production")
    page.fill("#in-product", "Metformin 500 mg tablets")
    page.fill("#in-batch_lot", "MET-26-2230")
    page.select_option("#in-classification", "major")
    page.fill("#in-immediate_actions", "Press stopped; tablets of the period segregated.")
    shoot("qms-deviation-form")
    page.click("form.record-form button[type=submit]")
    expect(page.locator("h1")).to_contain_text("DEV-")
    deviation = page.url.split("/records/", 1)[1]
    _step(page, "Submit", "Submitted")

    # QA sees it on their work list, where overdue records stand out, and assesses it.
    _as(page, "quentin")
    expect(page.locator(f"a[href='/records/{deviation}']").first).to_be_visible()
    expect(page.locator(".badge.overdue").first).to_be_visible()
    shoot("qms-home")
    page.goto(f"/records/{deviation}")
    _step(page, "Start assessment", "In assessment")
    _edit(
        page,
        f"/records/{deviation}",
        owner="owen",
        qa_approver="quentin",
        impact_assessment="Segregated tablets rejected; no other batch affected.",
        capa_required="yes",
    )
    _step(page, "Create CAPA", "In assessment")
    _step(page, "Start investigation", "In investigation")
    capa_id = _data(db, int(deviation.rsplit("/", 1)[1]))["capa"]
    capa = f"/records/capa/{capa_id}"
    expect(page.locator(f".card.fields a[href='{capa}']")).to_contain_text("CAPA-")

    # The owner plans the CAPA and its two actions, and cannot approve the plan.
    _as(page, "owen")
    _edit(
        page,
        capa,
        root_cause_method="five_whys",
        root_cause_analysis="Worn feeder paddles let the fill depth drift.",
        effectiveness_criteria="No weight excursion on P2 in the next 10 batches.",
    )
    for kind, description in (
        ("corrective", "Replace feeder paddles of P2"),
        ("preventive", "Add a paddle wear check to the maintenance plan"),
    ):
        page.goto(f"/records/capa_action/new?capa={_number(db, capa_id)}")
        page.select_option("#in-kind", kind)
        page.fill("#in-description", description)
        page.select_option("#in-owner", "owen")
        page.fill("#in-due_date", days_from_today(20))
        page.click("form.record-form button[type=submit]")
        expect(page.locator("h1")).to_contain_text("-A0")
    page.goto(capa)
    expect(page.locator(".blocked")).to_contain_text(
        "Approve plan (to Plan approved) is not available: "
        "Only these roles may approve plan: QMS QA, QMS QA head."
    )

    # QA approves the plan with a signature; a wrong password is refused first.
    _as(page, "quentin")
    page.goto(capa)
    dialog = _open_step(page, "Approve plan")
    expect(dialog.locator("#sig-meaning")).to_have_text("CAPA Plan Approval")
    dialog.locator("#dlg-username").fill("quentin")
    dialog.locator("#dlg-password").fill("not my password")
    shoot("qms-signature-dialog")
    dialog.locator("button[type=submit]").click()
    expect(dialog.locator("[role=alert]")).to_contain_text("Signature refused")
    _state(page, "Open")
    dialog.locator("#dlg-password").fill(DEMO_PASSWORD)
    dialog.locator("button[type=submit]").click()
    _state(page, "Plan approved")

    # The owner carries out both actions with evidence; the CAPA moves on by itself.
    _as(page, "owen")
    page.goto(capa)
    _step(page, "Start implementation", "In implementation")
    first, second = (f"/records/capa_action/{i}" for i in _pointing_at(db, "capa_action", capa_id))
    page.goto(first)
    _step(page, "Start", "In progress")
    _complete_action(page, first, "Paddles replaced (WO-8812).", "wo-8812.pdf")
    page.goto(capa)
    expect(page.locator(".blocked")).to_contain_text(
        "Every action must be completed or cancelled first"
    )
    _complete_action(page, second, "Wear check added to PM plan v12.", "pm-plan-v12.pdf")
    page.goto(capa)
    _state(page, "Effectiveness check")

    # The owner completes the investigation; only QA may approve the deviation.
    _edit(
        page,
        f"/records/{deviation}",
        root_cause_category="equipment",
        root_cause="Worn feeder paddles of press P2.",
    )
    _step(page, "Send for final approval", "Final approval")
    expect(page.locator(".blocked")).to_contain_text("Only these roles may approve and close")

    # QA judges the effectiveness, closes the CAPA, then the deviation, signing each.
    _as(page, "quentin")
    [check_id] = _pointing_at(db, "effectiveness_check", capa_id)
    check = f"/records/effectiveness_check/{check_id}"
    _edit(page, check, evaluation="10 batches: no excursion.")
    _step(page, "Record: effective", "Effective", username="quentin", password=DEMO_PASSWORD)
    _edit(page, capa, closure_summary="Both actions done and effective.")
    _step(page, "Close", "Closed", password=DEMO_PASSWORD)
    expect(page.locator(".signatures .sig-meaning")).to_have_text(
        ["CAPA Plan Approval", "Quality Approval"]
    )
    shoot("qms-capa")
    page.goto(f"/records/{deviation}")
    _step(page, "Approve and close", "Closed", password=DEMO_PASSWORD)
    expect(page.locator(".signatures .sig-meaning")).to_have_text(["Quality Approval"])
    expect(page.locator(".signatures .sig-who")).to_contain_text("Quentin Hale")
    expect(page.locator(".referencing")).to_contain_text("CAPA-")
    shoot("qms-deviation")
    with db.read() as conn:
        assert verify(conn).ok

    # The administrator adapts the workflow in the browser, starting from its diagram.
    _as(page, "qmsadmin")
    page.goto("/admin/workflows/deviation")
    expect(page.locator("h1")).to_have_text("Workflow deviation")
    expect(page.locator("body")).to_contain_text("Quality Approval")
    shoot("qms-deviation-workflow")
