"""Reading a definition stored by an earlier release, which may be less strict.

A field now takes only its own kind's attributes, but versions published
before that may hold, say, a ``unit`` on a text field or ``options`` on an
integer. Such a version stays readable for its whole life (its records are
regulated data): when a stored version is compiled, each field keeps only the
attributes its kind means, which are all the engine ever read of it. New
definitions are never read this way: publishing and importing check them
strictly (see metadata.validation).
"""

from __future__ import annotations

from functools import cache
from typing import Any, get_args

import msgspec

from labledger.metadata.spec.fields import FieldSpec

#: The struct of each field kind by its tag.
_FIELD_STRUCTS: dict[str, type[msgspec.Struct]] = {
    str(kind.__struct_config__.tag): kind for kind in get_args(FieldSpec)
}


@cache
def _attributes(kind: str) -> frozenset[str]:
    """The keys a field of ``kind`` may have (``type`` included)."""
    names = {field.encode_name for field in msgspec.structs.fields(_FIELD_STRUCTS[kind])}
    return frozenset({"type", *names})


def stored_field(fdef: Any) -> Any:
    """``fdef`` less the attributes its kind does not mean (as it is if its kind is unknown)."""
    kind = fdef.get("type") if isinstance(fdef, dict) else None
    if not isinstance(kind, str) or kind not in _FIELD_STRUCTS:
        return fdef
    return {key: value for key, value in fdef.items() if key in _attributes(kind)}


def stored_type(definition: dict[str, Any]) -> dict[str, Any]:
    """A stored object type definition with each field as :func:`stored_field` reads it."""
    fields = definition.get("fields")
    if not isinstance(fields, list):
        return definition
    return {**definition, "fields": [stored_field(fdef) for fdef in fields]}


def decode_stored_field(fdef: dict[str, Any]) -> FieldSpec:
    """One field of a stored version, read leniently."""
    field: FieldSpec = msgspec.convert(stored_field(fdef), FieldSpec, strict=True)
    return field
