"""What a proposed configuration change means for the records stored now.

Before QA signs a change request (EU GMP Annex 11 §10), they see, for every
object type the change touches (the types it changes and the types following
a workflow it changes): how many records the type has and in which states,
the states whose rules change and how many records are in them, and the open
records (not in a final state of the proposed workflow) that would break the
new rules, each with its problems in words.

The database does the counting: one GROUP BY over the type's states (index
``ix_record_type_state_created``), one pass of conditional sums over its open records
and one LIMITed query for the records listed, so a type with a million
records answers in seconds and Python reads at most ``LISTED_RECORDS`` of
them, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Integer, case, func, literal_column, or_, select

from labledger.changes.new_rules import CHEAPEST_FIRST, NewRule, in_states, new_rules
from labledger.changes.rules import Rules, state_rule_changes
from labledger.db.tables import record
from labledger.errors import FieldError, ValidationFailed
from labledger.metadata import versions
from labledger.metadata.messages import decode_checked
from labledger.metadata.spec import ObjectTypeSpec, WorkflowSpec
from labledger.metadata.types import KIND as TYPE_KIND
from labledger.metadata.types import type_model
from labledger.records.states import WORKFLOW_KIND
from labledger.workflows.model import workflow_model

#: The most failing records one type's report lists; its counts are always complete.
LISTED_RECORDS = 100


@dataclass(frozen=True)
class StateCount:
    """How many records of the type are in one state."""

    #: None for records of a type without a workflow.
    state: str | None
    #: From the proposed workflow, or the current one when the proposed has no such state.
    label: str
    records: int
    #: Final in the proposed workflow: its records are not checked against the new rules.
    final: bool
    #: The proposed workflow has no such state, yet records are in it.
    removed: bool


@dataclass(frozen=True)
class StateRulesChange:
    """A state of the current workflow whose rules the change alters."""

    state: str
    label: str
    #: In words, e.g. "the fields required in it change".
    changes: tuple[str, ...]
    #: Records in the state now.
    records: int


@dataclass(frozen=True)
class Problem:
    """One new rule, and how many open records break it."""

    field: str
    #: "required", "minimum", "maximum", "max_length" or "options".
    rule: str
    #: In words, e.g. '"pH" above the new maximum 9.0'.
    summary: str
    records: int


@dataclass(frozen=True)
class FailingRecord:
    """An open record that would break the new rules."""

    number: str
    state: str | None
    #: In words, e.g. ('no value for "pH"', '"pH" 9.1 above the new maximum 9.0').
    problems: tuple[str, ...]


@dataclass(frozen=True)
class TypeImpact:
    """What the change means for the records of one object type."""

    type_key: str
    #: The proposed label (the current one when the type itself is not changed).
    label: str
    records: int
    #: The states records are in, in the proposed workflow's order.
    states: tuple[StateCount, ...]
    changed_states: tuple[StateRulesChange, ...]
    #: The new rules open records break, with how many break each.
    problems: tuple[Problem, ...]
    #: Open records that break at least one new rule, all of them.
    failing: int
    #: The first of them by id, at most ``LISTED_RECORDS``.
    listed: tuple[FailingRecord, ...]

    @property
    def records_in_changed_states(self) -> int:
        return sum(change.records for change in self.changed_states)


def change_impact(
    conn: Connection, proposed: Mapping[tuple[str, str], dict[str, Any]]
) -> list[TypeImpact]:
    """The impact of ``proposed`` ((kind, key) -> proposed definition; kinds other than
    object types and workflows are left aside) on the records stored now, type by type
    in key order. A proposed definition that does not decode is refused
    (``ValidationFailed``, its path starting with its kind and key)."""
    types = _decoded(proposed, TYPE_KIND, ObjectTypeSpec)
    workflows = _decoded(proposed, WORKFLOW_KIND, WorkflowSpec)
    stored = {key: type_model(conn, key).spec for key in versions.keys(conn, TYPE_KIND)}
    keys = set(types) | {key for key, spec in stored.items() if spec.workflow in workflows}
    impacts = []
    for key in sorted(keys):
        current = stored.get(key)
        new = types.get(key, current)
        before = Rules(current, _workflow(conn, current, {}))
        after = Rules(new, _workflow(conn, new, workflows))
        impacts.append(_type_impact(conn, key, before, after))
    return impacts


SpecT = TypeVar("SpecT", ObjectTypeSpec, WorkflowSpec)


def _decoded(
    proposed: Mapping[tuple[str, str], dict[str, Any]], kind: str, struct: type[SpecT]
) -> dict[str, SpecT]:
    """The proposed definitions of ``kind`` by key, decoded."""
    decoded = {}
    for (item_kind, key), body in proposed.items():
        if item_kind != kind:
            continue
        spec = decode_checked(body, struct, f"{kind}.{key}")
        if spec.key != key:
            raise ValidationFailed(
                "The definition is not valid.",
                [FieldError(f"{kind}.{key}.key", f"must be '{key}', the key it is proposed as")],
            )
        decoded[key] = spec
    return decoded


def _workflow(
    conn: Connection, spec: ObjectTypeSpec | None, proposed: Mapping[str, WorkflowSpec]
) -> WorkflowSpec | None:
    """The workflow ``spec`` follows: as ``proposed``, else as stored (None: it follows none)."""
    if spec is None or spec.workflow is None:
        return None
    found = proposed.get(spec.workflow)
    return found if found is not None else workflow_model(conn, spec.workflow).spec


def _type_impact(conn: Connection, key: str, current: Rules, proposed: Rules) -> TypeImpact:
    """The impact on type ``key``: its records counted per state first, which tells the
    open states the other two queries look at."""
    counts: dict[str | None, int] = {
        state: count
        for state, count in conn.execute(
            select(record.c.state, func.count())
            .where(record.c.type_key == key)
            .group_by(record.c.state)
        )
    }
    open_states = [state for state in counts if state not in proposed.final_states]
    rules = new_rules(conn.dialect.name, current, proposed, open_states) if open_states else []
    where = [record.c.type_key == key]
    if len(open_states) < len(counts):
        where.append(in_states(open_states))
    problems, failing = _problem_counts(conn, rules, where)
    listed = _failing_records(conn, rules, where) if failing else ()
    label = proposed.type.label if proposed.type is not None else key
    return TypeImpact(
        type_key=key,
        label=label,
        records=sum(counts.values()),
        states=_state_counts(counts, current, proposed),
        changed_states=tuple(
            StateRulesChange(state, _label(state, current, proposed), changes, counts.get(state, 0))
            for state in current.states
            if (changes := state_rule_changes(current, proposed, state))
        ),
        problems=problems,
        failing=failing,
        listed=listed,
    )


def _label(state: str | None, current: Rules, proposed: Rules) -> str:
    """The state's label in the proposed workflow, else in the current one."""
    return (proposed if state in proposed.states else current).state_label(state)


def _state_counts(
    counts: Mapping[str | None, int], current: Rules, proposed: Rules
) -> tuple[StateCount, ...]:
    """The states records are in: in the proposed workflow's order, then the current's."""
    known = dict.fromkeys([*proposed.states, *current.states])
    order: dict[str | None, int] = {state: index for index, state in enumerate(known)}
    ordered = sorted(counts, key=lambda state: (order.get(state, len(order)), state or ""))
    return tuple(
        StateCount(
            state=state,
            label=_label(state, current, proposed),
            records=counts[state],
            final=state in proposed.final_states,
            removed=state is not None and state not in proposed.states,
        )
        for state in ordered
    )


_ONE: ColumnElement[int] = literal_column("1", Integer)
_NONE: ColumnElement[int] = literal_column("0", Integer)


def _broken_any(rules: Sequence[NewRule]) -> ColumnElement[bool]:
    """SQL: the record breaks one of ``rules``. The cheapest are tested first: a newly
    required field is missing from most records, so OR mostly stops there."""
    ordered = sorted(rules, key=lambda rule: CHEAPEST_FIRST.index(rule.rule))
    return or_(*(rule.broken for rule in ordered))


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """SQL: 1 where ``condition`` holds, else 0 (also where it is NULL)."""
    return case((condition, _ONE), else_=_NONE)


def _problem_counts(
    conn: Connection, rules: Sequence[NewRule], where: list[ColumnElement[bool]]
) -> tuple[tuple[Problem, ...], int]:
    """How many open records break each rule, and any: one pass of conditional sums."""
    if not rules:
        return (), 0
    conditions = [*(rule.broken for rule in rules), _broken_any(rules)]
    sums = conn.execute(
        select(*(func.sum(_flag(condition)) for condition in conditions)).where(*where)
    ).one()
    *counts, failing = (int(value or 0) for value in sums)
    problems = tuple(
        Problem(rule.field, rule.rule, rule.summary, count)
        for rule, count in zip(rules, counts, strict=True)
        if count
    )
    return problems, failing


def _failing_records(
    conn: Connection, rules: Sequence[NewRule], where: list[ColumnElement[bool]]
) -> tuple[FailingRecord, ...]:
    """The first ``LISTED_RECORDS`` open records breaking a rule, by id, with their problems."""
    rows = conn.execute(
        select(
            record.c.number,
            record.c.state,
            record.c.data,
            *(_flag(rule.broken) for rule in rules),
        )
        .where(*where, _broken_any(rules))
        .order_by(record.c.id)
        .limit(LISTED_RECORDS)
    )
    return tuple(
        FailingRecord(
            number,
            state,
            tuple(
                rule.breach(data.get(rule.field))
                for rule, broken in zip(rules, hits, strict=True)
                if broken
            ),
        )
        for number, state, data, *hits in rows
    )
