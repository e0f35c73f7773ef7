"""Listing records: filters, text search, sorting and cursor paging.

A page is one query whatever the table size: filters use the expression
indexes of filterable fields (same SQL text as the index, type key as a
literal so the partial index matches), and paging is by keyset (the last
row's sort value and id, encoded in an opaque cursor), never by OFFSET.

A reference filter may name its target the way people quote it, by number
or by part of its title, instead of by id. That text is first turned into
the ids of the matching targets by one query that stops after
``MAX_REFERENCE_MATCHES`` rows; the list then filters by those ids through
the field's index, so a vague text is refused instead of making a page slow.

Only a person who may read the referenced type may name its records by
number or title: anyone else could otherwise learn, one filter at a time,
whether a record with a given number or title exists. Such a text is refused
with the same message whatever the data holds; an id still filters, as it
reveals nothing the list would not show anyway.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select, tuple_

from labledger.db.jsonfields import (
    BOOLEAN,
    NUL_MESSAGE,
    NUMBER,
    TEXT,
    field_column,
    nul_paths,
    type_key_literal,
)
from labledger.db.tables import record
from labledger.db.types import utc_now
from labledger.errors import FieldError, ValidationFailed
from labledger.identity.principal import Principal
from labledger.limits import INT64_MAX, check_json_depth
from labledger.metadata.fieldtypes import parse_filter_value, sql_kind
from labledger.metadata.model import TypeModel
from labledger.metadata.spec.fields import DateTimeField, ReferenceField
from labledger.metadata.types import type_model
from labledger.records.related import may_read
from labledger.records.service import record_view
from labledger.records.states import final_states

RANGE_OPERATORS = {"gte": "__ge__", "gt": "__gt__", "lte": "__le__", "lt": "__lt__"}
#: Sort kind of the timestamp columns (field values compare as TEXT, NUMBER or BOOLEAN).
TIMESTAMP = "timestamp"
COLUMN_SORTS = {"created_at": TIMESTAMP, "updated_at": TIMESTAMP, "number": TEXT}
DEFAULT_LIMIT = 50
#: How many records a reference filter's number or title may match (their ids are one IN list).
MAX_REFERENCE_MATCHES = 500
#: A reference filter's value that is an id (any other text is a number or part of a title).
_RECORD_ID = re.compile(r"^[0-9]+$")


@dataclass
class ListQuery:
    """What a list request asks for, before it is checked against the type."""

    filters: dict[str, str] = field(default_factory=dict)
    search: str | None = None
    sort: str = "-created_at"
    cursor: str | None = None
    limit: int = DEFAULT_LIMIT
    state: list[str] = field(default_factory=list)
    #: Only records past the type's due date and not in a final workflow state.
    overdue: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, str], reserved: tuple[str, ...] = ()) -> ListQuery:
        """Split query parameters into filters and paging options."""
        query = cls()
        for name, value in params.items():
            if name in reserved:
                continue
            if name == "q":
                query.search = value or None
            elif name == "sort":
                query.sort = value or query.sort
            elif name == "cursor":
                query.cursor = value or None
            elif name == "limit":
                query.limit = _parse_limit(value)
            elif name == "overdue":
                query.overdue = value.lower() in ("true", "1", "yes")
            elif name == "state":
                query.state = [s for s in value.split(",") if s]
            else:
                query.filters[name] = value
        return query


def _parse_limit(value: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        raise ValidationFailed(
            "Bad paging.", [FieldError("limit", "must be a whole number")]
        ) from None
    if limit < 1:
        raise ValidationFailed("Bad paging.", [FieldError("limit", "must be at least 1")])
    return limit


def _json_ready(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact: a float could reorder values that differ in late digits
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def encode_cursor(sort: str, value: Any, record_id: int) -> str:
    raw = json.dumps([sort, _json_ready(value), record_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _bad_cursor() -> ValidationFailed:
    return ValidationFailed(
        "Bad paging.", [FieldError("cursor", "is not a cursor of this list and sort order")]
    )


def decode_cursor(cursor: str, sort: str) -> tuple[Any, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.urlsafe_b64decode(padded)
        check_json_depth(raw, "cursor")
        cursor_sort, value, record_id = json.loads(raw)
        if cursor_sort != sort or not isinstance(record_id, int) or not 1 <= record_id <= INT64_MAX:
            raise ValueError
    except (ValueError, TypeError, ValidationFailed):
        raise _bad_cursor() from None
    return value, record_id


def list_conditions(
    conn: Connection, model: TypeModel, query: ListQuery, *, actor: Principal | None = None
) -> list[ColumnElement[bool]]:
    """The WHERE conditions of ``query`` over ``model``'s records, as ``list_records`` uses
    them (``ValidationFailed`` for bad filters): for counting what a list would show, so
    the count and the list can never disagree (a dashboard's overdue panel)."""
    builder = _Builder(conn, model, query, max_limit=1, actor=actor)
    conditions = builder.conditions()
    if builder.errors:
        raise ValidationFailed("The filters are not valid.", builder.errors)
    return conditions


class _Builder:
    def __init__(
        self,
        conn: Connection,
        model: TypeModel,
        query: ListQuery,
        max_limit: int,
        actor: Principal | None,
    ):
        self.conn = conn
        self.dialect = conn.dialect.name
        self.model = model
        self.query = query
        self.max_limit = max_limit
        self.actor = actor
        self.errors: list[FieldError] = []

    def filterable(self, key: str) -> bool:
        """Is ``key`` a filterable field (an error noted if not)?"""
        spec = self.model.field_specs.get(key)
        if spec is None or not spec.filterable:
            self.errors.append(
                FieldError(key, f"is not a filterable field of {self.model.spec.plural}")
            )
            return False
        return True

    def column(self, key: str) -> tuple[ColumnElement[object], str]:
        """The comparable SQL value of field ``key`` and its SQL kind (TEXT, NUMBER…)."""
        kind = sql_kind(self.model.field_specs[key])
        return field_column(self.dialect, key, kind), kind

    def conditions(self) -> list[ColumnElement[bool]]:
        result: list[ColumnElement[bool]] = [record.c.type_key == type_key_literal(self.model.key)]
        texts = {**self.query.filters, "q": self.query.search, "state": self.query.state}
        for name, raw in texts.items():
            if nul_paths(raw):
                self.errors.append(FieldError(name, NUL_MESSAGE))
        for name, raw in self.query.filters.items():
            if nul_paths(raw):
                continue  # refused above
            key, _, operator = name.partition("__")
            if not self.filterable(key):
                continue
            if operator and operator not in RANGE_OPERATORS:
                self.errors.append(FieldError(name, "use __gte, __gt, __lte or __lt for ranges"))
                continue
            spec = self.model.field_specs[key]
            text = raw.strip()
            named = bool(text) and _RECORD_ID.match(text) is None
            if isinstance(spec, ReferenceField) and not operator and named:
                result.append(self.reference_condition(name, key, spec.to, text))
                continue
            try:
                value = parse_filter_value(spec, raw)
            except ValueError as exc:
                self.errors.append(FieldError(name, str(exc)))
                continue
            column, _kind = self.column(key)
            method = RANGE_OPERATORS.get(operator, "__eq__")
            result.append(getattr(column, method)(value))
        if self.query.state:
            result.append(record.c.state.in_(self.query.state))
        if self.query.overdue:
            result.append(self.overdue_condition())
        if self.query.search:
            pattern = "%" + _escape_like(self.query.search.strip()) + "%"
            result.append(
                or_(
                    record.c.number.ilike(pattern, escape="\\"),
                    record.c.title.ilike(pattern, escape="\\"),
                )
            )
        return result

    def reference_condition(
        self, name: str, key: str, target_type: str, text: str
    ) -> ColumnElement[bool]:
        """Field ``key`` names one of the ``target_type`` records ``text`` matches.

        Readability is checked before any query, so the refusal is the same
        whether or not a record matches.
        """
        column, _kind = self.column(key)
        if self.actor is not None and not may_read(self.conn, self.actor, target_type):
            plural = type_model(self.conn, target_type).spec.plural
            self.errors.append(
                FieldError(
                    name, f"you may not search {plural} by number or title: give the record id"
                )
            )
            return column.in_([])
        ids = referenced_ids(self.conn, target_type, text)
        if ids is None:
            self.errors.append(
                FieldError(
                    name,
                    f"more than {MAX_REFERENCE_MATCHES} records match '{text}': "
                    "give the number or more of the title",
                )
            )
            ids = []
        return column.in_(ids)

    def overdue_condition(self) -> ColumnElement[bool]:
        due = self.model.spec.due_field
        if not due:
            self.errors.append(FieldError("overdue", f"{self.model.label} has no due date field"))
            return record.c.id.is_(None)
        now = utc_now()
        moment = isinstance(self.model.field_specs[due], DateTimeField)
        limit = now.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else now.date()
        column, _kind = self.column(due)
        condition = column < str(limit)
        finals = final_states(self.conn, self.model)
        return and_(condition, record.c.state.not_in(finals)) if finals else condition

    def sort_order(self) -> _SortOrder:
        descending = self.query.sort.startswith("-")
        key = self.query.sort.lstrip("-")
        if key in COLUMN_SORTS:
            return _SortOrder(record.c[key], descending, False, COLUMN_SORTS[key])
        if not self.filterable(key):
            return _SortOrder(record.c.created_at, descending, False, TIMESTAMP)
        column, kind = self.column(key)
        return _SortOrder(column, descending, True, kind)


@dataclass(frozen=True)
class _SortOrder:
    column: ColumnElement[Any]
    descending: bool
    #: Field values can be missing (NULL); the record's own columns never are.
    field_sort: bool
    #: How the sort value compares: TIMESTAMP, TEXT, NUMBER or BOOLEAN.
    kind: str

    def order_by(self) -> list[ColumnElement[Any]]:
        order: list[ColumnElement[Any]]
        if self.descending:
            order = [self.column.desc(), record.c.id.desc()]
        else:
            order = [self.column.asc(), record.c.id.asc()]
        return [self.column.is_(None), *order] if self.field_sort else order

    def after(self, value: Any, last_id: int) -> ColumnElement[bool]:
        """Rows after (value, last_id) in this order; rows without a value come last."""
        column = self.column
        id_beyond = record.c.id < last_id if self.descending else record.c.id > last_id
        if value is None and self.field_sort:
            return and_(column.is_(None), id_beyond)
        pair, bound = tuple_(column, record.c.id), tuple_(self.cursor_value(value), last_id)
        beyond = pair < bound if self.descending else pair > bound
        return or_(beyond, column.is_(None)) if self.field_sort else beyond

    def cursor_value(self, value: Any) -> Any:
        """A cursor's sort value as SQL compares it; ValueError when a cursor was tampered with.

        Checked here so that a forged cursor is a bad request, never a database error.
        """
        if isinstance(value, bool) != (self.kind == BOOLEAN):
            raise ValueError(f"{value!r} is not a {self.kind} sort value")
        if self.kind == TIMESTAMP and isinstance(value, str):
            return datetime.fromisoformat(value)
        if self.kind == NUMBER and isinstance(value, int | float | str):
            try:
                number = Decimal(str(value))
            except ArithmeticError:
                raise ValueError(f"{value!r} is not a number") from None
            if number.is_finite():
                return number
        if self.kind == BOOLEAN or (self.kind == TEXT and isinstance(value, str)):
            return value
        raise ValueError(f"{value!r} is not a {self.kind} sort value")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def referenced_ids(
    conn: Connection, type_key: str, text: str, cap: int = MAX_REFERENCE_MATCHES
) -> list[int] | None:
    """Ids of the ``type_key`` records ``text`` names, None when more than ``cap`` match.

    The record numbered ``text`` (in any case) if there is one, else the records
    whose title contains it: titles often begin with their own number, so a
    number must not also bring in every record whose title merely mentions it.
    """
    numbered = func.lower(record.c.number) == func.lower(text)
    titled = record.c.title.ilike("%" + _escape_like(text) + "%", escape="\\")
    rows = conn.execute(
        select(record.c.id, numbered.label("numbered"))
        .where(record.c.type_key == type_key, or_(numbered, titled))
        .limit(cap + 1)
    ).all()
    exact = [row.id for row in rows if row.numbered]
    if not exact and len(rows) > cap:  # the numbered one may lie beyond the rows read
        exact = list(
            conn.execute(
                select(record.c.id).where(record.c.type_key == type_key, numbered).limit(cap)
            ).scalars()
        )
    if exact:
        return exact
    return None if len(rows) > cap else [row.id for row in rows]


def list_records(
    conn: Connection,
    model: TypeModel,
    query: ListQuery,
    *,
    actor: Principal | None = None,
    max_limit: int = 500,
) -> dict[str, Any]:
    """One page of records: ``{"items": [...], "next": cursor or None}``.

    Sorting on a field puts records without a value last in either direction.
    ``actor`` is the person the list is for: a reference filter names records
    by number or title only for a person who may read their type. The caller
    has checked that ``actor`` may read ``model``'s type. None is the platform
    acting for no person (a background job, a test of the service), which
    reads every type; every request made for a person passes that person.
    """
    builder = _Builder(conn, model, query, max_limit, actor)
    conditions = builder.conditions()
    order = builder.sort_order()
    if query.limit > max_limit:
        builder.errors.append(FieldError("limit", f"must be at most {max_limit}"))
    if builder.errors:
        raise ValidationFailed("The list request is not valid.", builder.errors)
    if query.cursor:
        value, last_id = decode_cursor(query.cursor, query.sort)
        try:
            conditions.append(order.after(value, last_id))
        except ValueError:
            raise _bad_cursor() from None
    statement = (
        select(record, order.column.label("_sort"))
        .where(and_(*conditions))
        .order_by(*order.order_by())
    )
    rows = conn.execute(statement.limit(query.limit + 1)).mappings().all()
    items = [record_view(r) for r in rows[: query.limit]]
    next_cursor = None
    if len(rows) > query.limit:
        last = rows[query.limit - 1]
        next_cursor = encode_cursor(query.sort, last["_sort"], last["id"])
    return {"items": items, "next": next_cursor}
