"""Functions guards and actions may call to ask about related records.

They follow the reference table, so "every record of type T whose field F
points at this record is in state S" is one indexed query. Offered to the
expression evaluator as extra functions; nothing else about the database is
reachable from an expression.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, func, select

from labledger.db.tables import record, record_reference

# The names live in metadata, which checks expressions against them; kept here
# beside the implementations for the code that evaluates expressions.
from labledger.metadata.expression_check import RELATED_FUNCTIONS as RELATED_FUNCTIONS


def _states(states: Any) -> list[str] | None:
    if states is None:
        return None
    return [states] if isinstance(states, str) else [str(s) for s in states]


#: What ``lookup`` reads of a record; ``record_facts`` turns such a row into its answer.
LOOKUP_COLUMNS = (record.c.data, record.c.state, record.c.number)


def record_facts(record_id: int, row: Any) -> dict[str, Any]:
    """A record as ``lookup`` answers: its fields, id, state and number."""
    return {**row.data, "id": record_id, "state": row.state, "number": row.number}


def related_functions(
    conn: Connection,
    record_id: int | None,
    data: dict[str, Any],
    looked_up: dict[int, dict[str, Any] | None] | None = None,
) -> dict[str, Callable[..., Any]]:
    """The related-record functions bound to one record.

    ``looked_up`` may hold records the caller has already read (by id), so
    that ``lookup`` does not read them again.
    """

    def referencing(type_key: str, field: str) -> Any:
        return (
            select(func.count())
            .select_from(record_reference)
            .join(record, record.c.id == record_reference.c.source_id)
            .where(
                record_reference.c.target_id == (record_id or 0),
                record_reference.c.field_key == field,
                record.c.type_key == type_key,
            )
        )

    def count_referencing(type_key: str, field: str, states: Any = None) -> int:
        """How many records of ``type_key`` point at this one through ``field``."""
        statement = referencing(type_key, field)
        wanted = _states(states)
        if wanted is not None:
            statement = statement.where(record.c.state.in_(wanted))
        return int(conn.execute(statement).scalar_one())

    def all_referencing_in(type_key: str, field: str, states: Any) -> bool:
        """True when every record pointing here is in one of ``states`` (and one exists)."""
        wanted = _states(states) or []
        total: int = conn.execute(referencing(type_key, field)).scalar_one()
        outside: int = conn.execute(
            referencing(type_key, field).where(
                record.c.state.is_(None) | record.c.state.not_in(wanted)
            )
        ).scalar_one()
        return total > 0 and outside == 0

    looked_up = {} if looked_up is None else looked_up

    def lookup(record_ref: Any) -> dict[str, Any] | None:
        """Any record by id: its fields, id, state and number (None when there is none).

        Cached for the life of these functions (one check or one action), since
        copying a dozen values from one record would otherwise read it a dozen times.
        """
        if not isinstance(record_ref, int) or isinstance(record_ref, bool):
            return None
        if record_ref not in looked_up:
            looked_up[record_ref] = _read(record_ref)
        return looked_up[record_ref]

    def _read(record_ref: int) -> dict[str, Any] | None:
        row = conn.execute(select(*LOOKUP_COLUMNS).where(record.c.id == record_ref)).first()
        return None if row is None else record_facts(record_ref, row)

    def referenced(field: str) -> dict[str, Any] | None:
        """The record this one's reference ``field`` points at: its fields, state and number."""
        return lookup(data.get(field))

    def referencing_values(type_key: str, field: str, value: str) -> list[Any]:
        """The values of ``value`` (a field, or created_by/updated_by) of the records of
        ``type_key`` pointing here through ``field``, e.g. every analyst of a sample's results."""
        column = record.c[value] if value in ("created_by", "updated_by", "state") else None
        statement = (
            select(record.c.data, column if column is not None else record.c.id)
            .join(record_reference, record.c.id == record_reference.c.source_id)
            .where(
                record_reference.c.target_id == (record_id or 0),
                record_reference.c.field_key == field,
                record.c.type_key == type_key,
            )
        )
        rows = conn.execute(statement).all()
        found = [row[1] if column is not None else row.data.get(value) for row in rows]
        return [v for v in found if v is not None]

    return {
        "count_referencing": count_referencing,
        "all_referencing_in": all_referencing_in,
        "referenced": referenced,
        "lookup": lookup,
        "referencing_values": referencing_values,
    }
