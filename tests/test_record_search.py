"""Finding records by the start of their number or title (reference boxes): any case,
numbers first, each record once, only the type asked for, bounded; the indexes it reads
are in the collation its ranges need."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from labledger.metadata.types import type_model
from labledger.records.create import RecordBatch
from labledger.records.search import MAX_MATCHES, records_starting_with
from tests.web.record_fixtures import create, lot_type, make_lab


@pytest.fixture
def lab(db, make_person):
    return make_lab(db, make_person)


def _found(db, type_key: str, typed: str, **kwargs: Any) -> list[str]:
    with db.read() as conn:
        found = records_starting_with(conn, type_model(conn, type_key), typed, **kwargs)
    return [item["title"] for item in found]


def test_the_start_of_a_number_or_a_title_in_any_case(db, lab):
    ph = create(db, lab.analyst, "lot", {"code": "PH-01", "product": "pH buffer"})
    create(db, lab.analyst, "lot", {"code": "PH-02", "product": "pH buffer"})
    create(db, lab.analyst, "lot", {"code": "COND-1", "product": "Conductivity PH-01 check"})
    create(db, lab.analyst, "result", {"lot": ph["id"], "test": "PH-01 of the result"})
    assert _found(db, "lot", "ph-01") == ["PH-01 pH buffer"], "not the middle of a title"
    assert _found(db, "lot", "  PH-0 ") == ["PH-01 pH buffer", "PH-02 pH buffer"]
    assert _found(db, "lot", ph["number"].lower()) == ["PH-01 pH buffer"], "by number"
    assert _found(db, "lot", "") == []


def test_numbers_lead_and_each_record_shows_once(db, lab):
    first = create(db, lab.analyst, "lot", {"code": "A-1"})
    numbered = create(db, lab.analyst, "lot", {"code": first["number"]})  # title = a number
    assert [t for t in _found(db, "lot", first["number"])] == [
        first["title"],
        numbered["title"],
    ]


def test_the_answer_is_bounded(db, lab):
    with db.write() as conn:
        batch = RecordBatch(conn, lab.analyst.principal, "lot")
        for i in range(MAX_MATCHES + 5):
            batch.add({"code": f"BULK-{i:03d}"})
        batch.store()
    assert len(_found(db, "lot", "bulk")) == MAX_MATCHES
    assert len(_found(db, "lot", "bulk", limit=3)) == 3


def test_the_prefix_indexes_are_in_the_c_collation_on_postgresql(db):
    """Schema comparison cannot see an index's collation: only in "C" do all strings
    sharing a prefix sort together, which the range search relies on."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite compares text byte by byte")
    with db.read() as conn:
        collations = conn.execute(
            text(
                "SELECT c.relname, coll.collname FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_collation coll ON coll.oid = i.indcollation[1] "
                "WHERE i.indrelid = 'record'::regclass AND c.relname LIKE 'ix_record_%_prefix'"
            )
        ).all()
    assert sorted(collations) == [("ix_record_number_prefix", "C"), ("ix_record_title_prefix", "C")]


def test_a_text_summary_field_is_searched_by_its_start_as_typed(db, make_person):
    make_lab(db, make_person, lot=lot_type(summary_fields=["product", "code"]))
    person = make_person("sam", "analyst")
    create(db, person, "lot", {"code": "Z-1", "product": "Paracetamol 500"})
    create(db, person, "lot", {"code": "Z-2", "product": "Aspirin"})
    assert _found(db, "lot", "Paracet") == ["Z-1 Paracetamol 500"], "not its title's start"
    assert _found(db, "lot", "paracet") == [], "summary fields are matched as typed"
    assert _found(db, "lot", "Parx") == []
