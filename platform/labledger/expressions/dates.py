"""The built-in date functions and the clock they read.

Records keep dates as ISO-8601 text, so these functions read dates, datetimes
and their text alike and answer with ISO text.  ``today()`` and ``now()`` read
the clock through :func:`utcnow`, which tests replace to freeze time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from labledger.expressions.errors import EvaluationError
from labledger.expressions.limits import MAX_DATE_TEXT
from labledger.expressions.values import kind


def utcnow() -> datetime:
    """The clock, in one place so tests can replace it."""
    return datetime.now(UTC)


def _to_date(value: Any, function: str) -> date:
    """Read a date, a datetime or their ISO-8601 text as a calendar date in UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return value
    elif isinstance(value, str) and len(value) <= MAX_DATE_TEXT:
        text = value.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise EvaluationError(f"{function}() cannot read {value!r} as a date") from None
    else:
        raise EvaluationError(f"{function}() needs an ISO date text, not {kind(value)}")
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date()


def today() -> str:
    """``today()``: the current UTC date as ISO text."""
    return utcnow().date().isoformat()


def now() -> str:
    """``now()``: the current UTC time as ISO text with a ``Z``."""
    return utcnow().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def as_date(value: Any, /) -> str | None:
    """``date(x)``: the calendar date of a date, a datetime or ISO text."""
    if value is None:
        return None
    return _to_date(value, "date").isoformat()


def days_between(start: Any, end: Any) -> int | None:
    """``days_between(start, end)``: whole days from start to end."""
    if start is None or end is None:
        return None
    return (_to_date(end, "days_between") - _to_date(start, "days_between")).days


def add_days(day: Any, days: Any) -> str | None:
    """``add_days(day, n)``: the date n days later (earlier when negative)."""
    if day is None or days is None:
        return None
    if isinstance(days, float | Decimal) and days == int(days):
        days = int(days)
    if type(days) is not int:
        raise EvaluationError(f"add_days() needs a whole number of days, not {kind(days)}")
    try:
        return (_to_date(day, "add_days") + timedelta(days=days)).isoformat()
    except OverflowError:
        raise EvaluationError("add_days() result is outside the supported date range") from None
