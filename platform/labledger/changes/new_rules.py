"""The rules a proposed change adds that records already stored may break, each as SQL.

Before a change is signed, its impact lists the open records that would no
longer pass their type's checks (``changes.impact``). Each rule here is one
field's new demand: a value it now needs (required by the type, or by the
state the record is in), a minimum or maximum raised or lowered, a shorter
maximum length, an option taken away. It carries the SQL condition a record
breaks it by, so the database counts and finds those records without Python
reading them, and the words for what is wrong with one record. Only what
becomes stricter is a rule here: a record the current definition lets through
and the proposed one refuses is the change's doing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from msgspec import UNSET
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Numeric,
    and_,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import array

from labledger.changes.rules import Rules
from labledger.db.jsonfields import JSON, NUMBER, TEXT, field_column, safe_identifier
from labledger.db.tables import record
from labledger.metadata.fieldtypes import sql_kind, value_schema
from labledger.metadata.spec.fields import (
    ChoiceField,
    DecimalField,
    FieldSpec,
    InputFieldSpec,
    IntegerField,
    LongTextField,
    MultiChoiceField,
    TextField,
)

RuleKind = Literal["required", "minimum", "maximum", "max_length", "options"]
#: The kinds of rule, the cheapest to test first (a missing value: a test for NULL).
CHEAPEST_FIRST: tuple[RuleKind, ...] = ("required", "options", "max_length", "minimum", "maximum")


@dataclass(frozen=True)
class NewRule:
    """One field's new demand, and how a record breaks it."""

    field: str
    label: str
    rule: RuleKind
    #: The new minimum, maximum or length; the option values taken away; None for "required".
    limit: Any
    #: True (in SQL) for a record that breaks the rule.
    broken: ColumnElement[bool]
    #: For "required": the labels of the states that newly require the field, when
    #: it is not every open record's (the field's own ``required`` is).
    states: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """The rule in words, e.g. '"pH" above the new maximum 9.0'."""
        name, limit = f'"{self.label}"', self.limit
        match self.rule:
            case "required":
                where = f", required in {_quoted(self.states)}" if self.states else ""
                return f"no value for {name}{where}"
            case "minimum":
                return f"{name} below the new minimum {limit}"
            case "maximum":
                return f"{name} above the new maximum {limit}"
            case "max_length":
                return f"{name} longer than the new maximum of {limit} characters"
            case "options":
                return f"{name} holding an option taken away ({_quoted(limit)})"

    def breach(self, value: Any) -> str:
        """What is wrong with a record whose value of the field is ``value``, e.g.
        '"pH" 9.1 above the new maximum 9.0'."""
        name, limit = f'"{self.label}"', self.limit
        match self.rule:
            case "required":
                return f"no value for {name}"
            case "minimum":
                return f"{name} {value} below the new minimum {limit}"
            case "maximum":
                return f"{name} {value} above the new maximum {limit}"
            case "max_length":
                return f"{name} has {len(value)} characters, more than the new maximum of {limit}"
            case "options":
                held = [v for v in (value if isinstance(value, list) else [value]) if v in limit]
                return f"{name} {_quoted(held)} no longer among the options"


def _quoted(values: Sequence[str]) -> str:
    return ", ".join(f'"{value}"' for value in values)


def in_states(states: Sequence[str | None]) -> ColumnElement[bool]:
    """SQL: the record is in one of ``states`` (None: no state)."""
    named = [state for state in states if state is not None]
    condition = record.c.state.in_(named)
    return or_(condition, record.c.state.is_(None)) if None in states else condition


def new_rules(
    dialect: str, current: Rules, proposed: Rules, open_states: Sequence[str | None]
) -> list[NewRule]:
    """The rules ``proposed`` adds to ``current`` for records in ``open_states``,
    field by field in the proposed definition's order."""
    rules: list[NewRule] = []
    for key, spec in proposed.fields.items():
        rules += _required(dialect, spec, current, proposed, open_states)
        old = current.fields.get(key)
        if old is not None and old.kind == spec.kind:
            rules += _tightened(dialect, old, spec)
    return rules


def _required(
    dialect: str,
    spec: FieldSpec,
    current: Rules,
    proposed: Rules,
    open_states: Sequence[str | None],
) -> list[NewRule]:
    """The field's value is now needed in some open states (a computed field's never is:
    nobody gives it one)."""
    if not isinstance(spec, InputFieldSpec):
        return []
    key = spec.key
    states = [s for s in open_states if key in proposed.required(s) - current.required(s)]
    if not states:
        return []
    broken = _empty(dialect, spec)
    if len(states) == len(open_states):
        return [NewRule(key, spec.label, "required", None, broken)]
    labels = tuple(proposed.state_label(s) for s in states)
    return [NewRule(key, spec.label, "required", None, and_(in_states(states), broken), labels)]


def _empty(dialect: str, spec: FieldSpec) -> ColumnElement[bool]:
    """SQL: the record has no value for the field (none, blank text or an empty list:
    what ``records.validation.is_empty`` calls none)."""
    value = field_column(dialect, spec.key, TEXT)
    kind = sql_kind(spec)
    if kind == JSON:
        return or_(value.is_(None), value == "[]")
    if kind == TEXT:
        return or_(value.is_(None), value == "")
    return value.is_(None)


def _tightened(dialect: str, old: FieldSpec, new: FieldSpec) -> list[NewRule]:
    """The limits of a field of one kind that the proposed definition narrows."""
    if isinstance(old, IntegerField | DecimalField) and isinstance(
        new, IntegerField | DecimalField
    ):
        return _bounds(dialect, old, new)
    if isinstance(old, TextField | LongTextField) and isinstance(new, TextField | LongTextField):
        return _length(dialect, old, new)
    if isinstance(old, ChoiceField | MultiChoiceField) and isinstance(
        new, ChoiceField | MultiChoiceField
    ):
        return _options(dialect, old, new)
    return []


def _bounds(
    dialect: str, old: IntegerField | DecimalField, new: IntegerField | DecimalField
) -> list[NewRule]:
    value = field_column(dialect, new.key, NUMBER)
    rules = []
    if new.min is not UNSET and (old.min is UNSET or new.min > old.min):
        rules.append(NewRule(new.key, new.label, "minimum", new.min, value < _decimal(new.min)))
    if new.max is not UNSET and (old.max is UNSET or new.max < old.max):
        rules.append(NewRule(new.key, new.label, "maximum", new.max, value > _decimal(new.max)))
    return rules


def _decimal(limit: float) -> BindParameter[Decimal]:
    """A limit as a SQL decimal: PostgreSQL then compares the field's numeric value with
    it as it is, where a float would make it convert every value to a float first."""
    return literal(Decimal(str(limit)), Numeric())


def _length(
    dialect: str, old: TextField | LongTextField, new: TextField | LongTextField
) -> list[NewRule]:
    """A shorter maximum length (each kind has one even when none is given)."""
    limit = value_schema(new)["maxLength"]
    if limit >= value_schema(old)["maxLength"]:
        return []
    too_long = func.length(field_column(dialect, new.key, TEXT)) > limit
    return [NewRule(new.key, new.label, "max_length", limit, too_long)]


def _options(
    dialect: str, old: ChoiceField | MultiChoiceField, new: ChoiceField | MultiChoiceField
) -> list[NewRule]:
    kept = {option.value for option in new.options}
    removed = tuple(option.value for option in old.options if option.value not in kept)
    if not removed:
        return []
    if isinstance(new, MultiChoiceField):
        held = _holds_any(dialect, new.key, removed)
    else:
        held = field_column(dialect, new.key, TEXT).in_(removed)
    return [NewRule(new.key, new.label, "options", removed, held)]


def _holds_any(dialect: str, key: str, values: tuple[str, ...]) -> ColumnElement[bool]:
    """SQL: the list held in field ``key`` contains one of ``values``."""
    if dialect == "postgresql":
        return field_column(dialect, key, JSON).op("?|", is_comparison=True)(array(values))
    items = func.json_each(record.c.data, f"$.{safe_identifier(key)}").table_valued("value")
    return exists(select(1).select_from(items).where(items.c.value.in_(values)))
