"""Turn JSON Schema errors into messages a lab admin or technician can act on."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import msgspec
from jsonschema.exceptions import ValidationError

from labledger.errors import FieldError, ValidationFailed
from labledger.metadata.spec import decode
from labledger.metadata.spec.base import SpecT

_TYPE_WORDS = {
    "integer": "a whole number",
    "number": "a number",
    "string": "text",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "empty",
}


def json_path(parts: Iterable[object]) -> str:
    """``["fields", 3, "type"]`` -> ``fields[3].type``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


#: What a value failing one of these keywords must be; ``{}`` is the keyword's value.
_REQUIREMENTS = {
    "const": "must be {!r}",
    "maxLength": "must be at most {} characters",
    "minimum": "must be at least {}",
    "maximum": "must be at most {}",
    "pattern": "does not match the required format ({})",
    "uniqueItems": "must not repeat a value",
    "minItems": "needs at least {} item(s)",
    "maxItems": "takes at most {} item(s)",
}


def _describe(error: ValidationError) -> str:
    validator = error.validator
    expected: Any = error.validator_value
    if validator == "type":
        kinds = [expected] if isinstance(expected, str) else list(expected)
        return "must be " + " or ".join(_TYPE_WORDS.get(k, k) for k in kinds)
    if validator == "enum":
        shown = ", ".join(repr(v) for v in list(expected)[:20])
        return f"must be one of: {shown}"
    if validator == "minLength":
        return "is required" if expected == 1 else f"must be at least {expected} characters"
    requirement = _REQUIREMENTS.get(str(validator))
    return error.message if requirement is None else requirement.format(expected)


def _specific(errors: Iterable[ValidationError]) -> Iterator[ValidationError]:
    """Replace "not valid under any of the given schemas" by what is actually wrong.

    Optional fields accept ``{"anyOf": [<field schema>, {"type": "null"}]}``; when
    a value fails, the useful errors are those of the field's own schema, not
    the one saying the value is not null.
    """
    for error in errors:
        specific = [e for e in error.context or () if e.schema != {"type": "null"}]
        if error.validator == "anyOf" and specific:
            yield from _specific(specific)
        else:
            yield error


def field_errors(errors: Iterable[ValidationError], prefix: str = "") -> list[FieldError]:
    """One FieldError per schema error, located by JSON path."""
    result = []
    for error in sorted(_specific(errors), key=lambda e: list(map(str, e.absolute_path))):
        path = list(error.absolute_path)
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else "?"
            location = json_path([*path, missing])
            result.append(FieldError(_prefixed(prefix, location), "is required"))
        elif error.validator == "additionalProperties":
            for extra in _extras(error):
                location = json_path([*path, extra])
                result.append(FieldError(_prefixed(prefix, location), "is not a known field"))
        else:
            location = _prefixed(prefix, json_path(path)) or "(document)"
            result.append(FieldError(location, _describe(error)))
    return result


def _extras(error: ValidationError) -> list[str]:
    schema: Any = error.schema
    instance: Any = error.instance
    allowed = set(schema.get("properties", {}))
    return sorted(k for k in instance if k not in allowed)


def _prefixed(prefix: str, location: str) -> str:
    """``location`` inside the document at ``prefix`` (the whole of it when empty)."""
    if not prefix or not location:
        return prefix or location
    return f"{prefix}{location}" if location.startswith("[") else f"{prefix}.{location}"


def decode_checked(document: Any, kind: type[SpecT], prefix: str = "") -> SpecT:
    """``document``, already accepted by its schema, decoded into its struct.

    The schema and the struct accept the same documents but for one case (a
    whole number written as a float, such as ``10.0``: see
    tests/test_metadata_spec_agreement.py), refused here with its JSON path."""
    try:
        return decode(document, kind)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `$")
        location = _prefixed(prefix, where.rstrip("`").lstrip(".")) or "(document)"
        raise ValidationFailed(
            "The definition is not valid.", [FieldError(location, message)]
        ) from None
