"""A qualification run kept in the installation: a record of the ``validation_run`` type
(the shipped ``validation`` bundle) with the report as its file, for a validation
reviewer to sign ("Validation review").

The record is the platform's, written as the system: nobody types these values
(no role may create the type's records), and the audit trail shows the run
like any other record.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from labledger import __version__
from labledger.changes.validation_runs import RUN_TYPE
from labledger.errors import NotFound
from labledger.identity.principal import SYSTEM
from labledger.metadata import versions
from labledger.metadata.types import KIND
from labledger.records.attachments import store_attachment
from labledger.records.create import create_record
from labledger.validation.cases import FAILED, MANUAL, PASSED
from labledger.validation.report import Report


def record_run(conn: Connection, report: Report, *, max_bytes: int) -> str:
    """Store ``report`` as a new validation run; returns its number."""
    if versions.current(conn, KIND, RUN_TYPE) is None:
        raise NotFound(
            "Validation runs are not configured here: load the 'validation' bundle "
            "(seeds/validation) to keep them."
        )
    stored = store_attachment(
        conn,
        SYSTEM,
        filename="validation-report.html",
        content_type="text/html",
        content=report.html().encode("utf-8"),
        max_bytes=max_bytes,
    )
    counts = report.counts
    data = {
        "configuration_hash": report.configuration_hash,
        "platform_version": __version__,
        "database": report.database,
        "started_at": _moment(report.started),
        "finished_at": _moment(report.finished) if report.finished else None,
        "cases": len(report.cases),
        "passed": counts[PASSED],
        "failed": counts[FAILED],
        "manual": counts[MANUAL],
        "report": stored["id"],
        "change_request": report.change_request,
    }
    made = create_record(conn, SYSTEM, RUN_TYPE, data, skip_permission=True)
    return str(made["number"])


def _moment(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
