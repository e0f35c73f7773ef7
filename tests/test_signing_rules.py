"""Which signature components a step needs, decided once by the workflow service.

An API call has no signing session, so every signature over the API needs
username and password. A browser session needs both on its first signature
and the password alone afterwards. A transition answers with the record as
the step produced it.
"""

from __future__ import annotations

from typing import Any

import pytest

from labledger.errors import ValidationFailed
from labledger.workflows.engine import run_transition
from labledger.workflows.signing import SignatureInput, SigningSession
from tests.conftest import TEST_PASSWORD
from tests.definitions import refusal_recorded, traffic
from tests.web.record_fixtures import create, make_lab


@pytest.fixture
def lab(db, make_person):
    return make_lab(db, make_person)


def _submitted(db, lab, code: str = "L-1") -> dict[str, Any]:
    lot = create(db, lab.analyst, "lot", {"code": code})
    run_transition(
        db,
        lab.analyst.principal,
        "lot",
        lot["id"],
        "submit",
    )
    return lot


def _approve_over_api(client, person, lot_id: int, signature: dict[str, str]) -> Any:
    return client.post(
        f"/api/v1/records/lot/{lot_id}/transitions/approve",
        json={"signature": signature},
        headers=person.headers,
    )


def _approve(db, lab, lot_id: int, username: str, session: SigningSession | None) -> Any:
    return run_transition(
        db,
        lab.qa.principal,
        "lot",
        lot_id,
        "approve",
        signature=SignatureInput(username, TEST_PASSWORD),
        signing_session=session,
    )


@pytest.mark.requirement("REQ-SIG-03")
def test_an_api_signature_needs_username_and_password(client, db, lab):
    lot = _submitted(db, lab)
    with refusal_recorded(db, "record.sign_refused"):
        alone = _approve_over_api(client, lab.qa, lot["id"], {"password": TEST_PASSWORD})
    assert alone.status_code == 422
    problem = alone.json()
    assert problem["errors"] == [{"field": "signature.username", "message": "enter your username"}]
    assert problem["detail"].startswith("A signature over the API needs your username")
    both = _approve_over_api(
        client, lab.qa, lot["id"], {"username": "quinn", "password": TEST_PASSWORD}
    )
    assert both.status_code == 200 and both.json()["state"] == "approved"


@pytest.mark.requirement("REQ-SIG-03")
def test_a_session_that_signed_before_needs_the_password_only(db, lab):
    first, second = _submitted(db, lab, "L-1"), _submitted(db, lab, "L-2")
    with refusal_recorded(db, "record.sign_refused"), pytest.raises(ValidationFailed) as caught:
        _approve(db, lab, first["id"], "", SigningSession(signed_before=False))
    assert [e.field for e in caught.value.errors] == ["signature.username"]
    assert "first signature since you signed in" in caught.value.detail
    with pytest.raises(ValidationFailed, match="over the API"):
        _approve(db, lab, first["id"], "", None)
    assert _approve(db, lab, first["id"], "quinn", SigningSession(False))["state"] == "approved"
    assert _approve(db, lab, second["id"], "", SigningSession(True))["state"] == "approved"


def test_the_transition_answer_is_the_record_as_the_step_produced_it(client, db, lab):
    lot = _submitted(db, lab)
    answer = _approve_over_api(
        client, lab.qa, lot["id"], {"username": "quinn", "password": TEST_PASSWORD}
    ).json()
    assert (answer["state"], answer["version"]) == ("approved", 3)
    assert [(s["record_version"], s["status"]) for s in answer["signatures"]] == [(3, "current")]


def test_an_unsigned_step_over_the_api_is_one_transaction_with_its_answer(client, db, lab):
    """Checks, writes and the answer with the record's signatures share one transaction;
    on PostgreSQL that is five statements (configuration, record, update, audit, signatures)."""
    first, second = _submitted(db, lab, "L-1"), _submitted(db, lab, "L-2")
    body = {"reason": "Label unreadable"}
    path = "/api/v1/records/lot/{}/transitions/reject"
    assert client.post(path.format(first["id"]), json=body, headers=lab.qa.headers).is_success
    with traffic(db) as seen:
        answer = client.post(path.format(second["id"]), json=body, headers=lab.qa.headers)
    assert answer.status_code == 200
    assert (answer.json()["state"], answer.json()["signatures"]) == ("open", [])
    assert seen.transactions == 1
    if db.dialect == "postgresql":
        assert len(seen.statements) <= 6, seen.statements
