"""What an import did or would do, and the import runs as the API and pages show them.

One report answers a dry run, an applied import and a refused one, row by row,
as data (``as_dict``) and as readable lines (``lines``); applied runs are kept
in ``import_run`` and listed from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, select

from labledger.db.integration_tables import import_run
from labledger.errors import FieldError, NotFound, ValidationFailed
from labledger.identity.principal import Principal
from labledger.integration.mappings import Mapping
from labledger.integration.rows import CREATE, ERROR, UNCHANGED, UPDATE, Row, RowError
from labledger.metadata.types import list_types


@dataclass
class ImportReport:
    """What an import did or would do, row by row."""

    mapping: Mapping
    filename: str
    sha256: str
    size: int
    rows: list[Row]
    dry_run: bool = True
    applied: bool = False
    import_id: int | None = None
    audit_seq: int | None = None

    @property
    def mode(self) -> str:
        """The mapping's mode: "atomic" (all rows or none) or row by row."""
        return self.mapping.spec.mode

    @property
    def errors(self) -> list[RowError]:
        return [e for row in self.rows for e in row.errors]

    @property
    def counts(self) -> dict[str, int]:
        result = {"rows": len(self.rows), CREATE: 0, UPDATE: 0, UNCHANGED: 0, ERROR: 0}
        for row in self.rows:
            result[row.action] += 1
        return result

    def as_dict(self) -> dict[str, Any]:
        return {
            "mapping": self.mapping.key,
            "mapping_version": self.mapping.version,
            "type": self.mapping.target,
            "file": self.filename,
            "sha256": self.sha256,
            "size": self.size,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "applied": self.applied,
            "import": self.import_id,
            "counts": self.counts,
            "errors": [e.as_dict() for e in self.errors],
            "rows": [
                {
                    "line": row.line,
                    "action": row.action,
                    "record": row.record,
                    "data": row.data,
                    "errors": [e.as_dict() for e in row.errors],
                }
                for row in self.rows
            ],
        }

    def summary(self) -> str:
        counts = self.counts
        parts = ", ".join(
            f"{counts[k]} {k}" for k in (CREATE, UPDATE, UNCHANGED, ERROR) if counts[k]
        )
        if self.applied:
            outcome = f"applied as import {self.import_id}"
        elif self.dry_run:
            outcome = "dry run, nothing written"
        else:
            outcome = "NOT applied, nothing written"
        return f"{self.filename}: {counts['rows']} rows ({parts or 'none'}); {outcome}"

    def lines(self, limit: int | None = None) -> list[str]:
        """The summary and each row error, one per line (the first ``limit`` errors)."""
        errors = self.errors
        shown = errors if limit is None else errors[:limit]
        result = [self.summary(), *(e.text() for e in shown)]
        if len(shown) < len(errors):
            result.append(f"... and {len(errors) - len(shown)} more errors")
        return result


def import_view(row: Any, *, details: bool = False) -> dict[str, Any]:
    """An import run as the API lists it; ``details`` adds produced rows and errors."""
    view = {
        "id": row["id"],
        "mapping": row["mapping_key"],
        "mapping_version": row["mapping_version"],
        "type": row["target_type"],
        "file": row["filename"],
        "sha256": row["sha256"],
        "size": row["size"],
        "mode": row["mode"],
        "actor": row["actor"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "counts": row["counts"],
        "audit_seq": row["audit_seq"],
    }
    if details:
        view["produced"] = [
            {"line": line, "action": action, "record": {"id": rid, "number": number}}
            for line, action, rid, number in row["produced"]
        ]
        view["errors"] = row["errors"]
    return view


def _readable_types(conn: Connection, actor: Principal) -> list[str]:
    """The types whose imports the caller may see: those it may read."""
    return [t["key"] for t in list_types(conn, actor)]


def list_imports(
    conn: Connection,
    actor: Principal,
    *,
    mapping_key: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """Applied imports, newest first, into the types the caller may read (all for a
    configurer). Returns ``{"items": [...], "next": <before for the next page> or None}``.
    """
    if not 1 <= limit <= 500:
        raise ValidationFailed("Bad paging.", [FieldError("limit", "must be 1 to 500")])
    conditions: list[ColumnElement[bool]] = [
        import_run.c.target_type.in_(_readable_types(conn, actor))
    ]
    if mapping_key:
        conditions.append(import_run.c.mapping_key == mapping_key)
    if before:
        conditions.append(import_run.c.id < before)
    columns = [c for c in import_run.c if c.key not in ("produced", "errors")]
    rows = list(
        conn.execute(
            select(*columns).where(*conditions).order_by(import_run.c.id.desc()).limit(limit + 1)
        ).mappings()
    )
    items = [import_view(r) for r in rows[:limit]]
    return {"items": items, "next": items[-1]["id"] if len(rows) > limit else None}


def get_import(conn: Connection, actor: Principal, import_id: int) -> dict[str, Any]:
    """One import run with every row it produced and every row error."""
    row = conn.execute(select(import_run).where(import_run.c.id == import_id)).mappings().first()
    if row is None or row["target_type"] not in _readable_types(conn, actor):
        raise NotFound(f"There is no import {import_id}.")
    return import_view(row, details=True)
