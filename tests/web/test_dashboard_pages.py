"""Dashboard pages: the list, a dashboard drawn as SVG charts with their numbers beside
them, a panel's CSV; only dashboards meant for the person, only types they may read."""

from __future__ import annotations

import copy
import re

import pytest

from labledger.dashboards.definitions import publish_dashboard
from labledger.identity.principal import SYSTEM
from labledger.workflows.definitions import publish_workflow
from tests.conftest import TEST_PASSWORD
from tests.test_dashboards import (
    NOW,
    SPECIMEN_FLOW,
    import_lab,
    installed_clock,
    lab_dashboard,
    populate,
)
from tests.web.helpers import sign_in

HOSTILE = '=HYPERLINK("http://evil.test")<script>alert(1)</script>'


@pytest.fixture
def lab(db, monkeypatch, make_person):
    """The lab of the dashboard tests, counted at their moment, and a person of each role."""
    import_lab(db, lab_dashboard())
    populate(db, installed_clock(monkeypatch))
    monkeypatch.setattr("labledger.dashboards.panels.utc_now", lambda: NOW)
    make_person("ann", "analyst")
    make_person("rex", "reviewer")
    make_person("vic", "visitor")
    return db


def _as(client, username: str) -> None:
    sign_in(client, username, TEST_PASSWORD)


def test_dashboards_need_a_session(client, lab):
    response = client.get("/dashboards/lab", follow_redirects=False)
    assert response.status_code in (302, 303)
    assert response.headers["location"].startswith("/login?next=/dashboards/lab")


def test_the_list_shows_the_dashboards_meant_for_the_person(client, lab):
    _as(client, "rex")
    page = client.get("/dashboards").text
    assert '<a href="/dashboards">Dashboards</a>' in page
    assert '<a href="/dashboards/lab"><strong>The lab</strong></a>' in page
    assert "4 panels" in page
    client.post("/logout", data={"_csrf_token": _csrf(client)})
    _as(client, "vic")
    page = client.get("/dashboards").text
    assert "The lab" not in page and "No dashboard is meant for you yet." in page


def _csrf(client) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', client.get("/dashboards").text)
    assert found
    return found.group(1)


def test_a_dashboard_draws_each_panel_with_its_numbers_beside_it(client, lab):
    _as(client, "rex")
    response = client.get("/dashboards/lab")
    assert response.status_code == 200
    page = response.text
    assert page.count('role="img"') == 4
    assert page.count("<table") == 4
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" ' in page
    assert 'aria-label="Specimens by state"' in page
    assert '<th scope="row" class="nowrap">Released</th><td class="num">7</td>' in page
    assert '<a href="/records/specimen?overdue=true"><strong>1</strong> overdue' in page
    assert '<a href="/dashboards/lab/by_state.csv" download>Download CSV</a>' in page
    assert "style=" not in page.split('<main class="page">')[1]
    assert "script-src 'self'" in response.headers["content-security-policy"]


def test_a_panel_of_a_type_the_person_may_not_read_shows_why_not(client, lab):
    _as(client, "ann")
    page = client.get("/dashboards/lab").text
    assert page.count('role="img"') == 3
    assert '<p class="notice">You may not read Findings.</p>' in page
    assert client.get("/dashboards/lab/high_rate.csv").status_code == 403


def test_a_dashboard_outside_the_persons_roles_is_not_found(client, lab):
    _as(client, "vic")
    assert client.get("/dashboards/lab").status_code == 404
    assert client.get("/dashboards/lab/by_state.csv").status_code == 404


def test_a_panel_downloads_as_csv(client, lab):
    _as(client, "rex")
    response = client.get("/dashboards/lab/turnaround.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="lab-turnaround.csv"'
    assert response.text.split("\r\n") == [
        "Week starting,Records,Median (days),90th percentile (days)",
        "2026-03-02,3,3.0,9.4",
        "2026-03-09,3,2.0,3.6",
        "2026-03-16,0,,",
        "",
    ]
    assert client.get("/dashboards/lab/nothing.csv").status_code == 404
    assert client.get("/dashboards/lab/by_state.txt").status_code == 404


def test_hostile_labels_are_escaped_and_csv_cells_defused(client, lab):
    flow = copy.deepcopy(SPECIMEN_FLOW)
    flow["states"][0]["label"] = HOSTILE
    hostile = lab_dashboard(label=HOSTILE)
    hostile["panels"][0]["label"] = HOSTILE
    with lab.write() as conn:
        publish_workflow(conn, SYSTEM, flow)
        publish_dashboard(conn, SYSTEM, hostile)
    _as(client, "rex")
    page = client.get("/dashboards/lab").text
    assert "<script>alert(1)" not in page
    escaped = "=HYPERLINK(&#34;http://evil.test&#34;)&lt;script&gt;alert(1)&lt;/script&gt;"
    assert f'aria-label="{escaped}"' in page
    assert f"<title>{escaped}</title>" in page
    csv = client.get("/dashboards/lab/by_state.csv").text
    assert csv.split("\r\n")[1] == '"\'=HYPERLINK(""http://evil.test"")<script>alert(1)</script>",2'
