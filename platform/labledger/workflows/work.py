"""A person's work: records waiting for a step they may take now, overdue ones first.

Checking every record in the system against every guard would grow with the
table. Instead, for each type the person may read, the workflow tells which
states have a transition their roles may run; only records in those states
are candidates. They are counted per state with one indexed query, and at
most ``per_type`` of them (overdue first, then oldest first) are checked in
full with ``available_transitions``, the same answer the record page and
the API give. Counting stops at ``COUNT_CAP`` per state, so a state where
a hundred thousand records wait costs no more than one where a thousand do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select

from labledger.db.jsonfields import type_key_literal
from labledger.db.tables import record
from labledger.db.types import utc_now
from labledger.errors import Forbidden
from labledger.identity.principal import Principal
from labledger.metadata import versions
from labledger.metadata.model import TypeModel
from labledger.metadata.spec.fields import DateTimeField
from labledger.metadata.types import KIND, readable_model
from labledger.records.query import ListQuery, list_records
from labledger.records.states import final_states
from labledger.workflows.engine import available_transitions
from labledger.workflows.model import workflow_model

#: Counts per state stop here ("1000+"): beyond, the exact number helps nobody plan a day.
COUNT_CAP = 1000


@dataclass
class WorkItem:
    record: dict[str, Any]
    #: The transitions the person may run now (from ``available_transitions``).
    transitions: list[dict[str, Any]]
    overdue: bool

    @property
    def needs_signature(self) -> bool:
        return any(t["signature"] for t in self.transitions)


@dataclass
class TypeWork:
    key: str
    label: str
    plural: str
    #: State key -> label, in the workflow's order.
    state_labels: dict[str, str]
    #: Records per state in the states where the person has a step (at most COUNT_CAP + 1).
    counts: dict[str, int]
    #: Where counting stopped: a count above it reads "cap+".
    cap: int
    items: list[WorkItem] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def by_state(self) -> list[tuple[str, list[WorkItem]]]:
        """The checked items grouped by state, in the workflow's order."""
        return [
            (state, [i for i in self.items if i.record["state"] == state])
            for state in self.state_labels
            if any(i.record["state"] == state for i in self.items)
        ]


def overdue_check(conn: Connection, model: TypeModel) -> Callable[[dict[str, Any]], bool]:
    """A test for records of ``model``: past the due date and not in a final state.

    The same rule as the list's overdue filter; the workflow is read once for
    a whole page of records.
    """
    due_key = model.spec.due_field
    if not due_key:
        return lambda _row: False
    now = utc_now()
    limit = (
        now.strftime("%Y-%m-%dT%H:%M:%SZ")
        if isinstance(model.field_specs[due_key], DateTimeField)
        else now.date().isoformat()
    )
    finals = set(final_states(conn, model))

    def overdue(row: dict[str, Any]) -> bool:
        due = row["data"].get(due_key)
        return bool(due) and str(due) < limit and row["state"] not in finals

    return overdue


def _type_work(
    conn: Connection, actor: Principal, model: TypeModel, per_type: int
) -> TypeWork | None:
    workflow = workflow_model(conn, model.workflow or "")
    mine = [t for t in workflow.spec.transitions if actor.has_any_role(t.roles)]
    states = sorted({state for t in mine for state in t.from_})
    if not states:
        return None
    counts, cap = {}, COUNT_CAP
    for state in states:
        waiting = (
            select(record.c.id)
            .where(record.c.type_key == type_key_literal(model.key), record.c.state == state)
            .limit(cap + 1)
            .subquery()
        )
        found = conn.execute(select(func.count()).select_from(waiting)).scalar_one()
        if found:
            counts[state] = found
    work = TypeWork(
        key=model.key,
        label=model.label,
        plural=model.spec.plural,
        state_labels={s.key: s.label for s in workflow.spec.states if s.key in counts},
        counts={s.key: counts[s.key] for s in workflow.spec.states if s.key in counts},
        cap=cap,
    )
    if not counts:
        return work
    candidates: dict[int, tuple[dict[str, Any], bool]] = {}
    if model.spec.due_field:
        overdue = ListQuery(state=states, overdue=True, sort="created_at", limit=per_type)
        for item in list_records(conn, model, overdue)["items"]:
            candidates[item["id"]] = (item, True)
    if len(candidates) < per_type:
        oldest = ListQuery(state=states, sort="created_at", limit=per_type)
        for item in list_records(conn, model, oldest)["items"]:
            candidates.setdefault(item["id"], (item, False))
    for item, late in list(candidates.values())[:per_type]:
        allowed = [
            t for t in available_transitions(conn, actor, model.key, item["id"]) if t["allowed"]
        ]
        if allowed:
            work.items.append(WorkItem(item, allowed, late))
    return work


def my_work(conn: Connection, actor: Principal, *, per_type: int = 25) -> list[TypeWork]:
    """For each readable type with a workflow: counts per state and the records to act on."""
    result = []
    for key in versions.keys(conn, KIND):
        try:
            model = readable_model(conn, actor, key)
        except Forbidden:
            continue
        if not model.workflow:
            continue
        work = _type_work(conn, actor, model, per_type)
        if work is not None and work.total:
            result.append(work)
    return result
