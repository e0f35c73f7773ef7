"""The period a periodic review covers, from the dates a person gives.

Dates are whole UTC days and both are included: ``--from 2026-01-01 --to
2026-03-31`` covers every event from 2026-01-01 00:00:00 UTC up to, not
including, 2026-04-01 00:00:00 UTC. Queries compare ``occurred_at >= start
and occurred_at < end``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from labledger.errors import FieldError, ValidationFailed

#: The longest period one report covers: ten years of days.
MAX_DAYS = 3660


@dataclass(frozen=True)
class Period:
    first_day: date
    last_day: date

    @property
    def start(self) -> datetime:
        """The first moment covered (included)."""
        return datetime.combine(self.first_day, datetime.min.time(), UTC)

    @property
    def end(self) -> datetime:
        """The first moment after the period (excluded): midnight after ``last_day``."""
        return datetime.combine(self.last_day + timedelta(days=1), datetime.min.time(), UTC)

    @property
    def text(self) -> str:
        return (
            f"{self.first_day.isoformat()} to {self.last_day.isoformat()} (UTC, both days included)"
        )


def _day(field: str, raw: str) -> tuple[date | None, FieldError | None]:
    text = raw.strip()
    if not text:
        return None, FieldError(field, "give a date as YYYY-MM-DD")
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text), None
    except ValueError:
        return None, FieldError(field, f"'{text[:40]}' is not a date: use YYYY-MM-DD")


def parse_period(first: str, last: str) -> Period:
    """The period from ``first`` to ``last`` (``YYYY-MM-DD``, both included), or a refusal
    naming the field at fault: not a date, ``from`` after ``to``, or longer than MAX_DAYS."""
    start, start_error = _day("from", first)
    end, end_error = _day("to", last)
    errors = [e for e in (start_error, end_error) if e is not None]
    if start is not None and end is not None:
        if start > end:
            errors.append(FieldError("to", f"{end} is before the start of the period, {start}"))
        elif (end - start).days >= MAX_DAYS:
            errors.append(FieldError("to", f"a review covers at most {MAX_DAYS} days"))
    if errors or start is None or end is None:
        raise ValidationFailed("The period is not valid.", errors)
    return Period(start, end)
