"""The shipped LIMS: a lab technician cannot set "Released by/at" or "Received by/at"
on a new sample, neither in the browser's form nor through the API; those fields
are the workflow's own (Receive and Release set them)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from labledger.db.tables import record
from labledger.identity.principal import SYSTEM
from labledger.records.service import create_record
from labledger.records.validation import SYSTEM_SET_MESSAGE
from tests.conftest import TEST_PASSWORD
from tests.test_seed_lims import load_lims
from tests.web.helpers import csrf_token, sign_in

FORGED = {
    "released_by": "tess",
    "released_at": "2026-11-20T09:00:00Z",
    "received_by": "tess",
    "received_at": "2026-11-20T08:00:00Z",
}


@pytest.fixture
def lims(db, tmp_path, make_person) -> dict[str, Any]:
    """The LIMS configuration, a technician and one sample type."""
    load_lims(db, tmp_path, demo=False)
    technician = make_person("tess", "lab_technician")
    with db.write() as conn:
        water = create_record(
            conn,
            SYSTEM,
            "sample_type",
            {"name": "Drinking water", "matrix": "drinking_water"},
            skip_permission=True,
        )
    return {"technician": technician, "sample_type": water}


def _samples(db) -> int:
    with db.read() as conn:
        return conn.execute(
            select(func.count()).select_from(record).where(record.c.type_key == "sample")
        ).scalar_one()


def test_the_api_refuses_a_forged_release_field_by_field(client, db, lims):
    response = client.post(
        "/api/v1/records/sample",
        headers=lims["technician"].headers,
        json={"data": {"sample_type": lims["sample_type"]["id"], "client": "Eastport", **FORGED}},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert sorted(e["field"] for e in response.json()["errors"]) == sorted(
        f"data.{key}" for key in FORGED
    )
    assert {e["message"] for e in response.json()["errors"]} == {SYSTEM_SET_MESSAGE}
    assert _samples(db) == 0


def test_the_new_sample_form_offers_no_workflow_field_and_refuses_a_forged_one(client, db, lims):
    sign_in(client, "tess", TEST_PASSWORD)
    html = client.get("/records/sample/new").text
    for key in FORGED:
        assert f'name="{key}"' not in html, f"the form offers {key}"
        assert re.search(rf'id="fld-{key}".*?set by the system', html, re.S)
    token = csrf_token(client, "/records/sample/new")
    form = {
        "sample_type": lims["sample_type"]["number"],
        "client": "Eastport",
        "priority": "routine",
        "released_by": "tess",
        "released_at": "2026-11-20T09:00",
        "released_at__tz": "Z",
        "_csrf_token": token,
    }
    refused = client.post("/records/sample/new", data=form, follow_redirects=False)
    assert refused.status_code == 422
    assert f"Released by: {SYSTEM_SET_MESSAGE}" in refused.text
    assert f"Released at: {SYSTEM_SET_MESSAGE}" in refused.text
    assert _samples(db) == 0
    del form["released_by"], form["released_at"]
    saved = client.post("/records/sample/new", data=form, follow_redirects=False)
    assert saved.status_code == 303 and _samples(db) == 1
