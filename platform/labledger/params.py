"""Bounded integer parameters for every handler, JSON API and HTML pages alike.

Python integers have no size, database columns do: an id beyond 64 bits in a
path or query string would reach the database and fail there with an
overflow. Every integer path and query parameter is declared with one of
these types, so Litestar refuses an out-of-range value as a bad request
(400, naming the parameter) before the handler runs, and the OpenAPI
document states the range. ``tests/test_hostile_input.py`` checks that no
handler declares an unbounded integer.
"""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

from labledger.limits import INT32_MAX, INT64_MAX

#: The id of a row (record, attachment, import, ...), in a path or query.
RowId = Annotated[int, Parameter(ge=1, le=INT64_MAX)]
#: An optional row id in a query string (a filter such as ``?record_id=``).
OptionalRowId = Annotated[int | None, Parameter(ge=1, le=INT64_MAX)]
#: The ``before`` cursor of a newest-first page: the ``next`` of the previous page.
BeforeCursor = Annotated[
    int | None, Parameter(ge=1, le=INT64_MAX, description="'next' of the previous page")
]
#: A configuration version (``?version=3``).
OptionalVersion = Annotated[int | None, Parameter(ge=1, le=INT32_MAX)]
#: A count in a query string: a page size or positions to skip; services check the
#: sensible range and say it.
Count = Annotated[int, Parameter(ge=0, le=INT32_MAX)]
#: An optional count in a query string.
OptionalCount = Annotated[int | None, Parameter(ge=0, le=INT32_MAX)]
