"""One transition on many records with one signing: each record still gets its own
signature, content hash and audit events; refused records are reported, the rest move."""

from __future__ import annotations

from itertools import count
from typing import Any

import pytest
from sqlalchemy import select

from labledger.db.tables import app_user, audit_event, signature
from labledger.workflows.bulk import MAX_RECORDS
from labledger.workflows.engine import run_transition
from tests.conftest import TEST_PASSWORD
from tests.definitions import refusal_recorded
from tests.web.record_fixtures import create, make_lab

CODES = count(1)


@pytest.fixture
def lab(db, make_person):
    return make_lab(db, make_person)


def _lots(db, lab, count: int, *, submitted: bool = True, by=None) -> list[dict[str, Any]]:
    lots = [
        create(db, by or lab.analyst, "lot", {"code": f"L-{next(CODES)}"}) for _ in range(count)
    ]
    for lot in lots if submitted else []:
        run_transition(db, (by or lab.analyst).principal, "lot", lot["id"], "submit")
    return lots


def _bulk(client, person, transition: str, ids: list[int], **body: Any):
    return client.post(
        f"/api/v1/records/lot/transitions/{transition}",
        json={"ids": ids, **body},
        headers=person.headers,
    )


def _signing(username: str, password: str = TEST_PASSWORD) -> dict[str, Any]:
    return {"signature": {"username": username, "password": password}}


def _failed_attempts(db, username: str) -> int:
    with db.read() as conn:
        return conn.execute(
            select(app_user.c.failed_attempts).where(app_user.c.username == username)
        ).scalar_one()


@pytest.mark.requirement("REQ-SIG-06")
def test_one_signing_approves_many_records_each_with_its_own_signature(db, client, lab):
    lots = _lots(db, lab, 3)
    ids = [lot["id"] for lot in lots]
    answer = _bulk(client, lab.qa, "approve", ids, **_signing("quinn"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["moved"], body["refused"]) == (3, 0)
    assert [item["id"] for item in body["items"]] == ids
    assert all(item["ok"] and item["record"]["state"] == "approved" for item in body["items"])
    with db.read() as conn:
        signed = conn.execute(select(signature.c.record_id, signature.c.content_hash)).all()
        events = conn.execute(
            select(audit_event.c.record_id).where(audit_event.c.action == "record.sign")
        ).scalars()
        assert sorted(events) == sorted(ids)
    assert sorted(r.record_id for r in signed) == sorted(ids)
    assert len({r.content_hash for r in signed}) == 3, "each record signs its own content"
    for item in body["items"]:
        (own,) = item["record"]["signatures"]
        assert (own["meaning"], own["signer"], own["status"]) == (
            "Approved for release",
            "quinn",
            "current",
        )


def test_records_that_may_not_move_are_reported_and_the_others_move(db, client, lab, make_person):
    waiting = _lots(db, lab, 2)
    still_open = _lots(db, lab, 1, submitted=False)[0]
    # Mia created this one: separation of duties forbids her approving it.
    mia = make_person("mia", "qa", "analyst")
    own = _lots(db, lab, 1, by=mia)[0]
    ids = [waiting[0]["id"], still_open["id"], own["id"], waiting[1]["id"]]
    body = _bulk(client, mia, "approve", ids, **_signing("mia")).json()
    assert (body["moved"], body["refused"]) == (2, 2)
    outcome = {item["id"]: item for item in body["items"]}
    assert outcome[waiting[0]["id"]]["ok"] and outcome[waiting[1]["id"]]["ok"]
    not_open = outcome[still_open["id"]]["refusal"]
    separated = outcome[own["id"]]["refusal"]
    assert not outcome[still_open["id"]]["ok"] and not_open["status"] == 409
    assert "state" in not_open["blocked_by"]
    assert separated["status"] == 403 and "separation" in separated["blocked_by"]
    with db.read() as conn:
        refused = conn.execute(
            select(audit_event.c.record_id).where(
                audit_event.c.action == "record.transition_refused"
            )
        ).scalars()
        assert sorted(refused) == sorted([still_open["id"], own["id"]])


def test_a_wrong_password_moves_nothing_and_counts_once(db, client, lab):
    lots = _lots(db, lab, 3)
    ids = [lot["id"] for lot in lots]
    before = _failed_attempts(db, "quinn")
    # One failed signature on the signer's account, a refused signing on each record.
    with refusal_recorded(db, "signature.failed", *["record.sign_refused"] * 3):
        answer = _bulk(client, lab.qa, "approve", ids, **_signing("quinn", "wrong password"))
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["blocked_by"] == ["password"]
    assert _failed_attempts(db, "quinn") == before + 1, "one signing, one password check"


def test_a_person_who_may_sign_none_of_them_is_not_asked_for_a_password(db, client, lab):
    lots = _lots(db, lab, 2)
    before = _failed_attempts(db, "bo")
    answer = _bulk(client, lab.other, "approve", [lot["id"] for lot in lots], **_signing("bo", "x"))
    assert answer.status_code == 200
    body = answer.json()
    assert body["moved"] == 0, body
    assert all("roles may approve" in i["refusal"]["detail"] for i in body["items"]), body
    assert _failed_attempts(db, "bo") == before


def test_unsigned_steps_run_on_many_records_without_a_signature(db, client, lab):
    lots = _lots(db, lab, 4, submitted=False)
    body = _bulk(client, lab.analyst, "submit", [lot["id"] for lot in lots]).json()
    assert body["moved"] == 4
    assert {item["record"]["state"] for item in body["items"]} == {"in_review"}


@pytest.mark.parametrize(
    "ids",
    [[], [1, 1], list(range(1, MAX_RECORDS + 2)), ["x"], [2**70]],
    ids=["none", "twice", "too many", "not a number", "out of range"],
)
def test_a_bad_list_of_records_is_refused_whole(db, client, lab, ids):
    lots = _lots(db, lab, 1)
    answer = _bulk(client, lab.qa, "approve", ids or [], **_signing("quinn"))
    assert answer.status_code in (400, 422), answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    with db.read() as conn:
        assert conn.execute(select(signature.c.id)).first() is None
    assert lots


def test_bulk_transitions_need_an_account(client, lab):
    assert (
        client.post("/api/v1/records/lot/transitions/approve", json={"ids": [1]}).status_code == 401
    )
