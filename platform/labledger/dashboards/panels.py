"""A dashboard's panels counted for one person: their numbers, as one table each.

Every front end shows the same numbers: the page draws a panel's table as
an SVG chart and prints it beside the chart, the CSV download writes it, the
API returns it. Each panel counts only records of a type the person may
read (``readable_model``, the check every list makes); a panel of another
type, or one that no longer fits the configuration (``fit``), shows why
instead of numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from markupsafe import Markup
from msgspec import UNSET
from sqlalchemy import Connection

from labledger.dashboards import queries
from labledger.dashboards.charts import Bar, Series, bar_chart, line_chart
from labledger.dashboards.definitions import Dashboard, open_dashboard
from labledger.dashboards.fit import panel_problems
from labledger.dashboards.weeks import percentile, week_of, window
from labledger.db.types import utc_now
from labledger.errors import FieldError, NotFound, ServiceError, ValidationFailed
from labledger.identity.principal import Principal
from labledger.metadata.model import TypeModel
from labledger.metadata.spec import PanelSpec
from labledger.metadata.spec.dashboard import (
    CountsByStatePanel,
    OverduePanel,
    RatePanel,
    TurnaroundPanel,
)
from labledger.metadata.types import readable_model
from labledger.records.csv_export import safe_cell
from labledger.workflows.model import workflow_model

#: A table cell: a label, a count, a measure (None: nothing to measure that week).
Cell = str | int | float | None
#: Hours in each unit a turnaround is shown in.
HOURS = {"hours": 1, "days": 24}
#: Shown for records without a state (a type without a workflow).
NO_STATE = "(no state)"


@dataclass(frozen=True)
class Table:
    """A panel's numbers: column headings and rows."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


def _week(monday: date) -> str:
    return monday.isoformat()


@dataclass(frozen=True)
class StateCounts:
    """Records per state, in the workflow's order (records per state, or overdue ones)."""

    counts: tuple[tuple[str, int], ...]
    heading: str

    @property
    def total(self) -> int:
        return sum(count for _, count in self.counts)

    def table(self) -> Table:
        return Table(("State", self.heading), self.counts)

    def chart(self, title: str) -> Markup:
        return bar_chart(title, [Bar(label, count) for label, count in self.counts])


@dataclass(frozen=True)
class WeekTurnaround:
    monday: date
    #: How many records took the later step that week.
    count: int
    median: float | None
    p90: float | None


@dataclass(frozen=True)
class Turnaround:
    """Median and 90th percentile of the time between two steps, per week of the later one."""

    weeks: tuple[WeekTurnaround, ...]
    unit: str

    def table(self) -> Table:
        return Table(
            ("Week starting", "Records", f"Median ({self.unit})", f"90th percentile ({self.unit})"),
            tuple((_week(w.monday), w.count, w.median, w.p90) for w in self.weeks),
        )

    def chart(self, title: str) -> Markup:
        return line_chart(
            title,
            [_week(w.monday) for w in self.weeks],
            [
                Series("Median", [w.median for w in self.weeks]),
                Series("90th percentile", [w.p90 for w in self.weeks]),
            ],
            unit=self.unit,
        )


@dataclass(frozen=True)
class WeekRate:
    monday: date
    #: Records created that week whose field has a value, and those whose value is yes.
    total: int
    yes: int

    @property
    def share(self) -> float | None:
        """Percent, one decimal (None: no record had a value)."""
        return round(100 * self.yes / self.total, 1) if self.total else None


@dataclass(frozen=True)
class Rate:
    """The share of records per week of their creation whose yes/no field is yes."""

    weeks: tuple[WeekRate, ...]

    def table(self) -> Table:
        return Table(
            ("Week starting", "Records with a value", "Yes", "Share (%)"),
            tuple((_week(w.monday), w.total, w.yes, w.share) for w in self.weeks),
        )

    def chart(self, title: str) -> Markup:
        shares = [w.share for w in self.weeks]
        return line_chart(
            title, [_week(w.monday) for w in self.weeks], [Series("Share", shares)], "%", top=100
        )


Numbers = StateCounts | Turnaround | Rate


def _state_labels(conn: Connection, model: TypeModel) -> dict[str | None, str]:
    """Each state's label in the workflow's order (no workflow: the one 'no state')."""
    if not model.workflow:
        return {None: NO_STATE}
    workflow = workflow_model(conn, model.workflow)
    return {s.key: s.label for s in workflow.spec.states}


def _per_state(
    labels: dict[str | None, str], counts: dict[str | None, int], shown: Sequence[str | None]
) -> tuple[tuple[str, int], ...]:
    return tuple((labels.get(state) or str(state), counts.get(state, 0)) for state in shown)


def _every_state(labels: dict[str | None, str], counts: dict[str | None, int]) -> list[str | None]:
    """The workflow's states, then any its records are in that it no longer has (a state
    removed by a later version): no record goes uncounted."""
    return [*labels, *sorted((s for s in counts if s not in labels), key=str)]


def _counts_by_state(conn: Connection, model: TypeModel, panel: CountsByStatePanel) -> StateCounts:
    labels = _state_labels(conn, model)
    counts = queries.counts_by_state(conn, model.key)
    shown = _every_state(labels, counts) if panel.states is UNSET else list(panel.states)
    return StateCounts(_per_state(labels, counts, shown), "Records")


def _overdue(conn: Connection, model: TypeModel) -> StateCounts:
    """Overdue records in the states that hold any (no final state ever does)."""
    labels = _state_labels(conn, model)
    counts = queries.overdue_by_state(conn, model)
    shown = [state for state in _every_state(labels, counts) if counts.get(state)]
    return StateCounts(_per_state(labels, counts, shown), "Overdue")


def _hours(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 3600


def _turnaround(
    conn: Connection, model: TypeModel, panel: TurnaroundPanel, now: datetime
) -> Turnaround:
    """Each later step in the window is measured from the record's last earlier step
    before it; a later step without one (the record never took it) is left out."""
    span = window(panel.weeks, now)
    later = queries.steps_taken(conn, model.key, panel.to, span.since, span.until)
    earlier = queries.steps_of(conn, model.key, [rid for rid, _ in later], panel.from_)
    per_week: list[list[float]] = [[] for _ in span.mondays]
    for record_id, moment in later:
        started = [m for m in earlier.get(record_id, []) if m <= moment]
        position = span.index(week_of(moment))
        if started and position is not None:
            per_week[position].append(_hours(moment, started[-1]) / HOURS[panel.unit])
    return Turnaround(
        tuple(
            WeekTurnaround(monday, len(values), _rounded(values, 0.5), _rounded(values, 0.9))
            for monday, values in zip(span.mondays, per_week, strict=True)
        ),
        panel.unit,
    )


def _rounded(values: list[float], share: float) -> float | None:
    found = percentile(values, share)
    return None if found is None else round(found, 2)


def _rate(conn: Connection, model: TypeModel, panel: RatePanel, now: datetime) -> Rate:
    span = window(panel.weeks, now)
    found = queries.weekly_flags(conn, model.key, panel.field, span.since)
    return Rate(tuple(WeekRate(monday, *found.get(monday, (0, 0))) for monday in span.mondays))


def panel_numbers(
    conn: Connection, actor: Principal, panel: PanelSpec, now: datetime | None = None
) -> Numbers:
    """The numbers of ``panel`` for ``actor`` at ``now`` (default: the present).

    Raises Forbidden when ``actor`` may not read the panel's type, and
    ValidationFailed when the panel no longer fits the configuration.
    """
    model = readable_model(conn, actor, panel.type)
    problems = panel_problems(conn, panel)
    if problems:
        raise ValidationFailed(
            f"Panel '{panel.label}' no longer fits the configuration.",
            [FieldError(path.removeprefix("."), message) for path, message in problems],
        )
    moment = now or utc_now()
    if isinstance(panel, CountsByStatePanel):
        return _counts_by_state(conn, model, panel)
    if isinstance(panel, OverduePanel):
        return _overdue(conn, model)
    if isinstance(panel, TurnaroundPanel):
        return _turnaround(conn, model, panel, moment)
    return _rate(conn, model, panel, moment)


@dataclass(frozen=True)
class PanelView:
    """A panel as a person sees it: its numbers, or why there are none."""

    panel: PanelSpec
    numbers: Numbers | None
    problem: str | None

    @property
    def chart(self) -> Markup | None:
        return None if self.numbers is None else self.numbers.chart(self.panel.label)

    @property
    def table(self) -> Table | None:
        return None if self.numbers is None else self.numbers.table()

    def as_data(self) -> dict[str, Any]:
        """The panel as plain data: its table, or why there is none (the API's answer)."""
        table = self.table or Table((), ())
        return {
            "key": self.panel.key,
            "label": self.panel.label,
            "kind": self.panel.kind,
            "type": self.panel.type,
            "columns": list(table.columns),
            "rows": [list(row) for row in table.rows],
            "problem": self.problem,
        }


def _refusal(exc: ServiceError) -> str:
    """A refusal as one line: its message, then each problem."""
    return " ".join([exc.detail, "; ".join(f"{e.field}: {e.message}" for e in exc.errors)]).strip()


def panel_view(
    conn: Connection, actor: Principal, panel: PanelSpec, now: datetime | None = None
) -> PanelView:
    try:
        return PanelView(panel, panel_numbers(conn, actor, panel, now), None)
    except ServiceError as exc:
        return PanelView(panel, None, _refusal(exc))


@dataclass(frozen=True)
class DashboardView:
    """A dashboard counted for one person at one moment."""

    dashboard: Dashboard
    panels: tuple[PanelView, ...]
    at: datetime

    def as_data(self) -> dict[str, Any]:
        """The numbers as plain data, a table per panel (the API's answer)."""
        return {
            "key": self.dashboard.key,
            "label": self.dashboard.spec.label,
            "version": self.dashboard.version,
            "at": self.at,
            "panels": [view.as_data() for view in self.panels],
        }


def dashboard_view(
    conn: Connection, actor: Principal, key: str, now: datetime | None = None
) -> DashboardView:
    """Every panel of dashboard ``key`` for ``actor`` (NotFound: not one they may open)."""
    dashboard = open_dashboard(conn, actor, key)
    moment = now or utc_now()
    panels = tuple(panel_view(conn, actor, p, moment) for p in dashboard.spec.panels)
    return DashboardView(dashboard, panels, moment)


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    return safe_cell(value) if isinstance(value, str) else str(value)


def table_csv(table: Table) -> str:
    """The table as CSV (CRLF lines), every text cell safe to open in a spreadsheet."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_csv_cell(c) for c in table.columns])
    writer.writerows([_csv_cell(c) for c in row] for row in table.rows)
    return buffer.getvalue()


def panel_csv(
    conn: Connection, actor: Principal, key: str, panel_key: str, now: datetime | None = None
) -> str:
    """The CSV of one panel: the numbers its table shows (refused as the panel would be)."""
    panel = open_dashboard(conn, actor, key).spec.panel(panel_key)
    if panel is None:
        raise NotFound(f"Dashboard '{key}' has no panel '{panel_key}'.")
    return table_csv(panel_numbers(conn, actor, panel, now).table())
