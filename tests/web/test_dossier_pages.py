"""The record dossier from the record page: an HTML view and a PDF download, checked
server side like every record page."""

from __future__ import annotations

import re

import pytest

from labledger.records.service import create_record
from tests.conftest import TEST_PASSWORD
from tests.definitions import acting, batch_type, measurement_type
from tests.dossier_fixtures import signed_lot
from tests.test_dossier_api import pdf_text
from tests.web.helpers import sign_in
from tests.web.record_fixtures import create, make_lab


@pytest.fixture
def lab(db, make_person):
    return make_lab(db, make_person)


def test_the_record_page_offers_the_dossier(client, db, lab):
    made = signed_lot(db, lab)
    base = f"/records/lot/{made.lot['id']}"
    sign_in(client, "ann", TEST_PASSWORD)
    page = client.get(base).text
    assert f'href="{base}/dossier.pdf"' in page and "Dossier (PDF)" in page
    view = client.get(f"{base}/dossier")
    assert view.status_code == 200 and view.headers["content-type"].startswith("text/html")
    assert "script-src 'none'" in view.headers["content-security-policy"]
    html = view.text
    assert "Signature manifest" in html and "Quinn Tester" in html
    assert 'class="modified">modified — see <a href="#event-' in html
    download = client.get(f"{base}/dossier.pdf")
    assert download.status_code == 200 and download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert "Approved for release" in pdf_text(download.content)


def test_a_record_the_reader_may_not_read_is_refused(client, db, publish, make_person):
    make_person("alice", "analyst")
    make_person("rex", "reviewer")
    publish(batch_type())
    publish(measurement_type())
    with db.write() as conn:
        measured = create_record(conn, acting("alice", "analyst"), "measurement", {"name": "pH"})
    make_person("rita", "reader")
    sign_in(client, "rita", TEST_PASSWORD)
    for suffix in ("dossier", "dossier.pdf"):
        response = client.get(f"/records/measurement/{measured['id']}/{suffix}")
        assert response.status_code == 403
        assert "pH" not in response.text
    client.cookies.clear()
    anonymous = client.get(f"/records/measurement/{measured['id']}/dossier.pdf")
    assert anonymous.status_code in (302, 303, 401) or "/login" in str(anonymous.url)


def test_the_record_page_and_its_print_view_mark_modified_values(client, db, lab):
    made = signed_lot(db, lab)
    sign_in(client, "ann", TEST_PASSWORD)
    for path in (f"/records/lot/{made.lot['id']}", f"/records/lot/{made.lot['id']}/print"):
        html = client.get(path).text
        found = re.search(
            r'Aspirin <span class="modified">modified — see <a href="#event-(\d+)">', html
        )
        assert found, path
        assert f'<tr id="event-{found.group(1)}">' in html, "the link leads to the event"
        assert "Label reprinted <span" not in html, "a first entry is not marked"


def test_the_dossier_page_escapes_what_users_typed(client, db, lab):
    lot = create(db, lab.analyst, "lot", {"code": "L-3", "product": "<img src=x onerror=alert(1)>"})
    sign_in(client, "ann", TEST_PASSWORD)
    html = client.get(f"/records/lot/{lot['id']}/dossier").text
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
