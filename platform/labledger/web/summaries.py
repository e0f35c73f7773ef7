"""A record at a glance: its summary fields as people read them, and its flags.

Work queues, pickers and signing dialogs show the same few values of a
record (the type's ``summary_fields``, else its list columns), so a reviewer
sees what a result says, its limits and whether it is out of specification
before signing it. Lookups (referenced records' numbers) are made once for
all the records shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from labledger.identity.principal import Principal
from labledger.metadata.model import TypeModel
from labledger.web.display import Formatter, Shown


@dataclass(frozen=True)
class SummaryCell:
    label: str
    shown: Shown


@dataclass(frozen=True)
class RecordSummary:
    record: dict[str, Any]
    #: The summary fields that hold a value, in the type's order.
    cells: list[SummaryCell]
    #: Labels of the record's computed flags that are on (out of specification, ...).
    flags: list[str]

    @property
    def flagged(self) -> bool:
        return bool(self.flags)


def summarise(
    conn: Connection, actor: Principal, model: TypeModel, records: Sequence[dict[str, Any]]
) -> list[RecordSummary]:
    """Each of ``records`` (record views of ``model``) with its summary and flags."""
    fmt = Formatter.load(conn, actor, model, [r["data"] for r in records])
    specs = model.field_specs
    summaries = []
    for rec in records:
        data = rec["data"]
        shown = ((specs[k].label, fmt.value(specs[k], data.get(k))) for k in model.summary_keys)
        summaries.append(
            RecordSummary(
                rec,
                [SummaryCell(label, value) for label, value in shown if not value.empty],
                [specs[k].label for k in model.alarms(data)],
            )
        )
    return summaries
