"""The LIMS configuration's rules: limits, flags, storage hierarchy, instruments,
retests that keep the original value, two reviews, who may release, aliquots."""

from __future__ import annotations

from typing import Any

import pytest

from labledger.db.engine import Database
from labledger.errors import Forbidden, ServiceError, ValidationFailed
from labledger.identity.principal import Principal
from labledger.identity.users import check_password
from labledger.records.lookup import record_id_by_number
from labledger.records.service import create_record, get_record, update_record
from labledger.workflows.engine import SignatureInput, run_transition
from tests.definitions import refusal_recorded, unchanged
from tests.test_seed_lims import DEMO_PASSWORDS, records_of


@pytest.fixture
def db(lims_db: Database) -> Database:
    """The shipped LIMS configuration with its demo data, prepared once (see conftest)."""
    return lims_db


class Lims:
    """The demo lab, driven through the services as its demo users."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.people: dict[str, Principal] = {}
        with db.write() as conn:
            for name, password in DEMO_PASSWORDS.items():
                principal = check_password(conn, name, password).principal
                assert principal is not None
                self.people[name] = principal

    def id_of(self, number: str) -> int:
        with self.db.read() as conn:
            found = record_id_by_number(conn, number)
        assert found is not None, number
        return found

    def number_of(self, type_key: str, **match: Any) -> str:
        (found,) = [
            r["number"]
            for r in records_of(self.db, type_key)
            if all(r["data"].get(k) == v for k, v in match.items())
        ]
        return found

    def create(self, who: str, type_key: str, data: dict[str, Any]) -> dict[str, Any]:
        with self.db.write() as conn:
            return create_record(conn, self.people[who], type_key, data)

    def update(self, who: str, rec: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        with self.db.write() as conn:
            current = get_record(conn, self.people[who], rec["type"], rec["id"])
            return update_record(
                conn,
                self.people[who],
                rec["type"],
                rec["id"],
                data,
                expected_version=current["version"],
            )

    def read(self, rec: dict[str, Any]) -> dict[str, Any]:
        with self.db.read() as conn:
            return get_record(conn, self.people["mark"], rec["type"], rec["id"])

    def step(
        self, who: str, rec: dict[str, Any], key: str, *, sign: bool = False, reason: str = ""
    ) -> dict[str, Any]:
        signature = SignatureInput(who, DEMO_PASSWORDS[who]) if sign else None
        return run_transition(
            self.db,
            self.people[who],
            rec["type"],
            rec["id"],
            key,
            reason=reason or None,
            signature=signature,
        )

    def results(self, sample: dict[str, Any]) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return [
                get_record(conn, self.people["mark"], "result", r["id"])
                for r in records_of(self.db, "result")
                if r["data"]["sample"] == sample["id"]
            ]

    def received(self, sample_type: str, client: str = "Test client") -> dict[str, Any]:
        sample = self.create(
            "tina",
            "sample",
            {"sample_type": self.number_of("sample_type", name=sample_type), "client": client},
        )
        return self.step("tina", sample, "receive")


@pytest.fixture
def lims(db) -> Lims:
    return Lims(db)


def _refused(db: Any, action: Any, *args: Any, **kwargs: Any) -> dict[str, str]:
    """Run an action that must be refused; returns its messages by field."""
    with unchanged(db), pytest.raises(ValidationFailed) as caught:
        action(*args, **kwargs)
    return {e.field: e.message for e in caught.value.errors}


def test_analysis_limits_must_be_consistent(lims, db):
    base = {"keyword": "TOC", "name": "Total organic carbon", "unit": "mg/L"}
    assert _refused(
        db, lims.create, "mark", "analysis", {**base, "spec_low": 5, "spec_high": 1}
    ) == {"data.spec_high": "The specification's low limit is above its high limit."}
    errors = _refused(
        db,
        lims.create,
        "mark",
        "analysis",
        {**base, "spec_high": 4, "warn_high": 4.5, "lod": 2, "loq": 1},
    )
    assert set(errors) == {"data.warn_high", "data.loq"}
    with pytest.raises(Forbidden):
        lims.create("tina", "analysis", base)
    toc = lims.create("mark", "analysis", {**base, "spec_high": 4, "warn_high": 3})
    assert toc["number"].startswith("AN-") and toc["data"]["required_reviews"] == 1


def test_storage_locations_form_a_hierarchy(lims, db):
    box = lims.number_of("storage_location", code="HQ-R105-F2-S1-B01")
    position = lims.number_of("storage_location", code="HQ-R105-F2-S1-B01-A1")
    site = lims.number_of("storage_location", code="HQ")
    assert _refused(
        db,
        lims.create,
        "tina",
        "storage_location",
        {"code": "X1", "name": "X", "kind": "site", "parent": site},
    ) == {"data.parent": "A site is the top of the hierarchy: it is inside nothing."}
    assert _refused(
        db, lims.create, "tina", "storage_location", {"code": "X2", "name": "X", "kind": "box"}
    ) == {"data.parent": "is required"}
    assert _refused(
        db,
        lims.create,
        "tina",
        "storage_location",
        {"code": "X3", "name": "X", "kind": "position", "parent": position},
    ) == {"data.parent": "A position holds samples, not other locations."}
    b2 = lims.create(
        "tina",
        "storage_location",
        {"code": "HQ-R105-F2-S1-B02", "name": "Box 02", "kind": "box", "parent": box},
    )
    assert _refused(db, lims.update, "tina", b2, {"parent": b2["id"]}) == {
        "data.parent": "A location cannot be inside itself."
    }


def test_instruments_out_of_service_or_calibration_cannot_be_used(lims, db):
    sample = lims.received("Wastewater effluent")
    ph = lims.results(sample)[0]
    meter = {
        "type": "instrument",
        "id": lims.id_of(lims.number_of("instrument", identifier="PH-01")),
    }
    lims.update("mark", meter, {"status": "out_of_service"})
    assert _refused(db, lims.update, "tina", ph, {"value": 7.1, "instrument": meter["id"]}) == {
        "data.instrument": "This instrument is not in service: it cannot be used for a result."
    }
    lims.update("mark", meter, {"status": "in_service", "calibration_due": "2020-01-31"})
    errors = _refused(db, lims.update, "tina", ph, {"value": 7.1, "instrument": meter["id"]})
    assert errors["data.instrument"].startswith("This instrument is past its calibration due date")


def test_results_are_checked_and_flagged_against_the_copied_limits(lims, db):
    water = lims.received("Drinking water")
    ph, _cond, turbidity, nitrate, ecoli, odour = lims.results(water)
    assert (ph["data"]["spec_low"], ph["data"]["spec_high"], ph["data"]["precision"]) == (
        6.5,
        9.5,
        2,
    )
    assert _refused(db, lims.update, "tina", ph, {"value": 7.123}) == {
        "data.value": "The result has more decimal places than this analysis reports."
    }
    assert lims.update("tina", ph, {"value": 9.3})["data"]["in_warning"] is True
    assert lims.update("tina", nitrate, {"value": 51.5})["data"]["out_of_spec"] is True
    low = lims.update("tina", turbidity, {"value": 0.01})["data"]
    assert (low["detection"], low["out_of_spec"]) == ("< LOD", False)
    assert lims.update("tina", turbidity, {"value": 0.03})["data"]["detection"] == "< LOQ"
    assert _refused(db, lims.update, "tina", odour, {"text_value": "Smells of fish"}) == {
        "data.text_value": "Give one of the allowed results of this analysis."
    }
    assert (
        lims.update("tina", odour, {"text_value": "Not acceptable"})["data"]["out_of_spec"] is True
    )
    assert lims.update("tina", ecoli, {"value": 0})["data"]["out_of_spec"] is False

    # Changing the analysis later never changes results that exist.
    analysis = {"type": "analysis", "id": nitrate["data"]["analysis"]}
    lims.update("mark", analysis, {"spec_high": 60})
    assert lims.read(nitrate)["data"]["spec_high"] == 50


def test_a_retest_keeps_the_original_value_and_holds_the_sample(lims, db):
    sample = lims.received("Surface water")
    results = lims.results(sample)
    for result, value in zip(results, (7.2, 455, 58.2), strict=True):
        lims.update("tina", result, {"value": value})
        lims.step("tina", result, "enter")
    original = results[2]
    with refusal_recorded(db), pytest.raises(ValidationFailed, match="reason"):
        lims.step("rita", original, "request_retest")
    lims.step("rita", original, "request_retest", reason="Nitrate above the limit: repeat")
    assert _refused(db, lims.update, "tina", original, {"value": 12.0}) == {
        "data.value": "cannot be changed in the record's current state"
    }
    kept = lims.read(original)
    assert (kept["state"], kept["data"]["value"], kept["data"]["out_of_spec"]) == (
        "retest_requested",
        58.2,
        True,
    )
    retest = lims.results(sample)[-1]
    assert retest["number"] == f"{sample['number']}-R04"
    assert retest["data"]["retest_of"] == original["id"] and "value" not in retest["data"]
    assert retest["data"]["spec_high"] == original["data"]["spec_high"]

    for result in results[:2]:
        lims.step("rita", result, "review", sign=True)
    assert lims.read(sample)["state"] == "in_testing", "the retest is not reviewed yet"
    lims.update("tina", retest, {"value": 14.1})
    lims.step("tina", retest, "enter")
    lims.step("rita", retest, "review", sign=True)
    assert lims.read(sample)["state"] == "awaiting_review"


def test_two_reviews_by_two_people_who_did_not_enter_the_result(lims, db):
    assay = next(
        r
        for r in lims.results(lims.received("Finished product (tablets)"))
        if r["data"]["analysis_name"] == "Assay (HPLC)"
    )
    lims.update("tina", assay, {"value": 99.1})
    lims.step("tina", assay, "enter")
    with refusal_recorded(db), pytest.raises(ValidationFailed, match="needs two reviews"):
        lims.step("rita", assay, "review", sign=True)
    with refusal_recorded(db), pytest.raises(Forbidden, match="cannot review"):
        lims.step("tina", assay, "first_review", sign=True)
    lims.step("rita", assay, "first_review", sign=True)
    with (
        refusal_recorded(db),
        pytest.raises(Forbidden, match="did not enter or submit this result and did not give"),
    ):
        lims.step("rita", assay, "second_review", sign=True)
    done = lims.step("mark", assay, "second_review", sign=True)
    assert done["state"] == "reviewed" and done["data"]["reviewed_by"] == "mark"


def test_nobody_who_analysed_a_result_releases_the_sample(lims, db):
    sample = lims.received("Wastewater effluent")
    for result, value in zip(lims.results(sample), (7.4, 0.3, 11.2), strict=True):
        lims.update("mark", result, {"value": value})
        lims.step("mark", result, "enter")
        lims.step("rita", result, "review", sign=True)
    sample = lims.read(sample)
    assert sample["state"] == "awaiting_review"
    with (
        refusal_recorded(db),
        pytest.raises(ValidationFailed, match="analysed a result of this sample"),
    ):
        lims.step("mark", sample, "release", sign=True)
    with refusal_recorded(db), pytest.raises(ServiceError, match="reason"):
        lims.step("quinn", sample, "reject", sign=True)
    released = lims.step("quinn", sample, "release", sign=True)
    assert (released["state"], released["data"]["released_by"]) == ("released", "quinn")


def test_cancelling_needs_a_reason_and_locks_all_but_custody(lims, db):
    sample = lims.received("Surface water")
    with refusal_recorded(db), pytest.raises(ValidationFailed, match="reason"):
        lims.step("quinn", sample, "cancel")
    cancelled = lims.step("quinn", sample, "cancel", reason="Container broken in transit")
    assert cancelled["state"] == "cancelled"
    assert _refused(db, lims.update, "tina", cancelled, {"client": "Someone else"}) == {
        "data.client": "cannot be changed in the record's current state"
    }
    disposal = lims.number_of("storage_location", code="HQ-R102-K1-S1")
    moved = lims.update("tina", cancelled, {"storage_location": disposal})
    assert moved["data"]["storage_location"] == lims.id_of(disposal)


def test_aliquots_are_numbered_from_their_parent(lims, db):
    parent = lims.received("Surface water")
    child = {
        "sample_type": parent["data"]["sample_type"],
        "client": "Test client",
        "parent": parent["id"],
    }
    assert _refused(db, lims.create, "tina", "sample", child) == {"data.derivation": "is required"}
    first = lims.create("tina", "sample", {**child, "derivation": "aliquot"})
    second = lims.create("tina", "sample", {**child, "derivation": "partition"})
    assert [first["number"], second["number"]] == [
        f"{parent['number']}-A01",
        f"{parent['number']}-A02",
    ]
    received = lims.step("tina", first, "receive")
    assert lims.results(received)[0]["number"] == f"{parent['number']}-A01-R01"


def test_priority_sets_the_due_date_unless_one_is_given(lims):
    st = lims.number_of("sample_type", name="Surface water")
    routine = lims.create("tina", "sample", {"sample_type": st, "client": "A"})
    stat = lims.create("tina", "sample", {"sample_type": st, "client": "A", "priority": "stat"})
    given = lims.create(
        "tina", "sample", {"sample_type": st, "client": "A", "due_date": "2031-01-01"}
    )
    assert stat["data"]["due_date"] < routine["data"]["due_date"]
    assert given["data"]["due_date"] == "2031-01-01"


def test_whoever_entered_a_value_does_not_review_it(lims, db):
    """A manager types the value, a technician submits it: the manager may not review it."""
    ph = next(
        r
        for r in lims.results(lims.received("Surface water"))
        if r["data"]["analysis_name"] == "pH"
    )
    lims.update("mark", ph, {"value": 7.1})
    lims.step("tina", ph, "enter")
    with (
        refusal_recorded(db),
        pytest.raises(Forbidden, match="Whoever entered or submitted this result cannot review"),
    ):
        lims.step("mark", ph, "review", sign=True)
    assert lims.read(ph)["state"] == "entered"
    assert lims.step("rita", ph, "review", sign=True)["state"] == "reviewed"
