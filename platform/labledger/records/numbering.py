"""Human-readable record numbers such as ``SMP-2026-00042``.

A pattern has date parts ({YYYY}, {YY}, {MM}, {DD}) and one counter ({#####}).
The counter is per *scope*, the pattern with its date parts filled in, so
``SMP-{YYYY}-{#####}`` restarts every year. Each number comes from one atomic
upsert (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``) that the database
serialises on the counter row: concurrent creates never get the same number.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from labledger.db.tables import number_counter

_COUNTER = re.compile(r"\{(#+)\}")
_DATE_PARTS = {"{YYYY}": "%Y", "{YY}": "%y", "{MM}": "%m", "{DD}": "%d"}


def scope_of(pattern: str, moment: datetime) -> str:
    for token, fmt in _DATE_PARTS.items():
        pattern = pattern.replace(token, moment.strftime(fmt))
    return pattern


def _upsert(insert: Callable[[Table], Any]) -> Any:
    return (
        insert(number_counter)
        .values(scope=bindparam("scope"), last_value=1)
        .on_conflict_do_update(
            index_elements=[number_counter.c.scope],
            set_={"last_value": number_counter.c.last_value + 1},
        )
        .returning(number_counter.c.last_value)
    )


#: Built once: this runs for every record created.
_UPSERT = {"postgresql": _upsert(pg_insert), "sqlite": _upsert(sqlite_insert)}


def next_number(conn: Connection, pattern: str, moment: datetime) -> str:
    """Reserve and return the next number for ``pattern`` at ``moment``."""
    scope = scope_of(pattern, moment)
    value = conn.execute(_UPSERT[conn.dialect.name], {"scope": scope}).scalar_one()
    width = len(_COUNTER.search(scope).group(1))  # type: ignore[union-attr]
    return _COUNTER.sub(str(value).zfill(width), scope)
