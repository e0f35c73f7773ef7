"""Where a record came from: a record migrated from another system says so for ever.

A migration (``labledger.bundles.migration``) marks the creating audit event
of each record it writes with the SHA-256 of its source file; the record
page and every printout show it. The marker is record data, read here so
that printing and the pages need not reach up into bundles.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from labledger.db.tables import audit_event

#: The key of the creating audit event's details that marks a migrated record.
MIGRATION_DETAIL = "migration"


def migration_detail(source_sha256: str) -> dict[str, Any]:
    """The marker a migrated record's creating audit event carries."""
    return {MIGRATION_DETAIL: {"source_sha256": source_sha256}}


def migrations_of(conn: Connection, record_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The migration marker (``{"source_sha256": ...}``) of each migrated record among these."""
    if not record_ids:
        return {}
    rows = conn.execute(
        select(audit_event.c.record_id, audit_event.c.details).where(
            audit_event.c.record_id.in_(record_ids), audit_event.c.action == "record.create"
        )
    )
    return {
        row.record_id: row.details[MIGRATION_DETAIL]
        for row in rows
        if isinstance(row.details, dict) and MIGRATION_DETAIL in row.details
    }


def migration_notice(number: str, marker: dict[str, Any]) -> str:
    """What the record page and every printout say about a migrated record."""
    return (
        f"{number} was migrated from another system with its history (state and system-set "
        f"values as that system recorded them); source file SHA-256 {marker['source_sha256']}."
    )
