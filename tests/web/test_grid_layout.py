"""Grid entry made for data entry: the type's grid layout (context and columns), no input
where a row cannot use one, answers offered as a select, references as a search box."""

from __future__ import annotations

import re
from typing import Any

import pytest

from labledger.errors import ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.metadata.types import definition_context, publish_type
from labledger.records.service import get_record
from tests.conftest import TEST_PASSWORD
from tests.web.helpers import csrf_token, sign_in
from tests.web.record_fixtures import create, make_lab, result_type


@pytest.fixture
def lab(db, make_person):
    return make_lab(db, make_person)


def _result_type(**overrides: Any) -> dict[str, Any]:
    """Results that are numbers or answers from a list, with an instrument."""
    definition = result_type(**overrides)
    definition["fields"] += [
        {
            "key": "kind",
            "label": "Kind",
            "type": "choice",
            "read_only": True,
            "options": [
                {"value": "number", "label": "Number"},
                {"value": "answer", "label": "Answer"},
            ],
        },
        {"key": "answers", "label": "Answers", "type": "text", "read_only": True},
        {
            "key": "answer",
            "label": "Answer",
            "type": "text",
            "visible_if": "kind == 'answer'",
            "options_from": "answers",
        },
        {"key": "instrument", "label": "Instrument", "type": "reference", "to": "lot"},
    ]
    value = next(f for f in definition["fields"] if f["key"] == "value")
    value["visible_if"] = "kind != 'answer'"
    return definition


def _publish(db, definition: dict[str, Any]) -> None:
    with db.write() as conn:
        publish_type(conn, SYSTEM, definition, context=definition_context(conn, "result"))


def _header(html: str) -> list[str]:
    head = html[html.index("<thead>") : html.index("</thead>")]
    return [
        " ".join(re.sub(r"<[^>]+>", " ", h).split())
        for h in re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)
    ]


def test_the_types_grid_layout_orders_the_columns_with_context_first(client, db, lab):
    _publish(
        db,
        _result_type(
            grid={"context": ["test"], "columns": ["value", "low", "high", "out_of_spec"]}
        ),
    )
    lot = create(db, lab.analyst, "lot", {"code": "L-1"})
    row = create(db, lab.analyst, "result", {"lot": lot["id"], "test": "pH", "kind": "number"})
    sign_in(client, "ann", TEST_PASSWORD)
    html = client.get("/records/result/grid", params={"parent": lot["id"], "via": "lot"}).text
    assert _header(html) == [
        "",  # the selection box
        "Number",
        "Test",
        "State",
        "Value (mg/L)",
        "Low limit",
        "High limit",
        "Out of specification",
        "Saved",
    ]
    assert '<td class="context sticky-col">pH</td>' in html, "context is shown, not typed"
    assert f'id="c-{row["id"]}-value"' in html
    assert f'id="c-{row["id"]}-test"' not in html


def test_a_row_offers_only_the_inputs_it_can_use(client, db, lab):
    _publish(db, _result_type())
    lot = create(db, lab.analyst, "lot", {"code": "L-2"})
    number = create(db, lab.analyst, "result", {"lot": lot["id"], "test": "pH", "kind": "number"})
    answer = create(
        db,
        lab.analyst,
        "result",
        {"lot": lot["id"], "test": "Appearance", "kind": "answer", "answers": "Clear|Cloudy"},
    )
    sign_in(client, "ann", TEST_PASSWORD)
    html = client.get("/records/result/grid", params={"parent": lot["id"], "via": "lot"}).text
    assert f'id="c-{number["id"]}-value"' in html and f'id="c-{number["id"]}-answer"' not in html
    assert f'id="c-{answer["id"]}-answer"' in html and f'id="c-{answer["id"]}-value"' not in html
    offered = html[html.index(f'id="c-{answer["id"]}-answer"') :]
    offered = offered[: offered.index("</select>")]
    assert re.findall(r'<option value="([^"]*)"', offered) == ["", "Clear", "Cloudy"]
    assert 'id="c-{}-explanation"'.format(number["id"]) in html, (
        "an input whose condition may come true as the row is typed keeps its cell"
    )


def test_a_reference_cell_is_a_search_box(client, db, lab):
    _publish(db, _result_type())
    lot = create(db, lab.analyst, "lot", {"code": "L-3", "product": "Aspirin"})
    create(db, lab.analyst, "result", {"lot": lot["id"], "test": "pH", "kind": "number"})
    sign_in(client, "ann", TEST_PASSWORD)
    html = client.get("/records/result/grid", params={"parent": lot["id"], "via": "lot"}).text
    assert 'list="dl-instrument"' in html and '<datalist id="dl-instrument"></datalist>' in html
    found = client.get(
        "/records/lot/choices", params={"field": "instrument", "instrument": "l-3 asp"}
    )
    assert f'<option value="{lot["number"]}">' in found.text, "found by the start of its title"


def test_a_grid_layout_names_fields_of_the_type_once(db, lab):
    definition = _result_type(grid={"context": ["test"], "columns": ["test", "valeu"]})
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        publish_type(conn, SYSTEM, definition, context=definition_context(conn, "result"))
    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("grid.columns[1]", "there is no field 'valeu'"),
        ("grid.columns[0]", "'test' is a context column already"),
    ]


def test_answers_come_only_from_another_text_field(db, lab):
    definition = _result_type()
    answer = next(f for f in definition["fields"] if f["key"] == "answer")
    answer["options_from"] = "kind"
    with pytest.raises(ValidationFailed) as refused, db.write() as conn:
        publish_type(conn, SYSTEM, definition, context=definition_context(conn, "result"))
    assert [e.message for e in refused.value.errors] == ["'kind' is not another text field"]


def test_a_reference_typed_as_the_start_of_one_records_title_is_that_record(client, db, lab):
    _publish(db, _result_type())
    lot = create(db, lab.analyst, "lot", {"code": "L-4", "product": "Aspirin"})
    create(db, lab.analyst, "lot", {"code": "L-5", "product": "Aspirin"})
    row = create(db, lab.analyst, "result", {"lot": lot["id"], "test": "pH", "kind": "number"})
    sign_in(client, "ann", TEST_PASSWORD)
    path = f"/records/result/grid/{row['id']}"
    token = csrf_token(client, f"/records/result/grid?parent={lot['id']}&via=lot")
    headers = {"HX-Request": "true", "x-csrftoken": token}

    def save(typed: str, version: int):
        form = {"version": str(version), "test": "pH", "low": "1", "high": "5", "instrument": typed}
        return client.post(path, params={"via": "lot"}, data=form, headers=headers)

    ambiguous = save("l-", 1)
    assert ambiguous.status_code == 422, "two lots start so: nothing is guessed"
    saved = save("L-4 asp", 1)
    assert saved.status_code == 200, saved.text
    with db.read() as conn:
        stored = get_record(conn, lab.analyst.principal, "result", row["id"])["data"]
    assert stored["instrument"] == lot["id"]


def test_grid_rows_can_be_selected_for_a_step_on_many(client, db, lab):
    lot = create(db, lab.analyst, "lot", {"code": "L-6"})
    row = create(db, lab.analyst, "result", {"lot": lot["id"], "test": "pH"})
    sign_in(client, "ann", TEST_PASSWORD)
    html = client.get("/records/result/grid", params={"parent": lot["id"]}).text
    assert f'name="id" value="{row["id"]}" form="grid-steps"' in html
    assert 'formaction="/records/result/transitions/enter">Enter</button>' in html
    assert "transitions/review" not in html, "only the person's steps"
