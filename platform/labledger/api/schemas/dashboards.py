"""Dashboards: the list, and a dashboard's numbers as a table per panel."""

from __future__ import annotations

from datetime import datetime

from labledger.api.schemas.base import ResponseStruct

#: A table cell: a label, a count or a measure (null: nothing to measure that week).
Cell = str | int | float | None


class DashboardSummary(ResponseStruct):
    key: str
    label: str
    description: str
    version: int
    #: How many panels it has.
    panels: int


class DashboardList(ResponseStruct):
    items: list[DashboardSummary]


class PanelNumbers(ResponseStruct):
    """One panel's numbers: the table the page prints beside its chart and the CSV holds."""

    key: str
    #: counts_by_state, overdue, turnaround or rate_over_time.
    kind: str
    label: str
    #: The object type whose records the panel counts.
    type: str
    columns: list[str]
    rows: list[list[Cell]]
    #: Why the panel has no numbers for you (a type you may not read, a panel that no
    #: longer fits the configuration); null when it has them.
    problem: str | None


class DashboardNumbers(ResponseStruct):
    """A dashboard counted for you, now."""

    key: str
    label: str
    version: int
    #: When the numbers were counted (UTC).
    at: datetime
    panels: list[PanelNumbers]
