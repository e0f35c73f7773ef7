"""The instrument mapping shipped in the LIMS bundle: values an instrument exported
reach their results, traceably, and a bad file writes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from labledger.db.engine import Database
from labledger.db.tables import audit_event
from labledger.integration.importer import apply_import, preview_import
from tests.test_seed_lims import records_of
from tests.test_seed_lims_rules import Lims


@pytest.fixture
def db(lims_db: Database) -> Database:
    """The shipped LIMS configuration with its demo data, prepared once (see conftest)."""
    return lims_db


@pytest.fixture
def lims(db) -> Lims:
    return Lims(db)


def _pending_results(db, count: int) -> list[dict]:
    pending = [r for r in records_of(db, "result") if r["state"] == "pending"]
    return sorted(pending, key=lambda r: r["number"])[:count]


def test_an_instrument_file_fills_pending_results(lims):
    first, second = _pending_results(lims.db, 2)
    csv = (
        "Result,Value,Instrument,Remarks\n"
        f"{first['number']},7.25,PH-01,duplicate within limits\n"
        f"{second['number']},1,,\n"
    ).encode()
    tina = lims.people["tina"]
    preview = preview_import(lims.db, tina, "instrument_results", csv, "ph.csv")
    actions = [(row.line, row.action) for row in preview.rows]
    assert actions == [(2, "update"), (3, "update")], preview.lines()
    report = apply_import(lims.db, tina, "instrument_results", csv, "ph.csv")
    assert report.applied and not report.errors
    updated = {r["number"]: r for r in records_of(lims.db, "result")}
    assert Decimal(str(updated[first["number"]]["data"]["value"])) == Decimal("7.25")
    assert updated[first["number"]]["data"]["instrument"] == lims.id_of(
        lims.number_of("instrument", identifier="PH-01")
    )
    assert updated[first["number"]]["data"]["remarks"] == "duplicate within limits"
    with lims.db.read() as conn:
        details = (
            conn.execute(
                select(audit_event.c.details)
                .where(audit_event.c.record_id == first["id"])
                .order_by(audit_event.c.seq.desc())
            )
            .scalars()
            .first()
        )
    assert details == {"import": report.import_id, "line": 2}


def test_an_unknown_result_number_writes_nothing(lims):
    (first,) = _pending_results(lims.db, 1)
    csv = f"Result,Value\n{first['number']},7.25\nRES-0000-99999,1\n".encode()
    before = records_of(lims.db, "result")
    report = apply_import(lims.db, lims.people["tina"], "instrument_results", csv, "bad.csv")
    assert not report.applied
    assert [(e.line, e.column) for e in report.errors] == [(3, "Result")]
    assert records_of(lims.db, "result") == before
