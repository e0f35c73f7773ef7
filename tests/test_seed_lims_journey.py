"""The LIMS journey through the REST API, as the demo users: register a batch of
samples, print their labels, receive them, enter and submit results (one out of
specification), review them as a second person with a signature, release a
sample with a signature, print its certificate, read its chain of custody, and
verify the audit trail."""

from __future__ import annotations

import re
from typing import Any

import pytest

from labledger.audit.verify import verify
from labledger.db.engine import Database
from tests.definitions import refusal_recorded, unchanged
from tests.test_seed_lims import DEMO_PASSWORDS, token_of


@pytest.fixture
def db(lims_db: Database) -> Database:
    """The shipped LIMS configuration with its demo data, prepared once (see conftest)."""
    return lims_db


API = "/api/v1"


class Lab:
    """The demo users' API sessions on one test client."""

    def __init__(self, client: Any, db: Any) -> None:
        self.client = client
        self.headers = {name: token_of(db, name) for name in ("tina", "rita", "mark", "quinn")}

    def get(self, who: str, path: str, **params: Any) -> Any:
        return self.client.get(API + path, headers=self.headers[who], params=params)

    def find(self, who: str, type_key: str, **params: Any) -> dict[str, Any]:
        response = self.get(who, f"/records/{type_key}", **params)
        assert response.status_code == 200, response.text
        (item,) = response.json()["items"]
        return item

    def create(self, who: str, type_key: str, data: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(
            f"{API}/records/{type_key}", headers=self.headers[who], json={"data": data}
        )
        assert response.status_code == 201, response.text
        return response.json()

    def patch(self, who: str, rec: dict[str, Any], data: dict[str, Any]) -> Any:
        return self.client.patch(
            f"{API}/records/{rec['type']}/{rec['id']}",
            headers={**self.headers[who], "If-Match": str(rec["version"])},
            json={"data": data},
        )

    def step(
        self, who: str, rec: dict[str, Any], transition: str, *, sign: bool = False, **body: Any
    ) -> Any:
        if sign:
            body["signature"] = {"username": who, "password": DEMO_PASSWORDS[who]}
        return self.client.post(
            f"{API}/records/{rec['type']}/{rec['id']}/transitions/{transition}",
            headers=self.headers[who],
            json=body,
        )

    def read(self, who: str, rec: dict[str, Any]) -> dict[str, Any]:
        response = self.get(who, f"/records/{rec['type']}/{rec['id']}")
        assert response.status_code == 200, response.text
        return response.json()

    def results_of(self, sample: dict[str, Any]) -> list[dict[str, Any]]:
        response = self.get("tina", "/records/result", sample=sample["id"], sort="number")
        return response.json()["items"]


def test_sample_journey_through_the_api(client, db, admin):
    lab = Lab(client, db)
    effluent = lab.find("tina", "sample_type", name="Wastewater effluent")

    # Register a batch of samples and print their labels.
    samples = [
        lab.create(
            "tina",
            "sample",
            {
                "sample_type": effluent["number"],
                "client": "City of Eastport",
                "sampling_point": f"Outlet, composite {n}",
                "collected_at": "2026-11-20T07:30:00+01:00",
                "collected_by": "Field team Eastport",
            },
        )
        for n in (1, 2, 3)
    ]
    assert [s["state"] for s in samples] == ["registered"] * 3
    numbers = [s["number"] for s in samples]
    assert all(re.fullmatch(r"SMP-\d{4}-\d{5}", n) for n in numbers)
    labels = lab.get("tina", "/records/sample/labels/sample_label", id=[s["id"] for s in samples])
    assert labels.status_code == 200 and labels.headers["content-type"].startswith("text/html")
    assert labels.text.count('class="sample-label"') == 3
    assert all(f"<title>{n}</title>" in labels.text for n in numbers), "a QR code of each number"
    assert labels.text.count('class="code128"') == 3

    # Receive them: each gets one result per default analysis, with copied limits.
    for sample in samples:
        received = lab.step("tina", sample, "receive")
        assert received.status_code == 200, received.text
        assert received.json()["state"] == "received"
    sample = lab.read("tina", samples[0])
    assert sample["data"]["received_by"] == "tina"
    assert "custodian" not in sample["data"], "custody passes on by hand-over, a person's edit"
    results = lab.results_of(sample)
    assert [r["number"] for r in results] == [f"{sample['number']}-R0{i}" for i in (1, 2, 3)]
    assert [r["data"]["analysis_name"] for r in results] == ["pH", "Turbidity", "Nitrate"]
    ph, turbidity, nitrate = results
    assert (nitrate["data"]["unit"], nitrate["data"]["spec_high"]) == ("mg/L", 50)
    assert {r["state"] for r in results} == {"pending"}

    # Store the sample: a storage move is an audited field change.
    freezer = lab.find("tina", "storage_location", code="HQ-R102-K1-S1")
    moved = lab.patch("tina", sample, {"storage_location": freezer["number"]})
    assert moved.status_code == 200, moved.text

    # Enter results; the instrument past its calibration date is refused and says so.
    old_turbidimeter = lab.find("tina", "instrument", identifier="TURB-01")
    with unchanged(db):
        refused = lab.patch(
            "tina", turbidity, {"value": 0.4, "instrument": old_turbidimeter["number"]}
        )
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {
            "field": "data.instrument",
            "message": "This instrument is past its calibration due date: it cannot be used "
            "for a result until it is calibrated.",
        }
    ]
    entries = [(ph, 7.36, "PH-01"), (turbidity, 0.42, "TURB-02"), (nitrate, 72.5, "IC-01")]
    for result, value, identifier in entries:
        instrument = lab.find("tina", "instrument", identifier=identifier)["number"]
        saved = lab.patch("tina", result, {"value": value, "instrument": instrument})
        assert saved.status_code == 200, saved.text
    flags = {r["data"]["analysis_name"]: r["data"]["out_of_spec"] for r in lab.results_of(sample)}
    assert flags == {"pH": False, "Turbidity": False, "Nitrate": True}

    # The sample cannot go to review while results are not reviewed.
    for result in lab.results_of(sample):
        assert lab.step("tina", result, "enter").status_code == 200
    sample = lab.read("tina", sample)
    assert sample["state"] == "in_testing", "the first submitted result started testing"
    with refusal_recorded(db):
        early = lab.step("tina", sample, "to_review")
    assert early.status_code == 422 and "Every result must be reviewed" in early.json()["detail"]

    # The analyst may not review their own results; the reviewer signs each one.
    first = lab.results_of(sample)[0]
    with refusal_recorded(db):
        assert lab.step("tina", first, "review", sign=True).status_code == 403
    wrong = lab.step("rita", first, "review", signature={"username": "rita", "password": "nope"})
    assert wrong.status_code == 403 and "Signature refused" in wrong.json()["detail"]
    for result in lab.results_of(sample):
        reviewed = lab.step("rita", result, "review", sign=True)
        assert reviewed.status_code == 200, reviewed.text
        assert [s["meaning"] for s in reviewed.json()["signatures"]] == ["Reviewed"]
    assert {r["state"] for r in lab.results_of(sample)} == {"reviewed"}
    sample = lab.read("tina", sample)
    assert sample["state"] == "awaiting_review", "the last review sent the sample on"

    # Release, signed, by someone who analysed none of its results; the nitrate result
    # is out of specification, so the release must be confirmed with a justification.
    with refusal_recorded(db):
        assert lab.step("tina", sample, "release", sign=True).status_code == 403
    options = lab.get("quinn", f"/records/sample/{sample['id']}/transitions").json()["items"]
    asked = {o["key"]: o["confirm"] for o in options}
    assert asked["release"] == (
        "A result of this sample, reported or retested, is out of specification."
    )
    assert asked["reject"] is None
    with refusal_recorded(db):
        unconfirmed = lab.step("quinn", sample, "release", sign=True)
    assert unconfirmed.status_code == 422, unconfirmed.text
    problem = unconfirmed.json()
    assert problem["blocked_by"] == ["confirmation"]
    assert [e["field"] for e in problem["errors"]] == ["justification"]
    assert lab.read("quinn", sample)["state"] == "awaiting_review"
    justification = "Nitrate confirmed high; the client accepts the report as out of specification."
    released = lab.step("quinn", sample, "release", sign=True, justification=justification)
    assert released.status_code == 200, released.text
    body = released.json()
    assert body["state"] == "released" and body["data"]["released_by"] == "quinn"
    assert [(s["meaning"], s["printed_name"], s["status"]) for s in body["signatures"]] == [
        ("Approved for release", "Quinn Quist", "current")
    ]

    # The certificate of analysis.
    certificate = lab.get("mark", f"/records/sample/{sample['id']}/print/certificate_of_analysis")
    assert certificate.status_code == 200, certificate.text
    html = certificate.text
    assert "Certificate of Analysis" in html and "Not released" not in html
    assert html.count('<tr class="result">') == 3
    assert "72.5" in html and "≤ 50.0" in html and "Out of specification" in html
    assert "Rita Rossi" in html and "Tina Torres" in html
    assert "Quinn Quist</strong> (quinn) · Approved for release" in html

    # The chain of custody: receipt, storage, every step, who and when.
    audit = lab.get("mark", f"/records/sample/{sample['id']}/audit").json()["items"]
    steps = [(e["action"], (e["details"] or {}).get("transition"), e["actor"]) for e in audit]
    assert steps == [
        ("record.create", None, "tina"),
        ("record.transition", "receive", "tina"),
        ("record.update", None, "tina"),
        ("record.transition", "start_testing", "tina"),
        ("record.transition_refused", "to_review", "tina"),
        ("record.transition", "to_review", "rita"),
        ("record.transition_refused", "release", "tina"),
        ("record.transition_refused", "release", "quinn"),
        ("record.transition", "release", "quinn"),
        ("record.sign", "release", "quinn"),
    ]
    receipt, storage = audit[1]["changes"], audit[2]["changes"]
    assert receipt["state"] == {"old": "registered", "new": "received"}
    assert receipt["received_by"] == {"old": None, "new": "tina"}
    assert storage == {"storage_location": {"old": None, "new": freezer["id"]}}
    assert [audit[i]["details"]["automatic"] for i in (3, 5)] == [True, True]
    assert audit[8]["details"]["confirmed"] == {
        "message": "A result of this sample, reported or retested, is out of specification.",
        "justification": justification,
    }

    verified = client.get(f"{API}/audit/verify", headers=admin.headers).json()
    assert verified["ok"] and verified["events"] > 200
    with db.read() as conn:
        assert verify(conn).ok
