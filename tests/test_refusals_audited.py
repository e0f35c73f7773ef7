"""Every refused step and refused signature is an audit event on the record.

The refused transaction rolls back; the refusal (who, which step, why) is
written in a transaction of its own, one event per attempt, and the record's
history shows it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import select, update

from labledger.db.tables import app_user, audit_event
from labledger.db.types import utc_now
from labledger.errors import ServiceError
from labledger.workflows.engine import run_transition
from labledger.workflows.signing import SignatureInput
from tests.conftest import TEST_PASSWORD
from tests.definitions import reconfigure, refusal_recorded
from tests.web.helpers import sign_in
from tests.web.record_fixtures import create, make_lab


@pytest.fixture
def lab(db, make_person, monkeypatch):
    reconfigure(monkeypatch, db, lockout_threshold=3)
    return make_lab(db, make_person)


def _step(db, person, record_id, key, *, password=None, type_key="lot", **kwargs) -> Any:
    return run_transition(
        db,
        person.principal,
        type_key,
        record_id,
        key,
        signature=SignatureInput(person.username, password) if password else None,
        **kwargs,
    )


def _last_refusal(db) -> dict[str, Any]:
    with db.read() as conn:
        return dict(
            conn.execute(
                select(audit_event)
                .where(audit_event.c.action.like("record.%_refused"))
                .order_by(audit_event.c.seq.desc())
            )
            .mappings()
            .first()
        )


@contextmanager
def _locked(db, username: str) -> Iterator[None]:
    """The account is locked for the block's duration."""
    for locked_at in (utc_now(), None):
        with db.write() as conn:
            conn.execute(
                update(app_user).where(app_user.c.username == username).values(locked_at=locked_at)
            )
        if locked_at is not None:
            yield


def _refused(db, action: str, *extra: str, **attempt: Any) -> dict[str, Any]:
    """Run a step that must be refused; returns its refusal event."""
    with refusal_recorded(db, *extra, action), pytest.raises(ServiceError):
        _step(db, **attempt)
    return _last_refusal(db)


@pytest.mark.requirement("REQ-AUD-07")
def test_refused_steps_name_who_which_step_and_why(db, lab):
    lot = create(db, lab.analyst, "lot", {"code": "L-1"})
    role = _refused(
        db, "record.transition_refused", person=lab.qa, record_id=lot["id"], key="submit"
    )
    assert (role["actor"], role["record_id"], role["record_number"]) == (
        "quinn",
        lot["id"],
        "LOT-0001",
    )
    assert role["details"]["transition"] == "submit"
    assert role["details"]["refused_for"] == ["role"]
    assert role["details"]["message"] == "Only these roles may submit: Analyst."
    assert role["changes"] is None

    stale = _refused(
        db,
        "record.transition_refused",
        person=lab.analyst,
        record_id=lot["id"],
        key="submit",
        expected_version=7,
    )
    assert stale["details"]["refused_for"] == ["version"]
    _step(db, lab.analyst, lot["id"], "submit")
    moved = _refused(
        db, "record.transition_refused", person=lab.analyst, record_id=lot["id"], key="submit"
    )
    assert moved["details"]["refused_for"] == ["state"]

    reason = _refused(
        db, "record.transition_refused", person=lab.qa, record_id=lot["id"], key="reject"
    )
    assert reason["details"]["refused_for"] == ["reason"]
    assert reason["details"]["fields"] == ["reason"]


@pytest.mark.requirement("REQ-AUD-07", "REQ-WF-03")
def test_separation_and_missing_fields_are_recorded(db, lab, make_person):
    both = make_person("max", "qa", "analyst")
    lot = create(db, both, "lot", {"code": "L-2"})
    _step(db, both, lot["id"], "submit")
    separation = _refused(
        db,
        "record.transition_refused",
        person=both,
        record_id=lot["id"],
        key="approve",
        password=TEST_PASSWORD,
    )
    assert separation["details"]["refused_for"] == ["separation"]

    result = create(db, lab.analyst, "result", {"lot": lot["id"], "test": "pH"})
    fields = _refused(
        db,
        "record.transition_refused",
        person=lab.analyst,
        record_id=result["id"],
        key="enter",
        type_key="result",
    )
    assert fields["details"]["refused_for"] == ["fields"]
    assert fields["details"]["fields"] == ["data.value"]


@pytest.mark.requirement("REQ-AUD-07")
def test_refused_signatures_are_recorded_on_the_record(db, lab):
    lot = create(db, lab.analyst, "lot", {"code": "L-3"})
    _step(db, lab.analyst, lot["id"], "submit")
    missing = _refused(db, "record.sign_refused", person=lab.qa, record_id=lot["id"], key="approve")
    assert missing["details"]["refused_for"] == ["signature"]
    wrong = _refused(
        db,
        "record.sign_refused",
        "signature.failed",
        person=lab.qa,
        record_id=lot["id"],
        key="approve",
        password="not my password",
    )
    assert wrong["details"]["refused_for"] == ["password"]
    assert wrong["details"]["message"] == "Signature refused: Invalid username or password."
    assert (wrong["actor"], wrong["details"]["transition"]) == ("quinn", "approve")
    with _locked(db, "quinn"):
        locked = _refused(
            db,
            "record.sign_refused",
            "signature.refused",
            person=lab.qa,
            record_id=lot["id"],
            key="approve",
            password=TEST_PASSWORD,
        )
    assert "locked" in locked["details"]["message"]


@pytest.mark.requirement("REQ-AUD-08")
def test_the_record_history_shows_refusals_readably(client, db, lab):
    lot = create(db, lab.analyst, "lot", {"code": "L-4"})
    with pytest.raises(ServiceError):
        _step(db, lab.qa, lot["id"], "submit")
    sign_in(client, "ann", TEST_PASSWORD)
    page = client.get(f"/records/lot/{lot['id']}").text
    assert "Step refused: Submit (Only these roles may submit: Analyst.)" in page
