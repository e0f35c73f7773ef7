"""The audit trail browser: filters, paging, field-level changes and chain verification."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, update

from labledger.audit.queries import AuditFilter, search_events
from labledger.db.tables import audit_event
from labledger.identity.principal import SYSTEM
from labledger.records.service import create_record, update_record
from tests.conftest import TEST_PASSWORD
from tests.definitions import add_roles, batch_type
from tests.tampering import bypassing_triggers
from tests.web.helpers import sign_in

_SEQ = re.compile(r"<tr>\s*<td>(\d+)</td>")


def seqs(html: str) -> list[int]:
    return [int(s) for s in _SEQ.findall(html.split("<tbody>")[1].split("</tbody>")[0])]


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


def test_the_audit_trail_needs_read_audit(client, db, make_person):
    make_person("ann", "analyst")
    sign_in(client, "ann", TEST_PASSWORD)
    assert client.get("/audit").status_code == 403
    assert client.get("/audit/verify").status_code == 403


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
    assert (
        "<th>product</th>" in update_row
        and "&#34;Aspirin &lt;b&gt;500&lt;/b&gt;&#34;" in update_row
    )
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
