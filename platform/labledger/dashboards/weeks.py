"""The weeks a panel looks back over, and the percentiles of a week's durations.

Weeks start on Monday at 00:00 UTC (ISO weeks), whatever the server's or the
viewer's time zone, so every worker and every viewer sees the same buckets;
the last week is the current one, counted up to now.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

WEEK = timedelta(days=7)


def week_of(moment: date) -> date:
    """The Monday of the week ``moment`` (a date, or a UTC datetime) falls in."""
    day = moment.date() if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class Window:
    """``weeks`` whole weeks ending with the current one: their Mondays, oldest first."""

    mondays: tuple[date, ...]
    #: The end of the window: now.
    until: datetime

    @property
    def since(self) -> datetime:
        """The first Monday at 00:00 UTC."""
        return datetime.combine(self.mondays[0], time(), tzinfo=UTC)

    def index(self, monday: date) -> int | None:
        """The position of the week starting on ``monday`` (None: outside the window)."""
        position = (monday - self.mondays[0]).days // 7
        return position if 0 <= position < len(self.mondays) else None


def window(weeks: int, now: datetime) -> Window:
    """The last ``weeks`` weeks up to ``now`` (a UTC datetime), the current one included."""
    current = week_of(now.astimezone(UTC))
    mondays = tuple(current - WEEK * back for back in range(weeks - 1, -1, -1))
    return Window(mondays, now)


def percentile(values: Sequence[float], share: float) -> float | None:
    """The ``share`` (0 to 1) percentile of ``values`` by linear interpolation between
    the two nearest ranks (the rule of most spreadsheets' PERCENTILE.INC): the median
    of 1, 2, 3, 4 is 2.5. None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * share
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
