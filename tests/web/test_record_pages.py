"""Record pages without a browser: lists, CSV export, the record page, print view, my work."""

from __future__ import annotations

import csv
import io
import re

import pytest

from labledger.records.csv_export import safe_cell
from labledger.records.service import update_record
from labledger.workflows.engine import SignatureInput, run_transition
from tests.conftest import TEST_PASSWORD
from tests.web.helpers import csrf_token, sign_in
from tests.web.record_fixtures import create, lot_type, make_lab


@pytest.fixture
def lab(db, make_person):
    return make_lab(db, make_person)


def _lots(db, person, n):
    return [
        create(
            db,
            person,
            "lot",
            {"code": f"L-{i:03d}", "product": "Aspirin" if i % 2 else "Ibuprofen", "quantity": i},
        )
        for i in range(n)
    ]


def _numbers(html: str) -> list[str]:
    return re.findall(r">(LOT-\d{4})</a>", html)


def test_list_shows_columns_filters_and_pages(client, db, lab):
    _lots(db, lab.analyst, 60)
    sign_in(client, "ann", TEST_PASSWORD)
    page = client.get("/records/lot")
    assert page.status_code == 200
    for text in ("Code", "Product", "Quantity", "(kg)", 'name="product"', 'name="quantity__gte"'):
        assert text in page.text
    assert 'name="state"' in page.text and "In review" in page.text, "the workflow's states"
    assert 'name="overdue"' in page.text, "the type has a due date"
    first = _numbers(page.text)
    assert len(first) == 50 and first[0] == "LOT-0060", "newest first, 50 a page"
    next_url = re.search(r'href="(/records/lot\?cursor=[^"]+)"', page.text).group(1)
    second = _numbers(client.get(next_url.replace("&amp;", "&")).text)
    assert second[0] == "LOT-0010" and len(second) == 10


def test_list_filters_search_and_sort_like_the_api(client, db, lab):
    _lots(db, lab.analyst, 12)
    sign_in(client, "ann", TEST_PASSWORD)
    params = {"product": "Aspirin", "quantity__gte": "4", "q": "", "sort": "quantity"}
    html = client.get("/records/lot", params=params).text
    api = client.get(
        "/api/v1/records/lot",
        params={"product": "Aspirin", "quantity__gte": "4", "sort": "quantity"},
        headers=lab.analyst.headers,
    ).json()
    assert _numbers(html) == [item["number"] for item in api["items"]]
    assert _numbers(html) == ["LOT-0006", "LOT-0008", "LOT-0010", "LOT-0012"]
    assert _numbers(client.get("/records/lot", params={"q": "L-011"}).text) == ["LOT-0012"]


def test_list_updates_in_place_for_htmx(client, db, lab):
    _lots(db, lab.analyst, 3)
    sign_in(client, "ann", TEST_PASSWORD)
    fragment = client.get("/records/lot", params={"q": "L-001"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and "<table" in fragment.text
    assert _numbers(fragment.text) == ["LOT-0002"]
    assert "export.csv?q=L-001" in fragment.text, "the export follows the filters"
    restore = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    assert "<html" in client.get("/records/lot", headers=restore).text


def test_bad_filter_is_explained(client, db, lab):
    sign_in(client, "ann", TEST_PASSWORD)
    page = client.get("/records/lot", params={"quantity__gte": "lots"})
    assert page.status_code == 422
    assert "is not a number" in page.text and "quantity__gte" in page.text


def test_csv_export_of_the_filtered_list_is_formula_safe(client, db, lab):
    lots = _lots(db, lab.analyst, 3)
    create(db, lab.analyst, "lot", {"code": "X-1", "product": '=HYPERLINK("http://x")'})
    create(db, lab.analyst, "lot", {"code": "X-2", "product": "@SUM(A1)", "quantity": 7})
    create(
        db,
        lab.analyst,
        "result",
        {"lot": lots[0]["id"], "test": "+1 assay", "value": -2.5, "explanation": "blank"},
    )
    sign_in(client, "ann", TEST_PASSWORD)
    response = client.get("/records/lot/export.csv", params={"code": "X-2"})
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert rows[0][:4] == ["Number", "Title", "State", "Code"]
    assert len(rows) == 2 and rows[1][3] == "X-2"
    assert rows[1][4] == "'@SUM(A1)" and rows[1][5] == "7"
    every = list(csv.reader(io.StringIO(client.get("/records/lot/export.csv").text)))
    assert any(row[4] == '\'=HYPERLINK("http://x")' for row in every)
    results = list(csv.reader(io.StringIO(client.get("/records/result/export.csv").text)))
    header = results[0]
    row = results[1]
    assert row[header.index("Test")] == "'+1 assay"
    assert row[header.index("Value")] == "-2.5", "a number is a value, not a formula"
    assert row[header.index("Lot")] == lots[0]["number"], "references by number"


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        ("a=b", "a=b"),
    ],
)
def test_safe_cell(text, safe):
    assert safe_cell(text) == safe


def test_bad_export_filter_refuses_before_sending(client, db, lab):
    sign_in(client, "ann", TEST_PASSWORD)
    response = client.get("/records/lot/export.csv", params={"quantity__gte": "x"})
    assert response.status_code == 422 and "is not a number" in response.text


def test_record_page_shows_everything_about_a_record(client, db, lab, settings):
    lot = create(
        db, lab.analyst, "lot", {"code": "L-1", "product": "Aspirin", "made_on": "2026-01-02"}
    )
    create(
        db,
        lab.analyst,
        "result",
        {"lot": lot["id"], "test": "Assay", "value": 7, "explanation": "rerun"},
    )
    create(db, lab.analyst, "result", {"lot": lot["id"], "test": "pH", "value": 3})
    sign_in(client, "ann", TEST_PASSWORD)
    page = client.get(f"/records/lot/{lot['id']}")
    assert page.status_code == 200
    text = page.text
    assert "<h2>Origin</h2>" in text and "2026-01-02" in text, "fields by section"
    assert 'data-state="open"' in text and ">Open<" in text
    assert f'href="/records/lot/{lot["id"]}/transitions/submit"' in text
    assert "Results" in text and "by Lot" in text and "Assay" in text and "pH" in text
    assert f"/records/result/grid?parent={lot['id']}&amp;via=lot" in text
    assert "Audit history" in text and "Created" in text and "Aspirin" in text
    result_page = client.get(f"/records/result/{lot['id'] + 1}").text
    assert f'href="/records/lot/{lot["id"]}"' in result_page and "L-1 Aspirin" in result_page
    assert '<span class="flag">Yes</span>' in result_page, "the computed flag stands out"
    run_transition(
        db,
        lab.analyst.principal,
        "lot",
        lot["id"],
        "submit",
    )
    in_review = client.get(f"/records/lot/{lot['id']}").text
    assert "transitions/approve" not in in_review, "no button for a step the person may not take"
    assert "Only these roles may approve: Qa." in in_review, "and why not"


def test_signatures_show_with_name_time_zone_meaning_and_status(client, db, lab, settings):
    lot = create(db, lab.analyst, "lot", {"code": "L-1", "product": "Aspirin"})
    run_transition(
        db,
        lab.analyst.principal,
        "lot",
        lot["id"],
        "submit",
    )
    run_transition(
        db,
        lab.qa.principal,
        "lot",
        lot["id"],
        "approve",
        signature=SignatureInput("quinn", TEST_PASSWORD),
    )
    sign_in(client, "ann", TEST_PASSWORD)
    for path in (f"/records/lot/{lot['id']}", f"/records/lot/{lot['id']}/print"):
        text = client.get(path).text
        assert "Quinn Tester" in text and "Approved for release" in text
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text)
        assert "Valid: applies to the record as it is now" in text
    printed = client.get(f"/records/lot/{lot['id']}/print").text
    assert "Audit trail" in printed and "Signed: Approved for release" in printed
    assert "All times are UTC" in printed


def test_a_signature_of_an_earlier_version_says_so(client, db, lab):
    lot = create(db, lab.analyst, "lot", {"code": "L-1"})
    run_transition(
        db,
        lab.analyst.principal,
        "lot",
        lot["id"],
        "submit",
    )
    run_transition(
        db,
        lab.qa.principal,
        "lot",
        lot["id"],
        "approve",
        signature=SignatureInput("quinn", TEST_PASSWORD),
    )
    with db.write() as conn:
        update_record(
            conn,
            lab.analyst.principal,
            "lot",
            lot["id"],
            {"notes": "Corrected label"},
            expected_version=3,
            reason="typo",
        )
    sign_in(client, "quinn", TEST_PASSWORD)
    text = client.get(f"/records/lot/{lot['id']}").text
    assert "Belongs to an earlier version" in text
    assert (
        "Changed since the last signature" in text and "Corrected label" in text and "typo" in text
    )


def test_attachments_download_with_read_permission(client, db, lab, make_person):
    upload = client.post(
        "/api/v1/attachments",
        params={"filename": "cert.pdf"},
        content=b"%PDF-1.4 certificate",
        headers={**lab.analyst.headers, "Content-Type": "application/pdf"},
    ).json()
    lot = create(db, lab.analyst, "lot", {"code": "L-1", "certificate": upload["id"]})
    sign_in(client, "ann", TEST_PASSWORD)
    page = client.get(f"/records/lot/{lot['id']}").text
    link = f"/records/lot/{lot['id']}/attachments/{upload['id']}"
    assert link in page and "cert.pdf" in page
    download = client.get(link)
    assert download.status_code == 200 and download.content == b"%PDF-1.4 certificate"
    assert "attachment" in download.headers["content-disposition"]
    assert download.headers["x-content-type-options"] == "nosniff"


def test_a_person_without_read_permission_gets_nothing(client, db, make_person):
    readers = {"read": ["analyst"], "create": ["analyst"], "edit": ["analyst"]}
    people = make_lab(db, make_person, lot=lot_type(permissions=readers))
    make_person("olga", "outsider")
    lot = create(db, people.analyst, "lot", {"code": "L-1"})
    sign_in(client, "olga", TEST_PASSWORD)
    for path in (
        "/records/lot",
        f"/records/lot/{lot['id']}",
        f"/records/lot/{lot['id']}/print",
        "/records/lot/export.csv",
    ):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "You may not read Lots" in response.text
    assert "LOT-" not in client.get("/").text


def _due_filterable() -> dict:
    """The lot type with its due date indexed for sorting: queues put the earliest first."""
    definition = lot_type()
    due = next(f for f in definition["fields"] if f["key"] == "due")
    due["filterable"] = True
    return definition


def test_my_work_lists_what_the_person_may_do_now_overdue_first(client, db, make_person):
    lab = make_lab(db, make_person, lot=_due_filterable())
    recent = create(db, lab.analyst, "lot", {"code": "L-1", "due": "2999-01-01"})
    late = create(db, lab.analyst, "lot", {"code": "L-2", "due": "2000-01-01"})
    waiting = create(db, lab.analyst, "lot", {"code": "L-3"})
    run_transition(db, lab.analyst.principal, "lot", waiting["id"], "submit")
    sign_in(client, "ann", TEST_PASSWORD)
    home = client.get("/").text
    assert home.index(late["number"]) < home.index(recent["number"]), "overdue first"
    assert "Overdue" in home
    assert waiting["number"] not in home, "nothing for an analyst to do in review"
    assert re.search(r"Lots</a> · Open\s*<span class=\"count\">2</span>", home), "counts"
    assert "your signature" not in home
    client.post("/logout", data={"_csrf_token": csrf_token(client, "/")})
    sign_in(client, "quinn", TEST_PASSWORD)
    qa_home = client.get("/").text
    assert "<strong>1</strong> record on this page awaits your signature" in qa_home
    assert qa_home.count(f">{waiting['number']}</a>") == 1, "each record once"
    assert late["number"] not in qa_home, "QA has no step in state open"
    assert re.search(r"In review\s*<span class=\"count\">1</span>", qa_home)
    assert f'name="id" value="{waiting["id"]}"' in qa_home, "selectable for a step on many"
    assert 'formaction="/records/lot/transitions/approve">Approve ✍</button>' in qa_home


def test_my_work_leaves_out_what_separation_of_duties_forbids(client, db, lab, make_person):
    qin = make_person("qin", "qa", "analyst")
    theirs = create(db, lab.analyst, "lot", {"code": "L-1"})
    own = create(db, qin, "lot", {"code": "L-2"})
    for rec in (theirs, own):
        run_transition(db, lab.analyst.principal, "lot", rec["id"], "submit")
    sign_in(client, "qin", TEST_PASSWORD)
    home = client.get("/").text
    assert f"/records/lot/{theirs['id']}/transitions/approve" in home, "qin may approve ann's lot"
    assert f"/records/lot/{own['id']}/transitions/approve" not in home, "but not their own"
    assert f"/records/lot/{own['id']}/transitions/reject" in home, "sending back is allowed"
    assert "<strong>1</strong> record on this page awaits your signature" in home
    assert re.search(r"In review\s*<span class=\"count\">2</span>", home), "both wait in review"


def test_my_work_pages_instead_of_hiding_work(client, db, lab):
    _lots(db, lab.analyst, 25)
    sign_in(client, "ann", TEST_PASSWORD)
    home = client.get("/").text
    assert len(re.findall(r"href=\"/records/lot/\d+/transitions/submit", home)) == 10
    assert 'href="/work/lot/open">All 25 →</a>' in home
    first = client.get("/work/lot/open").text
    assert len(re.findall(r"href=\"/records/lot/\d+/transitions/submit", first)) == 20
    cursor = re.search(r'href="/work/lot/open\?cursor=([^"]+)">Next page', first).group(1)
    rest = client.get(f"/work/lot/open?cursor={cursor}").text
    assert len(re.findall(r"href=\"/records/lot/\d+/transitions/submit", rest)) == 5
    assert "Next page" not in rest
    assert client.get("/work/lot/open?cursor=forged").status_code == 422
    assert client.get("/work/lot/no_such_state").status_code == 404


def test_my_work_leads_data_entry_to_the_grid_grouped_by_parent(client, db, lab):
    lot = create(db, lab.analyst, "lot", {"code": "L-9"})
    results = [
        create(db, lab.analyst, "result", {"lot": lot["id"], "test": test})
        for test in ("pH", "Assay")
    ]
    sign_in(client, "bo", TEST_PASSWORD)
    home = client.get("/").text
    assert f"/records/result/grid?via=lot&amp;parent={lot['id']}" in home
    assert "2 wait for your data entry" in home
    section = home[home.index("Results</a> · Pending") :]
    assert section.index(lot["number"]) < section.index(results[0]["number"]), "under their lot"
