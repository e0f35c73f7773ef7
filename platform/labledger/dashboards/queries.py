"""The questions panels ask the database, each one indexed query (or one per 1,000 records).

How each scales:

- **Records per state** groups one type's records by state through
  ``ix_record_type_state_created`` (type, state, ...): an index-only count, proportional
  to the records of the type.
- **Overdue records** are the list's own ``?overdue=true`` condition
  (``records.query``), grouped by state, so the count and the list it links
  to cannot disagree: records of the type not in a final state, compared on
  the due field's expression index where the field is filterable.
- **Turnaround** reads the ``record.transition`` events of the later step
  inside the window: ``ix_audit_event_time`` bounds them to the window's
  events (or ``ix_audit_event_type`` to the type's, whichever the planner
  finds smaller), so the cost follows the window, not the age of the trail.
  The earlier step of those records is then read per record through
  ``ix_audit_event_record`` (a record has a handful of events), 1,000
  records a query. Twelve weeks of a lab releasing 1,000 samples a week are
  12,000 events read and 12 queries of earlier steps.
- **Weekly rate of a yes/no field** reads the window's records of the type
  through ``ix_record_type_created`` (type, created_at) and groups them by
  week in the database: the cost follows the records created in the window.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, select

from labledger.db.jsonfields import BOOLEAN, field_column, type_key_literal
from labledger.db.membership import one_of
from labledger.db.tables import audit_event, record
from labledger.metadata.model import TypeModel
from labledger.records.query import ListQuery, list_conditions

#: The audit action of a workflow step (``workflows.transition``).
TRANSITION_ACTION = "record.transition"
#: Records whose earlier steps one query reads.
BATCH = 1000


def counts_by_state(conn: Connection, type_key: str) -> dict[str | None, int]:
    """How many records of ``type_key`` are in each state (None: records without one)."""
    rows = conn.execute(
        select(record.c.state, func.count())
        .where(record.c.type_key == type_key_literal(type_key))
        .group_by(record.c.state)
    )
    return {state: int(count) for state, count in rows}


def overdue_by_state(conn: Connection, model: TypeModel) -> dict[str | None, int]:
    """How many records of ``model`` are overdue in each state, by the list's own rule.

    The list's query builder writes the condition (no other code may: the
    dashboard's count must be what ``?overdue=true`` lists); a type without a
    due field is refused as the list refuses it.
    """
    conditions = list_conditions(conn, model, ListQuery(overdue=True))
    rows = conn.execute(
        select(record.c.state, func.count()).where(and_(*conditions)).group_by(record.c.state)
    )
    return {state: int(count) for state, count in rows}


def _transition_named(transition: str) -> ColumnElement[bool]:
    named: ColumnElement[bool] = audit_event.c.details["transition"].as_string() == transition
    return named


def steps_taken(
    conn: Connection, type_key: str, transition: str, since: datetime, until: datetime
) -> list[tuple[int, datetime]]:
    """(record id, when) of each ``transition`` of a ``type_key`` record between
    ``since`` and ``until``, in time order."""
    rows = conn.execute(
        select(audit_event.c.record_id, audit_event.c.occurred_at)
        .where(
            audit_event.c.occurred_at >= since,
            audit_event.c.occurred_at <= until,
            audit_event.c.type_key == type_key,
            audit_event.c.action == TRANSITION_ACTION,
            _transition_named(transition),
        )
        .order_by(audit_event.c.occurred_at, audit_event.c.seq)
    )
    return [(int(record_id), moment) for record_id, moment in rows]


def _batches(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), BATCH):
        yield ids[start : start + BATCH]


def steps_of(
    conn: Connection, type_key: str, record_ids: Sequence[int], transition: str
) -> dict[int, list[datetime]]:
    """When each of ``record_ids`` took ``transition``, whenever that was, in time order."""
    found: dict[int, list[datetime]] = {}
    for batch in _batches(sorted(set(record_ids))):
        rows = conn.execute(
            select(audit_event.c.record_id, audit_event.c.occurred_at)
            .where(
                one_of(conn.dialect.name, audit_event.c.record_id, batch),
                audit_event.c.type_key == type_key,
                audit_event.c.action == TRANSITION_ACTION,
                _transition_named(transition),
            )
            .order_by(audit_event.c.occurred_at, audit_event.c.seq)
        )
        for record_id, moment in rows:
            found.setdefault(int(record_id), []).append(moment)
    return found


def _monday(dialect: str, moment: ColumnElement[Any]) -> ColumnElement[Any]:
    """The Monday (UTC) of the week of a timestamp column, in SQL."""
    if dialect == "postgresql":
        return func.date_trunc("week", func.timezone("UTC", moment))
    return func.date(moment, "weekday 0", "-6 days")  # the next Sunday or today, less six days


def _as_date(value: date | str) -> date:
    """A week's Monday as each database gives it back (a timestamp, or ISO text)."""
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(value)


def weekly_flags(
    conn: Connection, type_key: str, field_key: str, since: datetime
) -> dict[date, tuple[int, int]]:
    """Per week (its Monday) of the records of ``type_key`` created since ``since``:
    (records whose yes/no ``field_key`` has a value, those whose value is yes)."""
    dialect = conn.dialect.name
    flag = field_column(dialect, field_key, BOOLEAN)
    week = _monday(dialect, record.c.created_at).label("week")
    rows = conn.execute(
        select(week, func.count(flag), func.sum(case((flag, 1), else_=0)))
        .where(record.c.type_key == type_key_literal(type_key), record.c.created_at >= since)
        .group_by(week)
    )
    return {_as_date(monday): (int(total), int(yes or 0)) for monday, total, yes in rows}
