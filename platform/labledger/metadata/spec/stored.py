"""Reading a definition stored by an earlier release, which may be less strict.

The structs refuse keys they do not know, and some they now refuse were
accepted once: a field now takes only its own kind's attributes, but
versions published before that may hold, say, a ``unit`` on a text field or
``options`` on an integer; a workflow's state or transition may carry a
property a later release dropped. Such a version stays readable for its
whole life (its records are regulated data): when a stored version is
compiled, every object in it keeps only the keys its struct means, which are
all the engine ever read of it. New definitions are never read this way:
publishing and importing check them strictly (see metadata.validation).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec
from msgspec import inspect

from labledger.metadata.spec.base import SpecT, decode
from labledger.metadata.spec.fields import FieldSpec

#: The kinds of collection whose items all have one type.
_SEQUENCES = (inspect.ListType, inspect.VarTupleType, inspect.SetType, inspect.FrozenSetType)


@cache
def _info(kind: Any) -> inspect.Type:
    """What msgspec knows of ``kind`` (a struct, or a union of them), read once."""
    return inspect.type_info(kind)


def _struct_for(value: dict[str, Any], union: inspect.UnionType) -> inspect.StructType | None:
    """The struct of ``union`` that ``value`` is meant as: the one its tag names, or the
    only struct there is (None when that is not known: the value is left as it is)."""
    structs = [t for t in union.types if isinstance(t, inspect.StructType)]
    untagged = [t for t in structs if t.tag_field is None]
    if len(structs) == 1 and untagged:
        return structs[0]
    return next((t for t in structs if t.tag_field and value.get(t.tag_field) == t.tag), None)


def _known(value: Any, info: inspect.Type) -> Any:
    """``value`` less, at every depth, the keys its struct in ``info`` does not mean."""
    if isinstance(info, inspect.Metadata):
        return _known(value, info.type)
    if isinstance(info, _SEQUENCES) and isinstance(value, list):
        return [_known(item, info.item_type) for item in value]
    if isinstance(info, inspect.DictType) and isinstance(value, dict):
        return {key: _known(item, info.value_type) for key, item in value.items()}
    if isinstance(info, inspect.UnionType) and isinstance(value, dict):
        struct = _struct_for(value, info)
        return value if struct is None else _known(value, struct)
    if isinstance(info, inspect.StructType) and isinstance(value, dict):
        fields = {f.encode_name: f.type for f in info.fields}
        return {
            key: _known(item, fields[key]) if key in fields else item
            for key, item in value.items()
            if key in fields or key == info.tag_field
        }
    return value


def stored_document(document: Any, kind: Any) -> Any:
    """``document``, stored as a version of ``kind`` (a struct, or a tagged union of
    them), as it is read now: less every key the structs do not mean. A value whose
    struct is not known (a field of an unknown kind) is kept whole, for decoding to refuse."""
    return _known(document, _info(kind))


def decode_stored(document: Any, kind: type[SpecT]) -> SpecT:
    """A stored version of ``kind``, read leniently."""
    return decode(stored_document(document, kind), kind)


def decode_stored_field(fdef: dict[str, Any]) -> FieldSpec:
    """One field of a stored version, read leniently."""
    field: FieldSpec = msgspec.convert(stored_document(fdef, FieldSpec), FieldSpec, strict=True)
    return field
