"""The audit trail browser: filters, paging, field-level changes and chain verification."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from labledger.audit.queries import AuditFilter, search_events
from labledger.audit.trail import AuditEntry, append
from labledger.db.tables import audit_event
from labledger.identity.principal import SYSTEM
from labledger.metadata.types import publish_type
from labledger.records.service import create_record, update_record
from labledger.workflows.engine import run_transition
from tests.conftest import TEST_PASSWORD
from tests.definitions import add_roles, batch_type, last_seq, traffic
from tests.tampering import bypassing_triggers
from tests.web.helpers import sign_in
from tests.web.record_fixtures import create, lot_type, make_lab

_SEQ = re.compile(r"<tr>\s*<td>(\d+)</td>")


def _body(html: str) -> str:
    return html.split("<tbody>")[1].split("</tbody>")[0]


def seqs(html: str) -> list[int]:
    return [int(s) for s in _SEQ.findall(_body(html))]


def rows(html: str) -> dict[int, str]:
    """Each event's row of the page, by sequence number."""
    parts = _SEQ.split(_body(html))[1:]
    return {int(seq): row for seq, row in zip(parts[::2], parts[1::2], strict=True)}


def make_batches(db, publish, count: int) -> list[dict]:
    add_roles(db, "analyst")
    publish(batch_type(require_reason=True))
    made = []
    with db.write() as conn:
        for n in range(count):
            made.append(
                create_record(
                    conn,
                    SYSTEM,
                    "batch",
                    {"code": f"B-{n}"},
                    skip_permission=True,
                )
            )
    return made


@pytest.mark.requirement("REQ-AUD-08")
def test_the_audit_trail_needs_read_audit(client, db, make_person):
    make_person("ann", "analyst")
    sign_in(client, "ann", TEST_PASSWORD)
    assert client.get("/audit").status_code == 403
    assert client.get("/audit/verify").status_code == 403


@pytest.mark.requirement("REQ-AUD-08")
def test_filters_by_user_type_record_action_and_time(client, db, make_person, publish):
    make_person("aud", "auditor", permissions=("read_audit",))
    batches = make_batches(db, publish, 2)
    with db.write() as conn:
        update_record(
            conn,
            SYSTEM,
            "batch",
            batches[0]["id"],
            {"product": "Aspirin <b>500</b>"},
            expected_version=1,
            reason="Label was misprinted",
            skip_permission=True,
        )
    sign_in(client, "aud", TEST_PASSWORD)
    page = client.get("/audit").text
    assert seqs(page) == sorted(seqs(page), reverse=True), "newest first"

    number = batches[0]["number"]
    by_number = client.get("/audit", params={"record": number}).text
    by_id = client.get("/audit", params={"record": str(batches[0]["id"])}).text
    assert seqs(by_number) == seqs(by_id) and len(seqs(by_id)) == 2
    update_row = by_number.split("<code>record.update</code>")[1].split("<code>record.create")[0]
    assert "Label was misprinted" in update_row
    assert "<th>Product</th>" in update_row and "Aspirin &lt;b&gt;500&lt;/b&gt;" in update_row
    assert "<b>500" not in by_number

    updates = client.get("/audit", params={"action": "record.update", "type": "batch"}).text
    assert len(seqs(updates)) == 1
    logins = client.get("/audit", params={"user": "aud", "action": "login"}).text
    assert len(seqs(logins)) == 1
    with db.read() as conn:
        newest = (
            conn.execute(select(audit_event.c.occurred_at).order_by(audit_event.c.seq.desc()))
            .scalars()
            .first()
        )
    later = (newest + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert seqs(client.get("/audit", params={"since": later}).text) == []
    assert len(seqs(client.get("/audit", params={"until": later}).text)) == len(seqs(page))

    missing = client.get("/audit", params={"record": "NOPE-1"})
    assert "There is no record numbered NOPE-1." in missing.text and seqs(missing.text) == []
    bad_time = client.get("/audit", params={"since": "yesterday"})
    assert bad_time.status_code == 422 and "use ISO 8601" in bad_time.text


def test_the_trail_pages_newest_first_without_gaps(client, db, make_person, publish):
    make_person("aud", "auditor", permissions=("read_audit",))
    make_batches(db, publish, 60)
    sign_in(client, "aud", TEST_PASSWORD)
    with db.read() as conn:
        everything = [
            e["seq"] for e in search_events(conn, SYSTEM, AuditFilter(limit=1000))["items"]
        ]
    seen, url = [], "/audit"
    while url:
        page = client.get(url).text
        seen += seqs(page)
        found = re.search(r'<a href="([^"]+)" rel="next">', page)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert seen == everything and len(seen) > 50


def test_verification_reports_an_intact_chain_and_the_first_bad_event(
    client, db, make_person, publish
):
    make_person("aud", "auditor", permissions=("read_audit",))
    make_batches(db, publish, 3)
    sign_in(client, "aud", TEST_PASSWORD)
    with db.read() as conn:
        total = len(conn.execute(select(audit_event.c.seq)).all())
    fragment = client.get("/audit/verify", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert f"Audit trail intact: {total:,} events" in fragment.text
    with bypassing_triggers(db, "audit_event") as conn:
        conn.execute(update(audit_event).where(audit_event.c.seq == 4).values(actor="mallory"))
    page = client.get("/audit/verify")
    assert "<html" in page.text and "AUDIT TRAIL NOT INTACT" in page.text
    assert "event 4 was altered" in page.text


def test_record_events_read_as_on_the_record_page(client, db, make_person):
    lab = make_lab(db, make_person)
    make_person("aud", "auditor", permissions=("read_audit",))
    lot = create(db, lab.analyst, "lot", {"code": "L-1", "product": "Aspirin", "priority": "high"})
    lot_created = last_seq(db)
    result = create(
        db,
        lab.analyst,
        "result",
        {
            "lot": lot["id"],
            "test": "Assay",
            "value": 3,
            "method": "hplc",
            "measured_at": "2026-05-01T14:30:05Z",
        },
    )
    result_created = last_seq(db)
    run_transition(db, lab.analyst.principal, "lot", lot["id"], "submit")
    submitted = last_seq(db)
    sign_in(client, "aud", TEST_PASSWORD)
    shown = rows(client.get("/audit").text)

    first = shown[lot_created]
    assert f'<a href="/records/lot/{lot["id"]}">Lot {lot["number"]}</a>' in first
    assert "Created<br><code>record.create</code>" in first
    assert "ann<br>" in first and "Ann Tester" in first, "username and printed name"
    assert "<th>Priority</th>" in first and '<td class="new">High</td>' in first
    assert "priority" not in first and ">high<" not in first

    second = shown[result_created]
    assert f'<a href="/records/result/{result["id"]}">Result {result["number"]}</a>' in second
    assert "<th>Lot</th>" in second
    assert f'<a href="/records/lot/{lot["id"]}">{lot["number"]} · L-1 Aspirin</a>' in second
    assert '<td class="new">3.00 mg/L</td>' in second, "decimal places and unit"
    assert '<td class="new">HPLC</td>' in second, "choice label"
    assert '<td class="new">2026-05-01 14:30:05 UTC</td>' in second, "times in UTC"

    step = shown[submitted]
    assert "Submit<br><code>record.transition</code>" in step
    assert '<th>State</th><td class="old">Open</td>' in step
    assert '<td class="new">In review</td>' in step
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", step)


def test_a_removed_field_and_an_unknown_type_still_show_by_key(client, db, make_person):
    lab = make_lab(db, make_person)
    make_person("aud", "auditor", permissions=("read_audit",))
    lot = create(db, lab.analyst, "lot", {"code": "L-1", "priority": "high"})
    created = last_seq(db)
    fields = [f for f in lot_type()["fields"] if f["key"] != "priority"]
    with db.write() as conn:
        publish_type(conn, SYSTEM, lot_type(fields=fields))
        append(
            conn,
            [
                AuditEntry(
                    actor="system",
                    action="record.update",
                    type_key="retired",
                    record_id=lot["id"],
                    record_number="OLD-7",
                    changes={"colour": {"old": "red", "new": None}},
                )
            ],
        )
    foreign = last_seq(db)
    sign_in(client, "aud", TEST_PASSWORD)
    page = client.get("/audit")
    assert page.status_code == 200
    shown = rows(page.text)
    assert "<th>priority</th>" in shown[created] and '<td class="new">high</td>' in shown[created]
    assert "<th>Code</th>" in shown[created], "fields still defined keep their labels"
    assert f'<a href="/records/retired/{lot["id"]}">retired OLD-7</a>' in shown[foreign]
    assert "<th>colour</th>" in shown[foreign] and "&#34;red&#34;" in shown[foreign]
    sign_in(client, "ann", TEST_PASSWORD)
    record_page = client.get(f"/records/lot/{lot['id']}")
    assert record_page.status_code == 200 and '<th scope="row">priority</th>' in record_page.text


def test_hostile_labels_and_values_are_shown_as_text(client, db, make_person, publish):
    make_person("aud", "auditor", permissions=("read_audit",))
    add_roles(db, "analyst")
    fields = batch_type()["fields"] + [
        {
            "key": "grade",
            "label": "<img src=x onerror=alert(1)>",
            "type": "choice",
            "options": [{"value": "a", "label": "<script>alert(2)</script>"}],
        }
    ]
    publish(batch_type(label="<b>Batch</b>", fields=fields))
    with db.write() as conn:
        create_record(
            conn,
            SYSTEM,
            "batch",
            {"code": "B-1", "product": "<svg onload=alert(3)>", "grade": "a"},
            skip_permission=True,
        )
    sign_in(client, "aud", TEST_PASSWORD)
    page = client.get("/audit", params={"action": "record.create"}).text
    for markup in ("<b>Batch", "<img", "<script>alert", "<svg"):
        assert markup not in page
    assert "&lt;b&gt;Batch&lt;/b&gt; BAT-" in page
    assert "<th>&lt;img src=x onerror=alert(1)&gt;</th>" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "&lt;svg onload=alert(3)&gt;" in page


def test_labels_load_per_type_not_per_event(client, db, make_person):
    lab = make_lab(db, make_person)
    make_person("aud", "auditor", permissions=("read_audit",))
    lots = [create(db, lab.analyst, "lot", {"code": f"L-{n}", "priority": "low"}) for n in range(3)]
    for lot in lots:
        create(db, lab.analyst, "result", {"lot": lot["id"], "test": "pH", "value": 3})
    sign_in(client, "aud", TEST_PASSWORD)
    client.get("/audit")  # the first look compiles the types; later pages find them compiled
    with traffic(db) as few:
        assert len(seqs(client.get("/audit").text)) < 50
    for n in range(20):
        lot = create(db, lab.analyst, "lot", {"code": f"M-{n}", "priority": "high"})
        create(db, lab.analyst, "result", {"lot": lot["id"], "test": "pH", "value": 4})
    with traffic(db) as many:
        page = client.get("/audit").text
    assert len(seqs(page)) == 50 and "High" in page and "4.00 mg/L" in page
    assert len(many.statements) == len(few.statements)


def test_the_type_filter_offers_types_by_their_label(client, db, make_person):
    add_roles(db, "analyst")
    with db.write() as conn:
        publish_type(conn, SYSTEM, batch_type())
    make_person("aud", "auditor", permissions=("read_audit",))
    sign_in(client, "aud", TEST_PASSWORD)
    page = client.get("/audit").text
    assert '<option value="batch">Batch</option>' in page
