"""Lists: filters, text search, sorting, cursor paging, and a constant query count."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from labledger.errors import ValidationFailed
from labledger.identity.token_cache import forget_identities
from labledger.metadata.types import type_model
from labledger.records.query import ListQuery, list_records
from labledger.records.service import create_record
from tests.definitions import acting, add_roles, batch_type, measurement_type

ANALYST = acting("ann", "analyst")

#: (code, product, quantity, made_on): repeated and missing values on purpose.
BATCHES = [
    ("B-01", "Aspirin 50%", 10, "2026-01-05"),
    ("B-02", "Aspirin 50x", 20, None),
    ("B-03", "Ibuprofen", None, "2026-01-01"),
    ("B-04", "Ibu_profen", 10, "2026-02-01"),
    ("B-05", "Ibuxprofen", 30, "2026-01-05"),
    ("B-06", "Paracetamol", None, None),
    ("B-07", None, 20, "2025-12-31"),
    ("B-08", "Paracetamol", 5, "2026-03-01"),
    ("B-09", "Aspirin", 10, None),
    ("B-10", "Codeine", 0, "2026-01-20"),
    ("B-11", "Back\\slash", None, "2026-01-20"),
]


@pytest.fixture
def batches(db, publish) -> list[dict[str, Any]]:
    add_roles(db, "analyst", "reviewer")
    publish(batch_type())
    created = []
    with db.write() as conn:
        for code, product, quantity, made_on in BATCHES:
            data = {"code": code, "product": product, "quantity": quantity, "made_on": made_on}
            data = {k: v for k, v in data.items() if v is not None}
            created.append(create_record(conn, ANALYST, "batch", data))
    return created


def page(db, type_key: str = "batch", **query: Any) -> dict[str, Any]:
    with db.read() as conn:
        return list_records(conn, type_model(conn, type_key), ListQuery(**query))


def codes(db, **query: Any) -> list[str]:
    return [r["data"]["code"] for r in page(db, limit=100, **query)["items"]]


def test_equality_and_range_filters_on_numbers_and_dates(db, batches):
    assert codes(db, filters={"quantity": "10"}, sort="number") == ["B-01", "B-04", "B-09"]
    assert codes(db, filters={"quantity__gte": "20"}, sort="number") == ["B-02", "B-05", "B-07"]
    assert codes(db, filters={"quantity__gt": "5", "quantity__lt": "20"}, sort="number") == [
        "B-01",
        "B-04",
        "B-09",
    ]
    assert codes(db, filters={"quantity__lte": "0"}) == ["B-10"]
    assert codes(db, filters={"made_on": "2026-01-05"}, sort="number") == ["B-01", "B-05"]
    assert codes(
        db, filters={"made_on__gte": "2026-01-05", "made_on__lt": "2026-02-02"}, sort="number"
    ) == ["B-01", "B-04", "B-05", "B-10", "B-11"]
    assert codes(db, filters={"made_on__lt": "2026-01-01"}) == ["B-07"]
    assert codes(db, filters={"product": "Paracetamol"}, sort="number") == ["B-06", "B-08"]
    assert codes(db, filters={"code": "B-03"}) == ["B-03"]


def test_filters_on_decimals_booleans_choices_and_references(db, batches, publish):
    publish(measurement_type())
    with db.write() as conn:
        for value, method, batch in ((0.5, "hplc", 0), (2.25, "gc", 0), (9.75, "gc", 1)):
            data = {"name": "m", "value": value, "method": method, "batch": batches[batch]["id"]}
            if not 1 <= value <= 5:
                data["comment"] = "out of limits"
            create_record(conn, acting("ann", "analyst"), "measurement", data)

    def values(**filters: str) -> list[float]:
        items = page(db, "measurement", filters=filters, sort="value", limit=10)["items"]
        return [r["data"]["value"] for r in items]

    assert values(value__gte="2.25") == [2.25, 9.75]
    assert values(value="0.5") == [0.5]
    assert values(out_of_limits="true") == [0.5, 9.75]
    assert values(out_of_limits="no") == [2.25]
    assert values(method="gc") == [2.25, 9.75]
    assert values(batch=str(batches[0]["id"])) == [0.5, 2.25]


def test_search_looks_in_number_and_title_with_wildcards_taken_literally(db, batches):
    assert codes(db, search="50%") == ["B-01"]
    assert codes(db, search="ibu_p", sort="number") == ["B-04"]
    assert codes(db, search="back\\s") == ["B-11"]
    assert codes(db, search="aspirin", sort="number") == ["B-01", "B-02", "B-09"]
    number = batches[6]["number"]
    assert codes(db, search=number) == ["B-07"]
    assert codes(db, search="%") == ["B-01"]


def _expected(batches: list[dict[str, Any]], sort: str) -> list[int]:
    """The order a sort must give: by value then id, records without a value last."""
    descending = sort.startswith("-")
    key = sort.lstrip("-")

    def value(item: dict[str, Any]) -> Any:
        return item[key] if key in ("number", "created_at") else item["data"].get(key)

    present = sorted(
        (b for b in batches if value(b) is not None),
        key=lambda b: (value(b), b["id"]),
        reverse=descending,
    )
    missing = sorted(
        (b for b in batches if value(b) is None), key=lambda b: b["id"], reverse=descending
    )
    return [b["id"] for b in present + missing]


SORTS = [
    "created_at",
    "-created_at",
    "number",
    "-number",
    "quantity",
    "-quantity",
    "made_on",
    "-made_on",
    "product",
    "-product",
]


def test_sorting_and_cursor_paging_visit_every_record_once(db, batches):
    for sort in SORTS:
        seen: list[int] = []
        cursor = None
        pages = 0
        while True:
            result = page(db, sort=sort, limit=4, cursor=cursor)
            seen.extend(r["id"] for r in result["items"])
            pages += 1
            cursor = result["next"]
            if cursor is None:
                break
        assert seen == _expected(batches, sort), sort
        assert pages == 3, sort
    assert page(db, limit=11)["next"] is None


def test_filtered_paging_keeps_the_filter(db, batches):
    first = page(db, filters={"quantity__gte": "10"}, sort="quantity", limit=2)
    second = page(
        db, filters={"quantity__gte": "10"}, sort="quantity", limit=2, cursor=first["next"]
    )
    third = page(
        db, filters={"quantity__gte": "10"}, sort="quantity", limit=2, cursor=second["next"]
    )
    walked = [r["data"]["code"] for p in (first, second, third) for r in p["items"]]
    assert walked == ["B-01", "B-04", "B-09", "B-02", "B-07", "B-05"]
    assert third["next"] is None


def test_bad_list_requests_are_refused_with_field_errors(db, batches, client, admin):
    other_sort = page(db, sort="number", limit=2)["next"]
    cases = {
        "cursor=garbage!": "cursor",
        f"cursor={other_sort}": "cursor",
        "cursor=WyJudW1iZXIiLDEsMl0": "cursor",
        "sort=-created_at&cursor=WyItY3JlYXRlZF9hdCIsNSw3XQ": "cursor",
        "sort=quantity&cursor=WyJxdWFudGl0eSIsImFiYyIsN10": "cursor",
        "colour=red": "colour",
        "code__like=B": "code__like",
        "quantity=ten": "quantity",
        "made_on__gte=2026-02-30": "made_on__gte",
        "sort=title": "title",
        "limit=0": "limit",
        "limit=many": "limit",
        "limit=501": "limit",
        "product=a%00b": "product",
        "q=%00": "q",
        "state=open%00": "state",
    }
    for params, field in cases.items():
        response = client.get(f"/api/v1/records/batch?{params}", headers=admin.headers)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in [e["field"] for e in response.json()["errors"]], (params, response.json())
    with pytest.raises(ValidationFailed) as refused:
        page(db, filters={"notes": "x", "quantity": "x"})
    assert {e.field for e in refused.value.errors} == {"notes", "quantity"}


def test_a_list_page_costs_the_same_queries_at_10_and_200_records(db, publish, client, admin):
    add_roles(db, "analyst")
    publish(batch_type())
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    def queries_for_one_page(total: int) -> int:
        with db.write() as conn:
            for n in range(total - counts_so_far[0]):
                data = {"code": f"C-{total}-{n}", "product": "P", "quantity": n % 7}
                create_record(conn, ANALYST, "batch", data)
        counts_so_far[0] = total
        statements.clear()
        forget_identities()  # both pages look the token up: the same work but for the list
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            response = client.get(
                "/api/v1/records/batch?product=P&quantity__gte=1&limit=5", headers=admin.headers
            )
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        assert response.status_code == 200 and len(response.json()["items"]) == 5
        assert response.json()["next"]
        return len(statements)

    counts_so_far = [0]
    # The token's first use is written once (its last use, for access reviews): not the
    # list's work, and throttled for minutes after, so it is done before counting.
    assert client.get("/api/v1/types", headers=admin.headers).status_code == 200
    at_10 = queries_for_one_page(10)
    at_200 = queries_for_one_page(200)
    assert at_10 == at_200
    assert at_10 <= 8, statements
