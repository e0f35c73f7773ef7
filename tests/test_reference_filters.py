"""Reference filters name their target as people quote it: by id, by number or by title.

The same rules hold for the service, the JSON API and the list page, on both
databases: digits are an id; other text is the target's number (any case) or,
failing that, part of its title; text matching more than 500 targets is
refused instead of filtering by an unbounded list. A person who may not
read the target type names it by id only: any other text is refused with the
same error whatever exists, so a filter cannot tell them what the target holds.
"""

from __future__ import annotations

from typing import Any

import pytest

from labledger.errors import FieldError, ValidationFailed
from labledger.identity.principal import Principal
from labledger.metadata.types import type_model
from labledger.records.query import MAX_REFERENCE_MATCHES, ListQuery, list_records
from labledger.records.service import RecordBatch
from tests.conftest import TEST_PASSWORD, Person
from tests.test_api import problem
from tests.web.helpers import sign_in
from tests.web.record_fixtures import Lab, create, lot_type, make_lab


@pytest.fixture
def lab(db, make_person):
    return make_lab(db, make_person)


@pytest.fixture
def lots(db, lab) -> list[dict[str, Any]]:
    """Three lots and a result for each; the third lot's code holds the first's number."""
    made = [
        create(db, lab.analyst, "lot", {"code": "A-1", "product": "Aspirin"}),
        create(db, lab.analyst, "lot", {"code": "I-1", "product": "Ibuprofen"}),
    ]
    made.append(
        create(db, lab.analyst, "lot", {"code": f"{made[0]['number']}-B", "product": "Aspirin"})
    )
    for lot in made:
        create(db, lab.analyst, "result", {"lot": lot["id"], "test": f"pH of {lot['number']}"})
    return made


def _tests_of(db, **filters: str) -> list[str]:
    with db.read() as conn:
        found = list_records(
            conn, type_model(conn, "result"), ListQuery(filters=filters, sort="number")
        )
    return [item["data"]["test"] for item in found["items"]]


def _many_lots(db, lab, count: int, product: str) -> list[dict[str, Any]]:
    with db.write() as conn:
        batch = RecordBatch(conn, lab.analyst.principal, "lot")
        for i in range(count):
            batch.add({"code": f"M-{i}", "product": product})
        return batch.store()


def test_a_number_names_its_record_in_any_case(db, lots):
    first = lots[0]["number"]
    assert _tests_of(db, lot=first) == [f"pH of {first}"]
    assert _tests_of(db, lot=f"  {first.lower()} ") == [f"pH of {first}"]
    assert _tests_of(db, lot=lots[1]["number"]) == [f"pH of {lots[1]['number']}"]


def test_other_text_is_part_of_a_title_in_any_case(db, lots):
    numbers = [lot["number"] for lot in lots]
    assert _tests_of(db, lot="aspir") == [f"pH of {numbers[0]}", f"pH of {numbers[2]}"]
    assert _tests_of(db, lot="I-1 IBU") == [f"pH of {numbers[1]}"]
    assert _tests_of(db, lot="-B asp") == [f"pH of {numbers[2]}"], "the code in the third title"
    assert _tests_of(db, lot="Paracetamol") == []
    assert _tests_of(db, lot="%") == [], "wildcards are taken literally"


def test_digits_are_an_id_as_before(db, lots):
    assert _tests_of(db, lot=str(lots[1]["id"])) == [f"pH of {lots[1]['number']}"]
    assert _tests_of(db, lot="999999") == []
    assert _tests_of(db, lot__gte=str(lots[1]["id"])) == [
        f"pH of {lots[1]['number']}",
        f"pH of {lots[2]['number']}",
    ]


def test_only_records_of_the_referenced_type_match(db, lots):
    assert _tests_of(db, lot="pH of") == [], "results' titles hold it, no lot's does"


def test_a_vague_text_is_refused_and_a_number_still_found(client, db, lab):
    lots = _many_lots(db, lab, MAX_REFERENCE_MATCHES + 2, "copy of LOT-0502")
    assert lots[-1]["number"] == "LOT-0502", "every title holds the number of the last lot"
    create(db, lab.analyst, "result", {"lot": lots[-1]["id"], "test": "last"})
    create(db, lab.analyst, "result", {"lot": lots[0]["id"], "test": "first"})

    assert _tests_of(db, lot="lot-0502") == ["last"], "the number wins over 500 titles"
    body = problem(client.get("/api/v1/records/result?lot=copy", headers=lab.analyst.headers), 422)
    assert body["errors"] == [
        {
            "field": "lot",
            "message": "more than 500 records match 'copy': give the number or more of the title",
        }
    ]
    found = client.get("/api/v1/records/result?lot=LOT-0502", headers=lab.analyst.headers)
    assert [item["data"]["test"] for item in found.json()["items"]] == ["last"]

    sign_in(client, "ann", TEST_PASSWORD)
    page = client.get("/records/result", params={"lot": "copy"})
    assert page.status_code == 422
    assert "<code>lot</code>: more than 500 records match" in page.text


def test_the_api_takes_an_id_a_number_or_a_title(client, db, lab, lots):
    def tests(value: str) -> list[str]:
        response = client.get(
            "/api/v1/records/result",
            params={"lot": value, "sort": "number"},
            headers=lab.analyst.headers,
        )
        assert response.status_code == 200, response.text
        return [item["data"]["test"] for item in response.json()["items"]]

    numbers = [lot["number"] for lot in lots]
    assert tests(str(lots[1]["id"])) == [f"pH of {numbers[1]}"]
    assert tests(numbers[0].lower()) == [f"pH of {numbers[0]}"]
    assert tests("ibuprofen") == [f"pH of {numbers[1]}"]
    body = problem(
        client.get("/api/v1/records/result?lot__gte=aspirin", headers=lab.analyst.headers), 422
    )
    assert body["errors"] == [{"field": "lot__gte", "message": "'aspirin' is not a number"}]


def test_the_list_page_filters_by_number_or_title(client, db, lab, lots):
    sign_in(client, "ann", TEST_PASSWORD)
    page = client.get("/records/result")
    assert "(record id)" not in page.text
    assert 'name="lot" value="" autocomplete="off" placeholder="number or title"' in page.text
    by_title = client.get("/records/result", params={"lot": "ibuprofen"})
    assert by_title.status_code == 200
    assert f"pH of {lots[1]['number']}" in by_title.text
    assert f"pH of {lots[0]['number']}" not in by_title.text
    by_number = client.get("/records/result", params={"lot": lots[0]["number"].lower()})
    assert f"pH of {lots[0]['number']}" in by_number.text
    assert f"pH of {lots[2]['number']}" not in by_number.text


#: What a person who may not read lots is told for any number or title of a lot.
NOT_READABLE = "you may not search Lots by number or title: give the record id"


@pytest.fixture
def guarded(db, make_person) -> tuple[Lab, Person, list[dict[str, Any]]]:
    """Lots only analysts and QA may read, two lots with a result each, and a
    person who may read results but not lots."""
    lot = lot_type(permissions={"read": ["analyst", "qa"], "create": ["analyst"]})
    people = make_lab(db, make_person, lot=lot)
    reader = make_person("val", "viewer")
    made = [
        create(db, people.analyst, "lot", {"code": "A-1", "product": "Aspirin"}),
        create(db, people.analyst, "lot", {"code": "I-1", "product": "Ibuprofen"}),
    ]
    for made_lot, test in zip(made, ("assay-one", "assay-two"), strict=True):
        create(db, people.analyst, "result", {"lot": made_lot["id"], "test": test})
    return people, reader, made


def _refusal(db, actor: Principal, value: str) -> list[FieldError]:
    with db.read() as conn, pytest.raises(ValidationFailed) as refused:
        list_records(
            conn, type_model(conn, "result"), ListQuery(filters={"lot": value}), actor=actor
        )
    return refused.value.errors


def _texts_of_lots(lots: list[dict[str, Any]]) -> list[str]:
    """Numbers and titles that name a lot, and ones that name none: all must look alike."""
    return [lots[0]["number"], lots[0]["number"].lower(), "aspirin", "LOT-9999", "paracetamol"]


def test_a_person_who_may_not_read_the_target_names_it_by_id_only(db, guarded):
    people, reader, lots = guarded
    for text in _texts_of_lots(lots):
        assert _refusal(db, reader.principal, text) == [FieldError("lot", NOT_READABLE)], text
    with db.read() as conn:
        model = type_model(conn, "result")
        by_id = list_records(
            conn, model, ListQuery(filters={"lot": str(lots[1]["id"])}), actor=reader.principal
        )
        by_title = list_records(
            conn, model, ListQuery(filters={"lot": "aspirin"}), actor=people.analyst.principal
        )
    assert [item["data"]["test"] for item in by_id["items"]] == ["assay-two"]
    assert [item["data"]["test"] for item in by_title["items"]] == ["assay-one"], "a reader of lots"
    assert _tests_of(db, lot="ibuprofen") == ["assay-two"], "the platform itself reads every type"


def test_the_api_refuses_the_same_way_whether_or_not_a_lot_matches(client, db, guarded):
    _people, reader, lots = guarded
    bodies = []
    for text in _texts_of_lots(lots):
        response = client.get(
            "/api/v1/records/result", params={"lot": text}, headers=reader.headers
        )
        body = problem(response, 422)
        assert body["errors"] == [{"field": "lot", "message": NOT_READABLE}], text
        bodies.append(body)
    assert all(body == bodies[0] for body in bodies), "nothing in the answer depends on the data"
    found = client.get(
        "/api/v1/records/result", params={"lot": str(lots[0]["id"])}, headers=reader.headers
    )
    assert found.status_code == 200, found.text
    assert [item["data"]["test"] for item in found.json()["items"]] == ["assay-one"]


def test_the_list_page_and_export_refuse_the_same_way_whether_or_not_a_lot_matches(
    client, db, guarded
):
    _people, _reader, lots = guarded
    sign_in(client, "val", TEST_PASSWORD)
    for text in _texts_of_lots(lots):
        page = client.get("/records/result", params={"lot": text})
        assert page.status_code == 422, text
        assert f"<code>lot</code>: {NOT_READABLE}" in page.text
        assert "assay-one" not in page.text and "assay-two" not in page.text
        export = client.get("/records/result/export.csv", params={"lot": text})
        assert export.status_code == 422 and NOT_READABLE in export.text, text
    by_id = client.get("/records/result", params={"lot": str(lots[1]["id"])})
    assert by_id.status_code == 200
    assert "assay-two" in by_id.text and "assay-one" not in by_id.text
    export = client.get("/records/result/export.csv", params={"lot": str(lots[1]["id"])})
    assert "assay-two" in export.text and "assay-one" not in export.text


def test_a_step_on_all_matching_refuses_the_same_way(client, db, guarded):
    _people, _reader, lots = guarded
    sign_in(client, "val", TEST_PASSWORD)
    for text in _texts_of_lots(lots):
        page = client.get("/records/result/transitions/enter", params={"all": "1", "lot": text})
        assert page.status_code == 422, text
        assert NOT_READABLE in page.text
        assert "assay-one" not in page.text and "assay-two" not in page.text
