"""Values a generated case can type: a record of a type that its checks accept.

Only the fields a record needs are filled: required ones, each with the least
value its limits allow (a choice's first option, today for a date). A
reference gets a record of the type it points at, made the same way (a few
levels deep at most). Where the metadata does not say what would be accepted
(a value matching a pattern, a file, a rule's condition), the value cannot be
derived and the case becomes a manual one, with the reason.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, select

from labledger.db.tables import app_user
from labledger.errors import ServiceError
from labledger.identity.principal import SYSTEM
from labledger.metadata.model import TypeModel
from labledger.metadata.spec.fields import (
    ChoiceField,
    DecimalField,
    FieldSpec,
    FieldSpecBase,
    IntegerField,
    MultiChoiceField,
    ReferenceField,
    TextField,
)
from labledger.metadata.types import type_model
from labledger.records.create import create_record
from labledger.records.preview import required_fields
from labledger.validation.samples import matching

#: How deep referenced records are made for one record.
MAX_DEPTH = 3


class CannotDerive(Exception):
    """The metadata does not say which value would be accepted: a manual test."""


def least(fspec: IntegerField | DecimalField) -> int | float:
    """The smallest value the field accepts (1 where it has no lower limit)."""
    if not isinstance(fspec.min, int | float) or isinstance(fspec.min, bool):
        return 1 if not isinstance(fspec.max, int | float) or fspec.max >= 1 else fspec.max
    return fspec.min


def value_for(conn: Connection, fspec: FieldSpec, username: str, depth: int = 0) -> Any:
    """An accepted value of ``fspec`` (``username``: the person a user field names)."""
    match fspec:
        case TextField(pattern=pattern) if pattern:
            found = matching(pattern)
            if found is None:
                raise CannotDerive(f"no value matching the pattern of {fspec.label} can be made")
            return found
        case TextField():
            return f"Qualification {secrets.token_hex(4)}"  # unique fields stay unique
        case IntegerField() | DecimalField():
            return least(fspec)
        case ChoiceField():
            return fspec.options[0].value
        case MultiChoiceField():
            return [fspec.options[0].value]
        case ReferenceField():
            target = new_record(conn, type_model(conn, fspec.to), username, depth + 1)
            return [target] if fspec.multiple else target
    kind = fspec.kind
    if kind == "boolean":
        return True
    if kind == "date":
        return date.today().isoformat()
    if kind == "datetime":
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "user":
        return username
    if kind == "long_text":
        return "Qualification text"
    raise CannotDerive(f"no value of {fspec.label} ({kind}) can be made up")


def needed_data(
    conn: Connection,
    model: TypeModel,
    username: str,
    depth: int = 0,
    given: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Values for every field a new record of ``model`` must have: the required ones
    without a default, then those the values given make required (``required_if``)."""
    if depth > MAX_DEPTH:
        raise CannotDerive(f"{model.label} needs records more than {MAX_DEPTH} levels deep")
    # The defaults a new record gets decide what else is required (a location of the
    # default kind may need a parent), so the conditions see them.
    defaults = {
        key: fspec.default_value
        for key, fspec in model.field_specs.items()
        if fspec.default_value is not None
    }
    data: dict[str, Any] = dict(given or {})  # what a case sets: the rest must fit it
    # One field at a time, references last: a choice made first (a location's kind) can
    # spare a reference (its parent) that the conditions would otherwise require.
    for _ in model.field_specs:
        wanted = [
            key
            for key in required_fields(model, {**defaults, **data})
            if key not in data and not has_default(model.field_specs[key])
        ]
        if not wanted:
            break
        key = min(wanted, key=lambda k: isinstance(model.field_specs[k], ReferenceField))
        data[key] = fitting_value(conn, model, {**defaults, **data}, key, username, depth)
    return data


def fitting_value(
    conn: Connection,
    model: TypeModel,
    data: dict[str, Any],
    key: str,
    username: str,
    depth: int = 0,
) -> Any:
    """A value of field ``key`` that fits the record's other values ``data``: a choice
    that needs the fewest other fields, a person its other user fields do not name."""
    fspec = model.field_specs[key]
    if isinstance(fspec, ChoiceField):
        return _least_demanding(model, data, key, fspec)
    if fspec.kind == "user":
        return _someone_else(conn, model, data, username)
    return value_for(conn, fspec, username, depth)


def _someone_else(conn: Connection, model: TypeModel, data: dict[str, Any], username: str) -> str:
    """A person for a user field: the one acting, then people not named by the record's
    other user fields yet (an approver other than the owner)."""
    named = {v for k, v in data.items() if model.field_specs[k].kind == "user"}
    if username not in named:
        return username
    others = conn.execute(
        select(app_user.c.username)
        .where(app_user.c.active, app_user.c.username.not_in(named))
        .order_by(app_user.c.username)
        .limit(1)
    ).scalar()
    return str(others) if others else username


def _least_demanding(model: TypeModel, data: dict[str, Any], key: str, fspec: ChoiceField) -> str:
    """The option of a choice that makes the fewest other fields required (a storage
    location of a kind that needs no parent, rather than one that needs a chain)."""
    options = [option.value for option in fspec.options]
    return min(options, key=lambda value: len(required_fields(model, {**data, key: value})))


def has_default(fspec: FieldSpecBase) -> bool:
    """Whether an empty field gets a value anyway (a default, a default expression)."""
    return fspec.default_value is not None or bool(fspec.default_expression)


def new_record(conn: Connection, model: TypeModel, username: str, depth: int = 0) -> int:
    """The id of a new record of ``model``, made by the platform (a referenced record)."""
    try:
        data = needed_data(conn, model, username, depth)
        return int(create_record(conn, SYSTEM, model.key, data, skip_permission=True)["id"])
    except ServiceError as exc:
        raise CannotDerive(f"a {model.label} record could not be made: {exc.detail}") from None
