"""Finding a record by its human number.

Numbers are unique across all types, so a number alone names one record;
people quote numbers (``CAL-2026-00042``), while the audit trail and the
reference index key records by id.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from labledger.db.tables import record


def record_id_by_number(conn: Connection, number: str) -> int | None:
    """The id of the record numbered ``number``, or None when there is none."""
    return conn.execute(select(record.c.id).where(record.c.number == number)).scalar()
