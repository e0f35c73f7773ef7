"""Hashes that cannot lie: values round-trip byte-identically through both databases.

PostgreSQL's JSONB keeps the decimal a float was written as and gives it back
as an integer (``6.02214076e23`` comes back as ``602214076000000000000000``);
a hash taken over the float's ``int()`` then never matched again, and
``audit verify`` reported tampering forever. These tests store the awkward
values a person can type and require the audit trail to verify.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from sqlalchemy import select

from labledger.audit.verify import verify
from labledger.canonical import canonical_json, canonical_json_of_plain
from labledger.db.tables import record
from labledger.db.types import dump_json, load_json
from labledger.errors import ValidationFailed
from labledger.metadata.spec import FieldSpec, decode
from labledger.records.service import create_record, update_record
from labledger.web.forms import parse_value
from tests.definitions import append_as_an_earlier_release

AWKWARD_DECIMALS = [
    6.02214076e23,
    1e23,
    1.7976931348623157e308,
    -1.7976931348623157e308,
    5e-324,
    2.2250738585072014e-308,
    -0.0,
    0.1,
    1e-7,
    123456789.125,
]
AWKWARD_INTEGERS = [2**53 + 1, 2**63 - 1, -(2**63)]


def _reading_type() -> dict[str, Any]:
    return {
        "key": "reading",
        "label": "Reading",
        "plural": "Readings",
        "numbering": "RD-{#####}",
        "title": "{label}",
        "permissions": {"read": ["*"], "create": ["*"], "edit": ["*"]},
        "fields": [
            {"key": "label", "label": "Label", "type": "text"},
            {"key": "value", "label": "Value", "type": "decimal"},
            {"key": "count", "label": "Count", "type": "integer"},
            {"key": "values", "label": "Series", "type": "long_text"},
        ],
    }


@pytest.fixture
def readings(db, publish, make_person):
    publish(_reading_type())
    return make_person("tess", "technician")


def _create(db, person, data):
    with db.write() as conn:
        return create_record(conn, person.principal, "reading", data)


@pytest.mark.parametrize("value", AWKWARD_DECIMALS, ids=repr)
def test_awkward_decimals_keep_the_audit_trail_verifiable(db, readings, value):
    created = _create(db, readings, {"label": "ü 😀 𝄞", "value": value})
    with db.write() as conn:
        update_record(
            conn,
            readings.principal,
            "reading",
            created["id"],
            {"value": value / 2 if value else 1.5},
            expected_version=1,
        )
    with db.read() as conn:
        report = verify(conn)
        stored = conn.execute(select(record.c.data).where(record.c.id == created["id"])).scalar()
    assert report.ok, report.discrepancies
    assert report.records == 1 and report.not_provable == 0
    assert canonical_json(stored["value"]) == canonical_json(value / 2 if value else 1.5)


@pytest.mark.parametrize("value", AWKWARD_INTEGERS, ids=repr)
def test_integers_past_two_to_the_53_keep_every_digit(db, readings, value):
    created = _create(db, readings, {"label": "big", "count": value})
    with db.read() as conn:
        stored = conn.execute(select(record.c.data).where(record.c.id == created["id"])).scalar()
        assert verify(conn).ok
    assert stored["count"] == value and type(stored["count"]) is int


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinities_are_refused_with_a_field_error(db, readings, bad):
    with pytest.raises(ValidationFailed) as refused:
        _create(db, readings, {"label": "bad", "value": bad})
    assert [e.field for e in refused.value.errors] == ["data.value"]
    with db.read() as conn:
        assert conn.execute(select(record.c.id)).first() is None


def test_a_form_value_too_large_for_a_float_is_refused_not_stored_as_infinity(db, readings):
    """The browser's text 1e400 is a finite decimal that no float can hold."""
    field = decode(_reading_type()["fields"][1], FieldSpec)
    typed = parse_value(field, {"value": "1e400"}, "value")
    with pytest.raises(ValidationFailed) as refused:
        _create(db, readings, {"label": "huge", "value": typed})
    assert "finite" in refused.value.errors[0].message


def test_events_hashed_in_the_first_canonical_form_keep_verifying(db, readings):
    """A chain written before canonical form 2 (no hash_version) still verifies.

    The old form wrote 1e23 as int(1e23) = 99999999999999991611392; the new
    writes its decimal 10**23. An old event is checked the old way, and on
    PostgreSQL, which gave the old event's 1e23 back as 10**23, it now
    verifies instead of raising a false alarm forever.
    """
    assert canonical_json(1e23, 1) != canonical_json(1e23)
    append_as_an_earlier_release(db, "note.legacy", hash_version=None, details={"reading": 1e23})
    _create(db, readings, {"label": "after the upgrade", "value": 1e23})
    with db.read() as conn:
        report = verify(conn)
    assert report.ok, report.discrepancies


@pytest.mark.parametrize("value", AWKWARD_DECIMALS, ids=repr)
def test_stored_documents_read_back_as_written(value):
    """The engines' JSON writer (msgspec) and reader give every value back unchanged."""
    document = {"value": value, "count": 2**70, "text": "Größe µg/L"}
    read = load_json(dump_json(document))
    assert read == document and canonical_json(read) == canonical_json(document)


#: Floats either side of every place msgspec and Python write differently: exponents,
#: integral values, the smallest and largest, negative zero.
FLOATS_BOTH_WAYS = [
    *AWKWARD_DECIMALS,
    *(sign * 10.0**exponent for sign in (1, -1) for exponent in range(-12, 25)),
    *(1.5 * 10.0**exponent for exponent in range(-8, 20)),
    0.3333333333333333,
    2.0,
    4.35,
    99999.999,
    1e-4,
    9.999999999999999e15,
]


@pytest.mark.parametrize("value", FLOATS_BOTH_WAYS, ids=repr)
def test_the_fast_canonical_form_is_byte_identical_to_the_exact_one(value):
    """Hashing a record that holds a measured value takes msgspec's encoding whenever it
    writes the float as the canonical form does, and only then."""
    document = {"value": value, "nested": [{"b": value, "a": "µg"}], "n": 2**70}
    assert canonical_json_of_plain(document) == canonical_json(document)


def test_a_string_msgspec_will_not_write_is_written_by_the_standard_library():
    assert load_json(dump_json({"text": "half a pair \ud800"})) == {"text": "half a pair \ud800"}
