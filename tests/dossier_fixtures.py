"""A lot with results, a modified value and a signature: what the dossier tests copy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labledger.db.engine import Database
from labledger.records.service import update_record
from labledger.workflows.engine import run_transition
from labledger.workflows.signing import SignatureInput
from tests.conftest import TEST_PASSWORD
from tests.web.record_fixtures import Lab, create


@dataclass
class SignedLot:
    lot: dict[str, Any]
    results: list[dict[str, Any]]


def signed_lot(db: Database, lab: Lab) -> SignedLot:
    """Lot L-1 whose product was corrected after entry, approved with QA's signature,
    then given notes (a first entry: not modified), so the signature is of an earlier
    version; two results point at it, one out of specification."""
    lot = create(db, lab.analyst, "lot", {"code": "L-1", "product": "Aspirn", "quantity": 20})
    results = [
        create(db, lab.analyst, "result", {"lot": lot["id"], "test": "Assay", "value": 2.5}),
        create(
            db,
            lab.analyst,
            "result",
            {"lot": lot["id"], "test": "pH", "value": 7.25, "explanation": "Retest ordered"},
        ),
    ]
    with db.write() as conn:
        update_record(
            conn,
            lab.analyst.principal,
            "lot",
            lot["id"],
            {"product": "Aspirin"},
            expected_version=1,
            reason="Typing error",
        )
    run_transition(db, lab.analyst.principal, "lot", lot["id"], "submit")
    run_transition(
        db,
        lab.qa.principal,
        "lot",
        lot["id"],
        "approve",
        signature=SignatureInput("quinn", TEST_PASSWORD),
    )
    with db.write() as conn:
        lot = update_record(
            conn,
            lab.analyst.principal,
            "lot",
            lot["id"],
            {"notes": "Label reprinted"},
            expected_version=4,
            reason="Note added",
        )
    return SignedLot(lot, results)
