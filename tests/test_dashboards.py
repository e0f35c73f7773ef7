"""Dashboard panels count what they should: records per state, overdue records,
turnaround median and 90th percentile per week, a yes/no field's weekly rate;
only for types the person may read, on dashboards meant for them.

The lab here (also used by the other dashboard tests): specimens that go
through a workflow and have a due date, findings with a computed yes/no flag
that only reviewers read, and a dashboard with one panel of each kind.
Records and steps are written at chosen moments (``Clock``), so the numbers
are known in advance.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from msgspec.structs import replace

from labledger.bundles.importer import apply_bundle
from labledger.dashboards.definitions import list_dashboards, open_dashboard, publish_dashboard
from labledger.dashboards.panels import (
    Rate,
    StateCounts,
    Table,
    Turnaround,
    dashboard_view,
    panel_csv,
    panel_numbers,
)
from labledger.db.engine import Database
from labledger.db.tables import app_user, record
from labledger.errors import Forbidden, NotFound, ValidationFailed
from labledger.identity.principal import SYSTEM, Principal
from labledger.identity.users import create_user, principal_where
from labledger.metadata.spec import decode
from labledger.metadata.spec.dashboard import TurnaroundPanel
from labledger.metadata.types import type_model
from labledger.records.query import ListQuery, list_records
from labledger.records.service import create_record
from labledger.workflows.definitions import publish_workflow
from labledger.workflows.engine import run_transition
from tests.conftest import TEST_PASSWORD
from tests.test_seed_lims import records_of
from tests.test_seed_qms import load_seeds

#: "Now" for the panels over time: a Wednesday; its week started on Monday 16 March.
NOW = datetime(2026, 3, 18, 12, 0, tzinfo=UTC)
MONDAYS = ("2026-03-02", "2026-03-09", "2026-03-16")

SPECIMEN_FLOW: dict[str, Any] = {
    "key": "specimen_flow",
    "label": "Specimen flow",
    "states": [
        {"key": "registered", "label": "Registered", "initial": True},
        {"key": "received", "label": "Received"},
        {"key": "released", "label": "Released", "final": True},
        {"key": "rejected", "label": "Rejected", "final": True},
    ],
    "transitions": [
        {
            "key": "receive",
            "label": "Receive",
            "from": ["registered"],
            "to": "received",
            "roles": ["*"],
        },
        {
            "key": "release",
            "label": "Release",
            "from": ["received"],
            "to": "released",
            "roles": ["*"],
        },
        {
            "key": "reject",
            "label": "Reject",
            "from": ["received"],
            "to": "rejected",
            "roles": ["*"],
        },
    ],
}


def specimen_type() -> dict[str, Any]:
    return {
        "key": "specimen",
        "label": "Specimen",
        "plural": "Specimens",
        "numbering": "SPC-{####}",
        "workflow": "specimen_flow",
        "due_field": "due_on",
        "permissions": {
            "read": ["analyst", "reviewer"],
            "create": ["analyst"],
            "edit": ["analyst"],
        },
        "fields": [
            {"key": "name", "label": "Name", "type": "text", "required": True},
            {"key": "due_on", "label": "Due on", "type": "date", "filterable": True},
        ],
    }


def finding_type() -> dict[str, Any]:
    return {
        "key": "finding",
        "label": "Finding",
        "plural": "Findings",
        "numbering": "FND-{####}",
        "permissions": {"read": ["reviewer"], "create": ["reviewer"], "edit": ["reviewer"]},
        "fields": [
            {"key": "value", "label": "Value", "type": "decimal"},
            {
                "key": "high",
                "label": "High",
                "type": "computed",
                "result_type": "boolean",
                "expression": "value > 5 if value is not None else None",
            },
        ],
    }


def lab_dashboard(**overrides: Any) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "key": "lab",
        "label": "The lab",
        "description": "Specimens and findings",
        "roles": ["analyst", "reviewer"],
        "panels": [
            {
                "key": "by_state",
                "label": "Specimens by state",
                "kind": "counts_by_state",
                "type": "specimen",
            },
            {"key": "late", "label": "Late specimens", "kind": "overdue", "type": "specimen"},
            {
                "key": "turnaround",
                "label": "Receipt to release",
                "kind": "turnaround",
                "type": "specimen",
                "from": "receive",
                "to": "release",
                "weeks": 3,
            },
            {
                "key": "high_rate",
                "label": "High findings",
                "kind": "rate_over_time",
                "type": "finding",
                "field": "high",
                "weeks": 3,
            },
        ],
    }
    definition.update(overrides)
    return definition


def lab_bundle(*dashboards: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": "labledger.bundle/1",
        "name": "lab",
        "version": "1",
        "roles": [
            {"key": "analyst", "label": "Analyst"},
            {"key": "reviewer", "label": "Reviewer"},
            {"key": "visitor", "label": "Visitor"},
        ],
        "workflows": [copy.deepcopy(SPECIMEN_FLOW)],
        "types": [specimen_type(), finding_type()],
        "dashboards": list(dashboards),
    }


def import_lab(db: Database, *dashboards: dict[str, Any]) -> None:
    body = lab_bundle(*dashboards)
    apply_bundle(db, SYSTEM, json.dumps(body).encode())


@dataclass
class Clock:
    """The moment new records and audit events are written at (``at``)."""

    moment: datetime = NOW

    def at(self, text: str) -> Clock:
        """Move to ``text`` (``2026-03-02 08:00``, UTC)."""
        self.moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
        return self

    def now(self) -> datetime:
        return self.moment


def installed_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """From now on, records are created and their steps audited at the clock's moment."""
    found = Clock()
    monkeypatch.setattr("labledger.audit.trail.utc_now", found.now)
    monkeypatch.setattr("labledger.records.create.utc_now", found.now)
    return found


def specimen(
    db: Database, clock: Clock, name: str, *steps: tuple[str, str], due: date | None = None
) -> int:
    """A specimen registered at the clock's moment, then taken through ``steps``
    ((moment, transition) each); returns its id."""
    data: dict[str, Any] = {"name": name}
    if due is not None:
        data["due_on"] = due.isoformat()
    with db.write() as conn:
        record_id = int(create_record(conn, SYSTEM, "specimen", data, skip_permission=True)["id"])
    for moment, transition in steps:
        clock.at(moment)
        run_transition(db, SYSTEM, "specimen", record_id, transition)
    return record_id


def finding(db: Database, clock: Clock, moment: str, value: float | None) -> None:
    clock.at(moment)
    with db.write() as conn:
        create_record(conn, SYSTEM, "finding", {"value": value}, skip_permission=True)


def today_plus(days: int) -> date:
    return datetime.now(UTC).date() + timedelta(days=days)


def populate(db: Database, clock: Clock) -> None:
    """The specimens and findings whose numbers ``test_dashboards`` expects.

    Turnaround, receipt to release, by week of release (in days):
    week of 2 March: 1, 3 and 11 (received before the window); week of 9 March:
    0.5, 2 (received the Sunday before) and 4; none in the week of 16 March.
    """
    clock.at("2026-01-10 09:00")
    specimen(db, clock, "A", ("2026-03-03 08:00", "receive"), ("2026-03-04 08:00", "release"))
    specimen(db, clock, "B", ("2026-03-02 08:00", "receive"), ("2026-03-05 08:00", "release"))
    specimen(db, clock, "F", ("2026-02-20 00:00", "receive"), ("2026-03-03 00:00", "release"))
    specimen(db, clock, "C", ("2026-03-09 00:00", "receive"), ("2026-03-09 12:00", "release"))
    specimen(db, clock, "D", ("2026-03-08 00:00", "receive"), ("2026-03-10 00:00", "release"))
    specimen(db, clock, "E", ("2026-03-09 00:00", "receive"), ("2026-03-13 00:00", "release"))
    specimen(db, clock, "G", ("2026-02-01 00:00", "receive"), ("2026-02-20 00:00", "release"))
    specimen(
        db,
        clock,
        "late but rejected",
        ("2026-03-17 00:00", "receive"),
        ("2026-03-17 01:00", "reject"),
        due=today_plus(-30),
    )
    clock.at("2026-03-17 10:00")
    specimen(db, clock, "H", ("2026-03-17 11:00", "receive"), due=today_plus(3))
    specimen(db, clock, "I", due=today_plus(-3))
    specimen(db, clock, "J")
    # Findings, by week of creation: 1, 7, 9 (two of three high); 2 (none high) and one
    # without a value (not counted); one before the window.
    for moment, value in (
        ("2026-03-02 00:00", 1),
        ("2026-03-04 10:00", 7),
        ("2026-03-08 23:59", 9),
        ("2026-03-12 10:00", 2),
        ("2026-03-12 11:00", None),
        ("2026-02-27 10:00", 8),
    ):
        finding(db, clock, moment, value)


@pytest.fixture
def lab(db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    """The lab, its dashboard and its records."""
    import_lab(db, lab_dashboard())
    populate(db, installed_clock(monkeypatch))
    return db


def tables(db: Database, actor: Principal = SYSTEM) -> dict[str, Table | None]:
    with db.read() as conn:
        view = dashboard_view(conn, actor, "lab", NOW)
    return {shown.panel.key: shown.table for shown in view.panels}


def person(db: Database, username: str, *roles: str) -> Principal:
    with db.write() as conn:
        create_user(
            conn,
            SYSTEM,
            username=username,
            full_name=username.title(),
            roles=list(roles),
            password=TEST_PASSWORD,
            one_time=False,
        )
        found = principal_where(conn, app_user.c.username == username)
    assert found is not None
    return found


def test_records_per_state_in_the_workflows_order(lab):
    assert tables(lab)["by_state"] == Table(
        ("State", "Records"),
        (("Registered", 2), ("Received", 1), ("Released", 7), ("Rejected", 1)),
    )


def test_overdue_records_are_those_the_lists_overdue_filter_finds(lab):
    """Past the due date and not in a final state: the rejected specimen, past its date
    too, is not overdue; the specimen due in three days and the one without a date
    are not either."""
    assert tables(lab)["late"] == Table(("State", "Overdue"), (("Registered", 1),))
    with lab.read() as conn:
        model = type_model(conn, "specimen")
        listed = list_records(conn, model, ListQuery(overdue=True))["items"]
    assert [item["data"]["name"] for item in listed] == ["I"]


def test_turnaround_median_and_90th_percentile_per_week_of_release(lab):
    """Week of 2 March: 1, 3 and 11 days (the last received before the window): median
    3, 90th percentile 3 + 0.8 x (11 - 3) = 9.4. Week of 9 March: 0.5, 2 and 4 days:
    median 2, 90th percentile 2 + 0.8 x 2 = 3.6. Nothing released since."""
    assert tables(lab)["turnaround"] == Table(
        ("Week starting", "Records", "Median (days)", "90th percentile (days)"),
        ((MONDAYS[0], 3, 3.0, 9.4), (MONDAYS[1], 3, 2.0, 3.6), (MONDAYS[2], 0, None, None)),
    )


def test_turnaround_in_hours_and_from_the_last_earlier_step(lab, monkeypatch):
    """A record taking the earlier step twice is measured from the later time of it."""
    clock = installed_clock(monkeypatch)
    clock.at("2026-03-16 00:00")
    specimen(lab, clock, "K", ("2026-03-16 06:00", "receive"), ("2026-03-17 06:00", "release"))
    hours = replace(decode(lab_dashboard()["panels"][2], TurnaroundPanel), unit="hours", weeks=1)
    with lab.read() as conn:
        numbers = panel_numbers(conn, SYSTEM, hours, NOW)
    assert numbers.table().rows == ((MONDAYS[2], 1, 24.0, 24.0),)


def test_the_weekly_rate_counts_only_records_with_a_value(lab):
    """Week of 2 March: 1, 7 and 9 (created on the Sunday night): two of three high.
    Week of 9 March: 2, and a finding without a value, which is not counted."""
    assert tables(lab)["high_rate"] == Table(
        ("Week starting", "Records with a value", "Yes", "Share (%)"),
        ((MONDAYS[0], 3, 2, 66.7), (MONDAYS[1], 1, 0, 0.0), (MONDAYS[2], 0, 0, None)),
    )


def test_a_panel_of_a_type_the_person_may_not_read_shows_no_numbers(lab):
    analyst = person(lab, "ann", "analyst")
    seen = tables(lab, analyst)
    assert seen["by_state"] is not None
    assert seen["high_rate"] is None
    with lab.read() as conn:
        view = dashboard_view(conn, analyst, "lab", NOW)
        assert view.panels[3].problem == "You may not read Findings."
        assert view.as_data()["panels"][3]["rows"] == []
        with pytest.raises(Forbidden):
            panel_csv(conn, analyst, "lab", "high_rate", NOW)


def test_a_dashboard_is_hidden_from_people_outside_its_roles(lab):
    visitor = person(lab, "vic", "visitor")
    reviewer = person(lab, "rex", "reviewer")
    with lab.read() as conn:
        assert list_dashboards(conn, visitor) == []
        assert [d["key"] for d in list_dashboards(conn, reviewer)] == ["lab"]
        for asking in (
            lambda: dashboard_view(conn, visitor, "lab", NOW),
            lambda: panel_csv(conn, visitor, "lab", "by_state", NOW),
            lambda: open_dashboard(conn, visitor, "lab"),
        ):
            with pytest.raises(NotFound, match=r"There is no dashboard 'lab'\."):
                asking()
        with pytest.raises(NotFound, match=r"There is no dashboard 'other'\."):
            open_dashboard(conn, reviewer, "other")


def test_a_panel_that_no_longer_fits_its_workflow_says_so(lab):
    """The transition a panel measures to was removed from the workflow after publishing."""
    rejections = lab_dashboard()
    rejections["panels"][2]["to"] = "reject"
    with lab.write() as conn:
        publish_dashboard(conn, SYSTEM, rejections)
    flow = copy.deepcopy(SPECIMEN_FLOW)
    flow["transitions"] = [t for t in flow["transitions"] if t["key"] != "reject"]
    with lab.write() as conn:
        publish_workflow(conn, SYSTEM, flow)
    with lab.read() as conn:
        view = dashboard_view(conn, SYSTEM, "lab", NOW)
        with pytest.raises(ValidationFailed):
            panel_csv(conn, SYSTEM, "lab", "turnaround", NOW)
    assert view.panels[2].numbers is None
    assert view.panels[2].problem == (
        "Panel 'Receipt to release' no longer fits the configuration. "
        "to: 'reject' is not a transition of workflow 'specimen_flow'"
    )


def test_records_in_a_state_the_workflow_no_longer_has_are_still_counted(lab):
    with lab.write() as conn:
        conn.execute(record.update().where(record.c.state == "rejected").values(state="archived"))
    assert tables(lab)["by_state"].rows[-1] == ("archived", 1)


def _as_user(db: Database, username: str) -> Principal:
    with db.read() as conn:
        found = principal_where(conn, app_user.c.username == username)
    assert found is not None
    return found


def test_the_shipped_lims_dashboard_counts_the_demo_data(lims_db):
    manager = _as_user(lims_db, "mark")
    with lims_db.read() as conn:
        view = dashboard_view(conn, manager, "lab_at_a_glance")
        overdue = list_records(
            conn, type_model(conn, "sample"), ListQuery(overdue=True, limit=500), actor=manager
        )["items"]
    assert [shown.problem for shown in view.panels] == [None] * 4
    by_state, late, turnaround, out_of_spec = (shown.numbers for shown in view.panels)
    assert isinstance(by_state, StateCounts) and isinstance(late, StateCounts)
    samples = records_of(lims_db, "sample")
    assert by_state.total == len(samples)
    assert late.total == len(overdue)
    released = sum(1 for s in samples if s["state"] == "released")
    # The demo was played moments ago, inside the panels' twelve weeks.
    assert isinstance(turnaround, Turnaround)
    assert sum(week.count for week in turnaround.weeks) == released
    results = [r for r in records_of(lims_db, "result") if r["data"].get("out_of_spec") is not None]
    assert isinstance(out_of_spec, Rate)
    assert sum(week.total for week in out_of_spec.weeks) == len(results)
    assert sum(week.yes for week in out_of_spec.weeks) == sum(
        1 for r in results if r["data"]["out_of_spec"]
    )


def test_the_shipped_qms_dashboard_is_published_with_the_seed(db, tmp_path):
    assert load_seeds(db, tmp_path, "qms") == ["qms 1.0"]
    with db.read() as conn:
        view = dashboard_view(conn, SYSTEM, "quality_at_a_glance")
    assert [shown.panel.key for shown in view.panels if shown.problem is None] == [
        "deviations_by_state",
        "overdue_deviations",
        "overdue_capas",
        "overdue_capa_actions",
        "capa_turnaround",
    ]
