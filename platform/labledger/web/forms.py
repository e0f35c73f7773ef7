"""Record forms: from a type's fields to inputs, and from posted text back to typed data.

A browser posts text. ``parse_form`` turns it into the JSON values the record
service takes (an empty input is no value, a number field gets a number),
and reports text that is not a number as an error on that field instead of
failing the request. Every other rule (ranges, patterns, required and
conditional fields, references, users, files) is left to the service, which
checks the same data whether it came from this form or the API.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from labledger.errors import FieldError
from labledger.limits import INT64_MAX
from labledger.metadata.fieldtypes import FIELD_TYPES
from labledger.metadata.model import TypeModel
from labledger.metadata.spec.fields import DecimalField, FieldSpec, IntegerField

#: UTC offsets offered next to date-and-time inputs, as (value, label).
TIME_ZONES: list[tuple[str, str]] = [("Z", "UTC")] + [
    (offset, f"UTC{offset}")
    for offset in (
        [f"{'-' if h < 0 else '+'}{abs(h):02d}:00" for h in range(-12, 15) if h]
        + ["-09:30", "-03:30", "+03:30", "+04:30", "+05:30", "+05:45", "+06:30", "+09:30"]
    )
]
_TIME_ZONE_VALUES = {value for value, _ in TIME_ZONES}
_INTEGER = re.compile(r"^[+-]?\d+$")
#: Suffix of the time zone input that goes with a date-and-time input.
TZ_SUFFIX = "__tz"


def row_id(text: str) -> int | None:
    """The row id ``text`` names, or None when it names none.

    Only plain ASCII digits within a database integer count: a Unicode digit,
    a sign or a number past the column's range is refused here, before a query
    could fail on it.
    """
    text = text.strip()
    if text.isascii() and text.isdigit() and 0 < int(text) <= INT64_MAX:
        return int(text)
    return None


def values_of(form: Mapping[str, Any], name: str) -> list[str]:
    """Every value posted under ``name`` (a form repeats a name for each checked box)."""
    found = form.get(name)
    if found is None:
        return []
    return [str(v) for v in found] if isinstance(found, list) else [str(found)]


def first(form: Mapping[str, Any], name: str) -> str:
    found = values_of(form, name)
    return found[-1] if found else ""


def step_of(fdef: IntegerField | DecimalField) -> str:
    """The ``step`` of a number input: 1, or one unit of the last decimal place."""
    if isinstance(fdef, IntegerField):
        return "1"
    precision = fdef.precision
    return str(Decimal(1).scaleb(-precision)) if isinstance(precision, int) else "any"


def input_keys(model: TypeModel) -> list[str]:
    """Fields a person types (every field but the computed ones)."""
    return [k for k, f in model.field_specs.items() if FIELD_TYPES[f.kind].accepts_input]


def _number(text: str, whole: bool) -> int | float:
    if whole:
        if not _INTEGER.match(text):
            raise ValueError("must be a whole number")
        return int(text)
    try:
        number = Decimal(text.replace(" ", ""))
    except InvalidOperation:
        raise ValueError("must be a number") from None
    if not number.is_finite():
        raise ValueError("must be a number")
    if number == number.to_integral_value() and not re.search(r"[.eE]", text):
        return int(number)
    return float(number)


def parse_value(fdef: FieldSpec, form: Mapping[str, Any], key: str) -> Any:
    """The typed value of one field from the posted text (None for an empty input).

    Raises ValueError with a message for the field when the text is not a number.
    """
    kind = fdef.kind
    if kind == "boolean":
        return "true" in values_of(form, key)
    if kind == "multi_choice":
        chosen = [v for v in values_of(form, key) if v]
        return chosen or None
    text = first(form, key).strip()
    if not text:
        return None
    if kind in ("integer", "decimal"):
        return _number(text, kind == "integer")
    if kind == "attachment":
        attachment = row_id(text)
        if attachment is None:
            raise ValueError("upload the file again")
        return attachment
    if kind == "datetime":
        zone = first(form, key + TZ_SUFFIX) or "Z"
        if zone not in _TIME_ZONE_VALUES:
            raise ValueError("choose a time zone from the list")
        return text + (":00" if len(text) == 16 else "") + zone
    return text


def parse_form(
    model: TypeModel, form: Mapping[str, Any], keys: Iterable[str]
) -> tuple[dict[str, Any], list[FieldError]]:
    """Typed values of the fields ``keys`` from a posted form, and the fields that are no number.

    A field missing from the post is an empty one (browsers send nothing for
    an empty input or an unticked box), so ``keys`` must be the fields the
    form showed.
    """
    data: dict[str, Any] = {}
    errors: list[FieldError] = []
    for key in keys:
        try:
            data[key] = parse_value(model.field_specs[key], form, key)
        except ValueError as exc:
            errors.append(FieldError(f"data.{key}", str(exc)))
    return data, errors


def same_value(fdef: FieldSpec, old: Any, new: Any) -> bool:
    """Whether a posted value leaves a stored one as it is.

    A set of choices has no order, and an unticked box is how a form shows a
    yes/no field that was never set, so posting it back changes nothing.
    """
    if fdef.kind == "multi_choice" and isinstance(old, list) and isinstance(new, list):
        return sorted(map(str, old)) == sorted(map(str, new))
    if fdef.kind == "boolean" and old is None and new is False:
        return True
    return bool(old == new)


def changed_only(model: TypeModel, current: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The posted values that differ from the stored ones: an edit sends only real changes."""
    return {
        key: value
        for key, value in data.items()
        if not same_value(model.field_specs[key], current.get(key), value)
    }


def form_text(fdef: FieldSpec, value: Any, numbers: Mapping[int, str]) -> Any:
    """A stored value as the form shows it in its input (``numbers``: reference id -> number)."""
    kind = fdef.kind
    if value is None:
        return [] if kind == "multi_choice" else ""
    if kind == "boolean":
        return "true" if value else ""
    if kind == "multi_choice":
        return [str(v) for v in value]
    if kind == "reference":
        return numbers.get(value, str(value))
    if kind == "datetime":
        return str(value).removesuffix("Z")[:19]
    return str(value)


def stored_as_form(
    model: TypeModel, data: dict[str, Any], numbers: Mapping[int, str]
) -> dict[str, Any]:
    """What the edit form shows for a stored record: its values as input text."""
    form: dict[str, Any] = {}
    for key in input_keys(model):
        fdef = model.field_specs[key]
        form[key] = form_text(fdef, data.get(key), numbers)
        if fdef.kind == "datetime":
            form[key + TZ_SUFFIX] = "Z"
    return form


def error_map(errors: Iterable[FieldError]) -> tuple[dict[str, str], list[str]]:
    """Errors per field key (``data.value`` and ``data.tags[1]`` are field ``value``, ``tags``),
    and the messages that belong to no field."""
    per_field: dict[str, str] = {}
    other: list[str] = []
    for error in errors:
        name = error.field
        if name.startswith("data."):
            key = re.split(r"[.\[]", name[5:], maxsplit=1)[0]
            per_field[key] = (
                f"{per_field[key]}; {error.message}" if key in per_field else error.message
            )
        elif name == "reason":
            per_field["__reason"] = error.message
        else:
            other.append(f"{name}: {error.message}")
    return per_field, other


@dataclass
class FormField:
    """One field of a record form, as the template draws it."""

    key: str
    fdef: FieldSpec
    #: The input's text (a list for checkboxes) - what the person typed, kept on errors.
    raw: Any
    zone: str = "Z"
    error: str | None = None
    visible: bool = True
    required: bool = False
    #: Why the field cannot be changed here (read-only, locked by the state), or None.
    locked: str | None = None
    #: The stored or computed value as text, for computed and locked fields.
    shown: Any = None
    #: After a conflict: the value someone else saved meanwhile, when it differs.
    now: Any = None

    @property
    def conditional(self) -> bool:
        return bool(self.fdef.visible_if)
