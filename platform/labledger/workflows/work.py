"""A person's work: per type and state, the records waiting for a step they may take.

For each type the person may read, the workflow tells which states have a
transition their roles may run; only records in those states are
candidates. Each such (type, state) is one *queue*: its records are counted
exactly with one indexed query, and listed a page at a time, overdue first
(earliest due date first where the type has a due date), else oldest
first, paged by cursor like every list: no cap hides work. Each record on a
page is checked in full with ``available_transitions``, the same answer the
record page and the API give, so a record shows only where the step is
really the person's: not one another role or separation of duties keeps
from them.

A record whose step waits only for data (a field to fill in, a guard on
values) is the person's work too when they may edit it: it waits for their
*data entry*, and the queue leads to the grid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from msgspec import UnsetType
from sqlalchemy import Connection, func, select

from labledger.db.jsonfields import type_key_literal
from labledger.db.tables import record
from labledger.db.types import utc_now
from labledger.errors import Forbidden, NotFound
from labledger.identity.principal import Principal
from labledger.metadata import versions
from labledger.metadata.model import TypeModel
from labledger.metadata.spec import TransitionSpec
from labledger.metadata.spec.fields import DateTimeField, ReferenceField
from labledger.metadata.types import KIND, readable_model
from labledger.records.query import ListQuery, list_records
from labledger.records.states import final_states
from labledger.workflows.checks import FIELDS, GUARD
from labledger.workflows.engine import available_transitions
from labledger.workflows.model import workflow_model

#: Records of one queue on one page.
PAGE_SIZE = 20
#: What may stop a step that still counts as the person's work: data they can enter.
_DATA_BLOCKERS = frozenset({FIELDS, GUARD})


@dataclass
class WorkItem:
    record: dict[str, Any]
    #: The transitions the person may run now (from ``available_transitions``).
    transitions: list[dict[str, Any]]
    overdue: bool
    #: The person's step waits for data they may enter (fields, values a guard checks).
    needs_entry: bool = False

    @property
    def needs_signature(self) -> bool:
        return any(t["signature"] for t in self.transitions)


@dataclass
class Queue:
    """The records of one type in one state where the person has a step: one page of them."""

    model: TypeModel
    state: str
    state_label: str
    #: Records in the state (all of them, whoever's they are).
    count: int
    #: The person's steps from this state, for acting on several records at once.
    steps: list[TransitionSpec]
    #: The reference field that names a record's parent (sample → its results), if any.
    parent_field: str | None
    items: list[WorkItem] = field(default_factory=list)
    #: Where the next page starts (None: this is the last).
    next_cursor: str | None = None

    @property
    def key(self) -> str:
        return f"{self.model.key}.{self.state}"

    @property
    def signing(self) -> int:
        return sum(item.needs_signature for item in self.items)

    @property
    def entry(self) -> list[WorkItem]:
        return [item for item in self.items if item.needs_entry]

    def by_parent(self) -> list[tuple[int | None, list[WorkItem]]]:
        """The page's items grouped under their parent record, in page order."""
        groups: dict[int | None, list[WorkItem]] = {}
        for item in self.items:
            parent = item.record["data"].get(self.parent_field) if self.parent_field else None
            groups.setdefault(parent if isinstance(parent, int) else None, []).append(item)
        return list(groups.items())


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


def parent_field(model: TypeModel) -> str | None:
    """The reference that makes a record some other record's child: the one its number
    follows (``child_numbering``), else its only single reference."""
    numbering = model.spec.child_numbering
    if not isinstance(numbering, UnsetType):
        return numbering.field
    single = [
        k for k, f in model.field_specs.items() if isinstance(f, ReferenceField) and not f.multiple
    ]
    return single[0] if len(single) == 1 else None


def _order(model: TypeModel) -> str:
    """Overdue first: earliest due date first where the type has one to sort by, else the
    oldest first."""
    due = model.spec.due_field
    return due if due and model.field_specs[due].filterable else "created_at"


def _count(conn: Connection, model: TypeModel, state: str) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(record)
            .where(record.c.type_key == type_key_literal(model.key), record.c.state == state)
        ).scalar_one()
    )


def _item(
    conn: Connection,
    actor: Principal,
    model: TypeModel,
    rec: dict[str, Any],
    late: bool,
    may_edit: bool,
) -> WorkItem | None:
    """The record as the person's work: what they may run on it now, or what it waits
    for them to enter; None when it is not theirs to act on."""
    options = available_transitions(conn, actor, model.key, rec["id"])
    allowed = [t for t in options if t["allowed"]]
    if allowed:
        return WorkItem(rec, allowed, late)
    waiting = any({w["kind"] for w in t["why_not"]} <= _DATA_BLOCKERS for t in options)
    return WorkItem(rec, [], late, needs_entry=True) if may_edit and waiting else None


def queue_page(
    conn: Connection,
    actor: Principal,
    model: TypeModel,
    state: str,
    *,
    cursor: str | None = None,
    page_size: int = PAGE_SIZE,
) -> Queue:
    """One page of the person's queue of ``model`` records in ``state``."""
    workflow = workflow_model(conn, model.workflow) if model.workflow else None
    found = workflow.state_specs.get(state) if workflow else None
    if workflow is None or found is None:
        raise NotFound(f"{model.spec.plural} have no state '{state}'.")
    steps = [t for t in workflow.from_state(state) if actor.has_any_role(t.roles)]
    queue = Queue(
        model=model,
        state=state,
        state_label=found.label,
        count=_count(conn, model, state) if steps else 0,
        steps=steps,
        parent_field=parent_field(model),
    )
    if not queue.count:
        return queue
    listed = list_records(
        conn,
        model,
        ListQuery(state=[state], sort=_order(model), cursor=cursor, limit=page_size),
        actor=actor,
    )
    overdue, may_edit = overdue_check(conn, model), model.allows(actor, "edit")
    for rec in listed["items"]:
        item = _item(conn, actor, model, rec, overdue(rec), may_edit)
        if item is not None:
            queue.items.append(item)
    queue.next_cursor = listed["next"]
    return queue


def my_work(conn: Connection, actor: Principal, *, page_size: int = PAGE_SIZE // 2) -> list[Queue]:
    """The person's queues with work in them, by type and then in workflow state order,
    each with its first page."""
    result = []
    for key in versions.keys(conn, KIND):
        try:
            model = readable_model(conn, actor, key)
        except Forbidden:
            continue
        if not model.workflow:
            continue
        workflow = workflow_model(conn, model.workflow)
        mine = {
            s for t in workflow.spec.transitions if actor.has_any_role(t.roles) for s in t.from_
        }
        for state in (s.key for s in workflow.spec.states if s.key in mine):
            queue = queue_page(conn, actor, model, state, page_size=page_size)
            if queue.items or queue.next_cursor:
                result.append(queue)
    return result
