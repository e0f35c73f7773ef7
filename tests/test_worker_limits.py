"""No request can hold a worker: admin-written patterns run in linear time,
print templates stop within their limits, and other requests are served meanwhile."""

from __future__ import annotations

import copy
import time

import pytest

from labledger.errors import ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.metadata.messages import field_errors
from labledger.metadata.schemas import runtime_validator
from labledger.metadata.types import publish_type
from tests.definitions import add_roles, batch_type, unchanged
from tests.test_api import problem

#: Backtracks catastrophically in Python's ``re``: 27 characters took 13 seconds.
EXPONENTIAL = "^(a+)+$"


def _batch_with_pattern(pattern: str) -> dict:
    definition = copy.deepcopy(batch_type())
    code = definition["fields"][0]
    code["pattern"] = pattern
    del code["max_length"]
    return definition


def test_a_backtracking_pattern_checks_a_long_value_promptly(db, client, make_person, publish):
    """10,000 characters (text fields take 500, which is refused too): the
    pattern is still searched, and answers at once."""
    ann = make_person("ann", "analyst")
    publish(_batch_with_pattern(EXPONENTIAL))
    started = time.monotonic()
    with unchanged(db):
        body = problem(
            client.post(
                "/api/v1/records/batch",
                json={"data": {"code": "a" * 10_000 + "!"}},
                headers=ann.headers,
            ),
            422,
        )
    assert time.monotonic() - started < 1, "a generous bound: RE2 takes microseconds"
    assert {
        "field": "data.code",
        "message": f"does not match the required format ({EXPONENTIAL})",
    } in body["errors"]
    created = client.post(
        "/api/v1/records/batch", json={"data": {"code": "a" * 500}}, headers=ann.headers
    )
    assert created.status_code == 201, created.text


@pytest.mark.parametrize("pattern", [r"^(\d)\1$", r"^(?=A)[A-Z]+$", r"^(?<!X)Y"])
def test_patterns_re2_cannot_run_are_refused_at_publish(db, pattern):
    add_roles(db, "analyst")
    with unchanged(db), pytest.raises(ValidationFailed) as refused, db.write() as conn:
        publish_type(conn, SYSTEM, _batch_with_pattern(pattern))
    errors = {e.field: e.message for e in refused.value.errors}
    assert "backreferences and lookarounds are not supported" in errors["fields[0].pattern"]


def test_a_stored_pattern_re2_cannot_run_gives_a_field_error():
    """A pattern published before patterns were checked with RE2 refuses values
    with a message saying so, never a server error."""
    validator = runtime_validator(
        {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(?=A)"}}}
    )
    [error] = field_errors(validator.iter_errors({"code": "A"}), "data")
    assert error.field == "data.code"
    assert error.message.startswith("cannot be checked: the field's pattern is not a regular")
