"""Human-readable record numbers such as ``SMP-2026-00042``.

A pattern has date parts ({YYYY}, {YY}, {MM}, {DD}) and one counter ({#####}).
The counter is per *scope*, the pattern with its date parts filled in, so
``SMP-{YYYY}-{#####}`` restarts every year. Numbers come from one atomic
upsert (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``) per scope that the
database serialises on the counter row: concurrent creates never get the same
number, and a batch of records takes a consecutive block in one statement.

Where the counter is updated decides how long other creates of the scope
wait. On SQLite it is updated inside the create's transaction: SQLite has one
writer at a time anyway, and a create that fails gives its number back. On
PostgreSQL it is updated in an autocommit statement of its own
(``autonomous_engine``), so the row is locked for that one statement instead
of until the create commits, and creates of one type run side by side. The
price is that a number, once reserved, is never handed out again: a create
that fails after its checks passed (a unique value taken at the same moment,
a transition that fails after creating its results, a lost connection)
leaves a gap. Numbers stay unique and increasing, and every number in use has
its ``record.create`` event. Dry runs reserve inside their transaction, so a
preview never uses up numbers.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from labledger.db.engine import autonomous_engine
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
        .values(scope=bindparam("scope"), last_value=bindparam("count"))
        .on_conflict_do_update(
            index_elements=[number_counter.c.scope],
            set_={"last_value": number_counter.c.last_value + bindparam("count")},
        )
        .returning(number_counter.c.last_value)
    )


#: Built once: this runs for every record (or batch of records) created.
_UPSERT = {"postgresql": _upsert(pg_insert), "sqlite": _upsert(sqlite_insert)}


def _formatted(scope: str, value: int) -> str:
    width = len(_COUNTER.search(scope).group(1))  # type: ignore[union-attr]
    return _COUNTER.sub(str(value).zfill(width), scope)


def _reserve(conn: Connection, wanted: list[tuple[str, int]]) -> dict[str, int]:
    """The first of ``count`` new numbers for each (scope, count), in scope order.

    Counter rows are locked in scope order, so two batches never wait on each
    other in a circle.
    """
    upsert = _UPSERT[conn.dialect.name]
    first = {}
    for scope, count in wanted:
        last = conn.execute(upsert, {"scope": scope, "count": count}).scalar_one()
        first[scope] = last - count + 1
    return first


def reserve_numbers(conn: Connection, patterns: list[str], moment: datetime) -> list[str]:
    """The next number for each pattern at ``moment``, in order.

    Patterns that share a scope take consecutive numbers from one counter
    update, so a batch costs one statement per scope rather than per record.
    """
    scopes = [scope_of(pattern, moment) for pattern in patterns]
    wanted = sorted(Counter(scopes).items())
    autonomous = autonomous_engine(conn)
    if autonomous is None:
        next_value = _reserve(conn, wanted)
    else:
        with autonomous.connect() as own:
            next_value = _reserve(own, wanted)
    numbers = []
    for scope in scopes:
        numbers.append(_formatted(scope, next_value[scope]))
        next_value[scope] += 1
    return numbers
