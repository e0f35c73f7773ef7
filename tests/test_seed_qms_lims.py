"""The link between the LIMS and QMS configurations (seeds/qms-lims): an
out-of-specification result is investigated, and the investigation raises a
deviation that points back at it. QMS alone never needs it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from labledger.audit.verify import verify
from labledger.db.tables import record_reference
from labledger.errors import ValidationFailed
from tests.conftest import Person
from tests.test_bundles import snapshot
from tests.test_seed_qms import Api, count, load_seeds, person, today


def test_the_link_needs_the_laboratory_configuration(db, tmp_path):
    """Without LIMS the link bundle is refused as a whole, naming what it lacks."""
    load_seeds(db, tmp_path, "qms")
    before = snapshot(db)
    with pytest.raises(ValidationFailed) as refused:
        load_seeds(db, tmp_path, "qms-lims")
    assert refused.value.detail.startswith("seed qms-lims/bundle.json: ")
    assert any("'result'" in e.message for e in refused.value.errors)
    assert snapshot(db) == before


@pytest.fixture
def lab(db, tmp_path) -> dict[str, Person]:
    assert load_seeds(db, tmp_path, "lims", "qms", "qms-lims") == [
        "lims 1.0",
        "qms 1.0",
        "qms-lims 1.0",
    ]
    return {
        "tina": person(db, "tina", "lab_technician"),
        "mark": person(db, "mark", "lab_manager"),
        "quinn": person(db, "quinn", "qa"),
        "quentin": person(db, "quentin", "qms_qa"),
    }


def _entered_results(api: Api, lab: dict[str, Person], *values: float) -> list[dict[str, Any]]:
    """Results of one received sample (one assay per value, 95-105 %), entered with ``values``."""
    mark, tina = lab["mark"], lab["tina"]
    assays = [
        api.create(
            mark,
            "analysis",
            {
                "keyword": f"ASSAY{n}",
                "name": f"Assay {n}",
                "result_type": "numeric",
                "unit": "%",
                "spec_low": 95,
                "spec_high": 105,
                "required_reviews": 1,
            },
        )
        for n in range(len(values))
    ]
    kind = api.create(
        mark,
        "sample_type",
        {
            "name": "Tablets",
            "matrix": "finished_product",
            "default_analyses": [a["id"] for a in assays],
        },
    )
    sample = api.create(
        tina, "sample", {"sample_type": kind["id"], "client": "Production", "priority": "routine"}
    )
    api.step(tina, "sample", sample["id"], "receive")
    listed = api.client.get(f"/api/v1/records/result?sample={sample['id']}", headers=tina.headers)
    results = sorted(listed.json()["items"], key=lambda r: r["id"])
    entered = []
    for result, value in zip(results, values, strict=True):
        api.update(tina, "result", result["id"], value=value)
        entered.append(api.step(tina, "result", result["id"], "enter"))
    return entered


def test_an_oos_result_raises_a_deviation_that_points_back_at_it(db, client, lab):
    api = Api(client)
    tina, quinn, quentin = lab["tina"], lab["quinn"], lab["quentin"]
    oos, good = _entered_results(api, lab, 93.1, 99.8)
    assert (oos["data"]["out_of_spec"], good["data"]["out_of_spec"]) == (True, False)

    records = count(db)
    refused = client.post(
        "/api/v1/records/oos_investigation",
        json={"data": {"result": good["number"], "summary": "Looks fine"}},
        headers=tina.headers,
    )
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {
            "field": "data.result",
            "message": "Only an out-of-specification result is investigated here.",
        }
    ]
    assert count(db) == records

    investigation = api.create(
        tina,
        "oos_investigation",
        {
            "result": oos["number"],
            "summary": "Assay 93.1 % (95.0-105.0 %)",
            "lab_investigation": "Method, calculation, standards and balance checked: no error.",
            "containment": "Batch MET-26-2230 on hold.",
            "product": "Metformin 500 mg tablets",
            "batch_lot": "MET-26-2230",
        },
    )
    assert investigation["number"] == f"OOS-{today().year}-0001"
    raised = api.step(quinn, "oos_investigation", investigation["id"], "raise_deviation")
    assert raised["state"] == "deviation_raised"
    deviation = api.get(quentin, "deviation", raised["data"]["deviation"])
    assert deviation["state"] == "draft"
    assert deviation["data"]["title"] == (
        f"Out-of-specification result {oos['number']}: Assay 93.1 % (95.0-105.0 %)"
    )
    assert oos["number"] in deviation["data"]["description"]
    assert investigation["number"] in deviation["data"]["description"]
    assert deviation["data"]["occurred_on"] == oos["data"]["entered_at"][:10]
    assert deviation["data"]["discovered_by"] == "tina"
    assert (deviation["data"]["area"], deviation["data"]["classification"]) == ("qc_lab", "major")
    assert deviation["data"]["batch_lot"] == "MET-26-2230"
    assert deviation["data"]["immediate_actions"] == "Batch MET-26-2230 on hold."

    pointing_back = client.get(
        f"/api/v1/records/oos_investigation?deviation={deviation['id']}", headers=quentin.headers
    ).json()["items"]
    assert [i["data"]["result"] for i in pointing_back] == [oos["id"]]
    with db.read() as conn:
        rows = conn.execute(
            select(record_reference.c.source_id).where(
                record_reference.c.target_id == oos["id"], record_reference.c.field_key == "result"
            )
        )
        assert list(rows.scalars()) == [investigation["id"]]
        assert verify(conn).ok

    # From here the deviation is an ordinary one: QMS QA submits and assesses it.
    api.step(quentin, "deviation", deviation["id"], "submit")
    assert api.step(quentin, "deviation", deviation["id"], "start_assessment")["state"] == (
        "in_assessment"
    )


def test_a_laboratory_error_closes_the_investigation_without_a_deviation(db, client, lab):
    api = Api(client)
    tina, quinn = lab["tina"], lab["quinn"]
    [oos] = _entered_results(api, lab, 106.2)
    investigation = api.create(
        tina,
        "oos_investigation",
        {
            "result": oos["id"],
            "summary": "Assay 106.2 %",
            "lab_investigation": "Wrong dilution factor used in the calculation.",
            "laboratory_error": True,
        },
    )
    records = count(db)
    blocked = api.attempt(quinn, "oos_investigation", investigation["id"], "raise_deviation")
    assert blocked.status_code == 422
    assert "A laboratory error was found: close the investigation" in blocked.json()["detail"]
    closed = api.step(
        quinn,
        "oos_investigation",
        investigation["id"],
        "close_laboratory_error",
        sign=True,
        reason="Calculation error confirmed; result to be invalidated.",
    )
    assert closed["state"] == "laboratory_error"
    assert [s["meaning"] for s in closed["signatures"]] == ["Quality Approval"]
    assert count(db) == records
