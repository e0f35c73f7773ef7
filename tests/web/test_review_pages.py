"""The periodic and access review pages: who may open them, what they show, their
downloads, and keeping an access review as a record to be signed."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from labledger.db.tables import record
from labledger.identity.principal import SYSTEM
from labledger.identity.users import create_user
from tests.conftest import TEST_PASSWORD
from tests.test_seed_qms import load_seeds
from tests.web.helpers import csrf_token, sign_in


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def test_the_review_pages_are_refused_without_their_permissions(client, db, make_person):
    make_person("ann", "analyst")
    sign_in(client, "ann", TEST_PASSWORD)
    period = {"from": _today(), "to": _today()}
    assert client.get("/reviews/periodic").status_code == 403
    assert client.get("/reviews/periodic", params=period).status_code == 403
    assert client.get("/reviews/periodic/download", params=period).status_code == 403
    assert client.get("/reviews/access").status_code == 403
    assert client.get("/reviews/access/download").status_code == 403
    token = csrf_token(client, "/")
    kept = client.post(
        "/reviews/access/record", data={"_csrf_token": token}, follow_redirects=False
    )
    assert kept.status_code == 403


def test_an_administrator_sees_the_access_review_but_not_the_periodic_one(client, db, make_person):
    make_person("root", "useradmin", permissions=("manage_users",))
    sign_in(client, "root", TEST_PASSWORD)
    page = client.get("/reviews/access")
    assert page.status_code == 200 and "Users and their roles" in page.text
    assert "root" in page.text
    assert client.get("/reviews/periodic").status_code == 403
    assert 'href="/reviews/access"' in client.get("/admin/users").text


@pytest.mark.requirement("REQ-REV-01")
def test_qa_reads_the_periodic_review_and_downloads_it(client, db, make_person):
    make_person("aud", "auditor", permissions=("read_audit",))
    with db.write() as conn:
        create_user(
            conn,
            SYSTEM,
            username="mallory",
            full_name='=HYPERLINK("http://evil")',
            password=TEST_PASSWORD,
            one_time=False,
        )
    sign_in(client, "aud", TEST_PASSWORD)
    assert 'href="/reviews/periodic"' in client.get("/audit").text
    page = client.get("/reviews/periodic", params={"from": _today(), "to": _today()})
    assert page.status_code == 200
    assert "Refused attempts, failed sign-ins and lockouts" in page.text
    assert "user mallory" in page.text and "user.create" in page.text

    download = client.get(
        "/reviews/periodic/download", params={"from": _today(), "to": _today(), "format": "csv"}
    )
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert ["Users, role grants and API tokens"] in lines
    pdf = client.get(
        "/reviews/periodic/download", params={"from": _today(), "to": _today(), "format": "pdf"}
    )
    assert pdf.status_code in (200, 503)
    if pdf.status_code == 200:
        assert pdf.content.startswith(b"%PDF")
    access_csv = client.get("/reviews/access/download", params={"format": "csv"}).text
    assert "'=HYPERLINK" in access_csv and ",=HYPERLINK" not in access_csv


def test_bad_periods_are_refused_at_their_fields(client, db, make_person):
    make_person("aud", "auditor", permissions=("read_audit",))
    sign_in(client, "aud", TEST_PASSWORD)
    backwards = client.get("/reviews/periodic", params={"from": "2026-03-01", "to": "2026-01-01"})
    assert backwards.status_code == 422
    assert "is before the start of the period" in backwards.text
    nonsense = client.get("/reviews/periodic", params={"from": "<b>x</b>", "to": "2026-01-01"})
    assert nonsense.status_code == 422 and "<b>x</b>" not in nonsense.text
    assert "is not a date" in nonsense.text
    download = client.get("/reviews/periodic/download", params={"from": "x", "to": "y"})
    assert download.status_code == 422
    days = client.get("/reviews/access", params={"unused_days": "0"})
    assert days.status_code == 422 and "give a number of days from 1 to 3650" in days.text


@pytest.mark.requirement("REQ-REV-02")
def test_an_access_review_is_kept_from_its_page_and_signed_by_its_reviewer(
    client, db, make_person, tmp_path
):
    load_seeds(db, tmp_path, "reviews")
    make_person("rita", "access_reviewer")
    make_person("aud", "auditor", permissions=("read_audit",))
    sign_in(client, "aud", TEST_PASSWORD)
    page = client.get("/reviews/access").text
    assert 'id="keep-review"' in page
    token = csrf_token(client, "/reviews/access")
    kept = client.post(
        "/reviews/access/record",
        data={"_csrf_token": token, "unused_days": "30"},
        follow_redirects=False,
    )
    # aud may not read access review records: told the number instead of sent to it.
    assert kept.status_code == 200 and re.search(r"kept as <strong>ACR-\d{4}-\d{3}", kept.text)
    with db.read() as conn:
        stored = conn.execute(select(record.c.id, record.c.data, record.c.created_by)).one()
    assert stored.data["unused_days"] == 30 and stored.created_by == "aud"

    sign_in(client, "rita", TEST_PASSWORD)
    assert client.get("/reviews/access").status_code == 403
    path = f"/records/access_review/{stored.id}"
    assert "Sign the access review" in client.get(path).text
    token = csrf_token(client, path)
    signed = client.post(
        f"{path}/transitions/sign",
        data={
            "_csrf_token": token,
            "version": "1",
            "username": "rita",
            "password": TEST_PASSWORD,
        },
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text
    assert "Access review" in client.get(path).text
    with db.read() as conn:
        assert conn.execute(select(record.c.state)).scalar_one() == "reviewed"
