"""Dashboards as configuration: refused at publish with field-level errors, read and
published through the API and the command line, carried by bundles, and told in
words in a change request."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from labledger.bundles.export import export_bundle
from labledger.bundles.importer import apply_bundle
from labledger.changes.control import set_control
from labledger.changes.readable import Names, describe_change, weakening
from labledger.cli import main
from labledger.dashboards.definitions import publish_dashboard
from labledger.errors import ValidationFailed
from labledger.identity.principal import APPROVE_CONFIGURATION, CONFIGURE, SYSTEM
from tests.conftest import TEST_PASSWORD
from tests.definitions import database_url, unchanged
from tests.test_api import problem
from tests.test_bundles_export import exported, fresh_database
from tests.test_dashboards import import_lab, lab_bundle, lab_dashboard

API = "/api/v1/dashboards"


@pytest.fixture
def lab(db):
    import_lab(db)
    return db


def _changed(path: str, value: Any) -> dict[str, Any]:
    """The lab dashboard with the value at ``path`` (``panels.2.from``) replaced."""
    definition = lab_dashboard()
    *parents, last = path.split(".")
    node: Any = definition
    for step in parents:
        node = node[int(step)] if isinstance(node, list) else node[step]
    node[int(last) if isinstance(node, list) else last] = value
    return definition


REFUSALS = [
    (_changed("roles", ["analyst", "ghost"]), "roles[1]", "there is no role 'ghost'"),
    (
        _changed("panels.1.key", "by_state"),
        "panels[1].key",
        "'by_state' is also the key of panels[0]",
    ),
    (_changed("panels.0.type", "sample"), "panels[0].type", "there is no object type 'sample'"),
    (
        _changed("panels.0.states", ["registered", "archived"]),
        "panels[0].states[1]",
        "'archived' is not a state of workflow 'specimen_flow'",
    ),
    (
        _changed("panels.0.type", "finding"),
        "panels[0].type",
        "Finding has no workflow, so no states or transitions",
    ),
    (_changed("panels.1.type", "finding"), "panels[1].type", "Finding has no due_field"),
    (
        _changed("panels.2.from", "recieve"),
        "panels[2].from",
        "'recieve' is not a transition of workflow 'specimen_flow'",
    ),
    (
        _changed("panels.2.from", "release"),
        "panels[2].to",
        "must differ from 'from': a turnaround runs between two steps",
    ),
    (_changed("panels.3.field", "colour"), "panels[3].field", "Finding has no field 'colour'"),
    (
        _changed("panels.3.field", "value"),
        "panels[3].field",
        "'value' is not a yes/no field: a boolean field, or a computed field "
        "whose result_type is boolean",
    ),
    (_changed("panels.0.kind", "pie"), "panels[0].kind", None),
    (_changed("panels.2.weeks", 0), "panels[2].weeks", None),
    (_changed("roles", []), "roles", None),
]


@pytest.mark.parametrize(("definition", "field", "message"), REFUSALS, ids=[r[1] for r in REFUSALS])
def test_a_bad_definition_is_refused_naming_the_field(lab, definition, field, message):
    with unchanged(lab), lab.write() as conn, pytest.raises(ValidationFailed) as refused:
        publish_dashboard(conn, SYSTEM, definition)
    errors = [(e.field, e.message) for e in refused.value.errors]
    assert [f for f, _ in errors] == [field], errors
    if message is not None:
        assert errors[0][1] == message


def test_the_api_publishes_reads_lists_and_counts(client, lab, admin, make_person):
    body = {k: v for k, v in lab_dashboard().items() if k != "key"}
    published = client.put(f"{API}/lab", json=body, headers=admin.headers)
    assert published.json() == {"key": "lab", "version": 1, "changed": True}
    again = client.put(f"{API}/lab", json=lab_dashboard(), headers=admin.headers)
    assert again.json() == {"key": "lab", "version": 1, "changed": False}

    analyst = make_person("ann", "analyst")
    assert client.get(API, headers=analyst.headers).json()["items"] == [
        {
            "key": "lab",
            "label": "The lab",
            "description": "Specimens and findings",
            "version": 1,
            "panels": 4,
        }
    ]
    read = client.get(f"{API}/lab", headers=analyst.headers).json()
    assert read == {"key": "lab", "version": 1, "definition": lab_dashboard()}
    numbers = client.get(f"{API}/lab/numbers", headers=analyst.headers).json()
    by_state, _, _, rate = numbers["panels"]
    assert by_state["columns"] == ["State", "Records"]
    assert by_state["rows"] == [
        ["Registered", 0],
        ["Received", 0],
        ["Released", 0],
        ["Rejected", 0],
    ]
    assert by_state["problem"] is None
    assert rate["rows"] == [] and rate["problem"] == "You may not read Findings."


def test_the_api_refuses_with_problem_documents(client, lab, admin, make_person):
    analyst = make_person("ann", "analyst")
    visitor = make_person("vic", "visitor")
    with unchanged(lab):
        forbidden = client.put(f"{API}/lab", json=lab_dashboard(), headers=analyst.headers)
        invalid = client.put(
            f"{API}/lab", json=_changed("panels.2.to", "ship"), headers=admin.headers
        )
        renamed = client.put(f"{API}/other", json=lab_dashboard(), headers=admin.headers)
    problem(forbidden, 403)
    assert problem(invalid, 422)["errors"] == [
        {
            "field": "panels[2].to",
            "message": "'ship' is not a transition of workflow 'specimen_flow'",
        }
    ]
    assert problem(renamed, 422)["errors"] == [{"field": "key", "message": "must be 'other'"}]
    client.put(f"{API}/lab", json=lab_dashboard(), headers=admin.headers)
    for path in (f"{API}/lab", f"{API}/lab/numbers"):
        assert problem(client.get(path, headers=visitor.headers), 404)["detail"] == (
            "There is no dashboard 'lab'."
        )
    assert client.get(API, headers=visitor.headers).json()["items"] == []


def test_the_command_line_publishes_and_lists(lab, tmp_path, capsys):
    path = tmp_path / "lab.json"
    path.write_text(json.dumps(lab_dashboard()), encoding="utf-8")
    url = database_url(lab)
    assert main(["--database", url, "dashboard", "publish", str(path)]) == 0
    assert main(["--database", url, "dashboard", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "lab: published as version 1"
    assert out[1].split() == ["lab", "v1", "4", "panels", "The", "lab"]


def test_a_bundle_carries_dashboards_and_round_trips(lab, tmp_path):
    apply_bundle(lab, SYSTEM, json.dumps(lab_bundle(lab_dashboard())).encode())
    first = exported(lab)
    assert json.loads(first)["dashboards"] == [lab_dashboard()]
    with fresh_database(lab.dialect, tmp_path) as other:
        report = apply_bundle(other, SYSTEM, first)
        assert ("dashboard", "lab", "added") in [(i.kind, i.key, i.action) for i in report.items]
        assert exported(other) == first


def test_a_selected_export_takes_the_dashboards_of_its_types_and_their_roles(lab):
    only_specimens = lab_dashboard(
        key="specimens", roles=["visitor"], panels=lab_dashboard()["panels"][:3]
    )
    apply_bundle(lab, SYSTEM, json.dumps(lab_bundle(lab_dashboard(), only_specimens)).encode())
    with lab.read() as conn:
        specimens = export_bundle(conn, SYSTEM, types=["specimen"])
        both = export_bundle(conn, SYSTEM, types=["specimen", "finding"])
    assert [d["key"] for d in specimens["dashboards"]] == ["specimens"]
    assert [r["key"] for r in specimens["roles"]] == ["analyst", "reviewer", "visitor"]
    assert [d["key"] for d in both["dashboards"]] == ["lab", "specimens"]


def test_a_bundle_with_a_bad_dashboard_is_refused_whole(db):
    bad = _changed("panels.3.field", "colour")
    with unchanged(db), pytest.raises(ValidationFailed) as refused:
        apply_bundle(db, SYSTEM, json.dumps(lab_bundle(bad)).encode())
    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("dashboards[0].panels[3].field", "Finding has no field 'colour'")
    ]


NAMES = Names(
    roles={"analyst": "Analyst", "reviewer": "Reviewer", "visitor": "Visitor"},
    fields={"high": "High"},
    types={"specimen": "Specimen", "finding": "Finding"},
)


def _texts(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    return [s.text for s in describe_change("dashboard", old, new, NAMES)]


def test_a_new_dashboard_is_told_panel_by_panel():
    assert _texts(None, lab_dashboard()) == [
        'New dashboard "The lab" for "Analyst", "Reviewer"',
        'Panel "Specimens by state" added: "Specimen" per state',
        'Panel "Late specimens" added: overdue "Specimen"',
        'Panel "Receipt to release" added: "Specimen" from step "receive" to step "release", '
        "per week, in days",
        'Panel "High findings" added: share of "Finding" per week whose "High" is yes',
    ]


def test_changes_to_a_dashboard_are_told_and_none_weakens_a_control():
    old = lab_dashboard()
    new = copy.deepcopy(old)
    new["label"] = "Our lab"
    new["roles"] = ["*"]
    new["panels"][2].update(weeks=26, unit="hours", label="Turnaround")
    new["panels"][0]["type"] = "finding"
    del new["panels"][1]
    new["panels"].insert(
        0, {"key": "late2", "label": "Late", "kind": "overdue", "type": "specimen"}
    )
    statements = describe_change("dashboard", old, new, NAMES)
    assert [s.text for s in statements] == [
        'Dashboard "The lab" renamed to "Our lab"',
        'Dashboard "Our lab" now opens for everyone (was "Analyst", "Reviewer")',
        'Panel "Late" added: overdue "Specimen"',
        'Panel "Specimens by state" now shows "Finding" per state (was "Specimen" per state)',
        'Panel "Receipt to release" renamed to "Turnaround"',
        'Panel "Turnaround": weeks shown 3 → 26',
        'Panel "Turnaround": unit "days" → "hours"',
        'Panel "Late specimens" removed',
    ]
    assert weakening(statements) == []


def test_a_dashboard_goes_through_a_change_request(client, lab, make_person):
    author = make_person("alice", "cc_admin", permissions=(CONFIGURE,))
    qa = make_person("quentin", "cc_qa", permissions=(APPROVE_CONFIGURATION,))
    with lab.write() as conn:
        set_control(conn, SYSTEM, enabled=True, reason="validated use")
    refused = client.put(f"{API}/lab", json=lab_dashboard(), headers=author.headers)
    assert problem(refused, 409)["title"] == "Change control"

    proposed = client.post(
        "/api/v1/change-requests",
        json={
            "title": "Dashboard",
            "reason": "See the lab at a glance",
            "items": [{"kind": "dashboard", "key": "lab", "body": lab_dashboard()}],
        },
        headers=author.headers,
    )
    assert proposed.status_code == 201, proposed.text
    change = proposed.json()
    assert change["review"][0]["title"] == 'dashboard "The lab"'
    assert change["review"][0]["statements"][0]["text"] == (
        'New dashboard "The lab" for "Analyst", "Reviewer"'
    )
    approved = client.post(
        f"/api/v1/change-requests/{change['id']}/approve",
        json={
            "content_hash": change["content_hash"],
            "signature": {"username": qa.username, "password": TEST_PASSWORD},
        },
        headers=qa.headers,
    )
    assert approved.status_code == 200, approved.text
    active = client.post(
        f"/api/v1/change-requests/{change['id']}/activate", json={}, headers=author.headers
    )
    assert active.status_code == 200, active.text
    assert client.get(f"{API}/lab", headers=author.headers).json()["version"] == 1
