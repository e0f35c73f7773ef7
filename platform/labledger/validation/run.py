"""A qualification run: a scratch copy, every generated case, and the audit trail of the
copy verified at the end (each change a case made has its event, the chain holds)."""

from __future__ import annotations

from datetime import UTC, datetime

from labledger.audit.verify import verify
from labledger.changes.store import load
from labledger.db.engine import Database
from labledger.validation.cases import Case
from labledger.validation.print_cases import print_cases
from labledger.validation.report import Report
from labledger.validation.scratch import scratch_copy
from labledger.validation.type_cases import type_cases
from labledger.validation.workflow_cases import workflow_cases

AUDIT = "21 CFR 11.10(e); EU Annex 11 §9 (audit trail)"


def qualify(source: Database, change_id: int | None = None) -> Report:
    """Generate and run the cases of ``source``'s configuration (with ``change_id``: as
    that change request would leave it); nothing is written there."""
    proposal = None
    if change_id is not None:
        with source.read() as conn:
            proposal = load(conn, change_id)
    with scratch_copy(source, proposal) as scratch:
        report = Report.of(scratch.configuration, scratch.db.dialect)
        if proposal is not None:
            report.change_request = proposal.label
        report.cases += type_cases(scratch)
        report.cases += workflow_cases(scratch)
        report.cases += print_cases(scratch)
        report.cases.append(_audit_case(scratch.db))
    report.finished = datetime.now(UTC)
    return report


def _audit_case(db: Database) -> Case:
    case = Case(
        id="OQ-audit-verify",
        area="Audit trail",
        serves=AUDIT,
        title="Every change the cases made is on the audit trail, and the chain verifies",
        inputs="audit verify over the scratch copy",
        expected="intact",
    )
    with db.read() as conn:
        result = verify(conn)
    (case.passed if result.ok else case.failed)(result.summary())
    return case
