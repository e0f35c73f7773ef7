"""Creating, updating and reading records: the rules every front end shares.

Each write runs in the caller's transaction and writes, in that same
transaction, the record row, its reference rows, its audit event with
field-level old and new values, and its outbox event. Updates are
optimistic: they name the version the client saw, and a stale version is
refused without touching anything.

The work is done in ``records.checks`` (field checks, reasons),
``records.create``, ``records.update``, ``records.references`` (reference
and attachment rows), ``records.states`` (what a workflow state allows) and
``records.views``; this module is the one place front ends import them from.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from labledger.identity.principal import Principal
from labledger.metadata.types import readable_model
from labledger.records.checks import REASON_MAX, checked_data, expression_context, field_check
from labledger.records.create import RecordBatch, create_record
from labledger.records.references import bind_attachments, write_references
from labledger.records.states import StateRules, state_rules
from labledger.records.update import RecordChanges, update_record
from labledger.records.views import load_row, record_view

__all__ = [
    "REASON_MAX",
    "RecordBatch",
    "RecordChanges",
    "StateRules",
    "bind_attachments",
    "checked_data",
    "create_record",
    "expression_context",
    "field_check",
    "get_record",
    "load_row",
    "record_view",
    "state_rules",
    "update_record",
    "write_references",
]


def get_record(conn: Connection, actor: Principal, type_key: str, record_id: int) -> dict[str, Any]:
    """A record the actor may read, as the API and the UI read it."""
    readable_model(conn, actor, type_key)
    return record_view(load_row(conn, type_key, record_id))
