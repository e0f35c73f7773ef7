"""What every meta-model struct shares: its configuration and the constrained strings.

The structs mirror the JSON Schemas in ``metadata/``, which stay the published
contract; ``tests/test_metadata_spec_agreement.py`` proves that both accept
and refuse the same documents. Every struct is frozen (a published definition
never changes), refuses unknown keys (as ``additionalProperties: false`` does)
and leaves out values at their defaults when encoded.

The patterns are the schemas' own, which follow ECMA-262 (and RE2, which the
schema validator runs): there ``$`` ends the text. msgspec runs Python's
``re``, whose ``$`` also matches before a final newline, so each struct's copy
of a pattern goes through :func:`ecma`.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import msgspec
from msgspec import Meta


def ecma(pattern: str) -> str:
    """``pattern`` (a schema's, ending in ``$``) for Python's ``re``: ``"key\\n"`` is
    refused by the schemas and must be by the structs too."""
    return pattern.removesuffix("$") + r"\Z"


class Spec(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True, kw_only=True
):
    """Base of every meta-model struct (see the module's docstring).

    msgspec passes this configuration on to subclasses; each still says
    ``frozen=True`` so that type checkers, which read a class's own keywords
    (``dataclass_transform``), know it is frozen too."""


#: An object type's or a workflow's key (and a state's, a transition's).
TypeKey = Annotated[str, Meta(pattern=ecma(r"^[a-z][a-z0-9_]{0,39}$"))]
#: A field's key (also a section's).
FieldKey = Annotated[str, Meta(pattern=ecma(r"^[a-z][a-z0-9_]{0,47}$"))]
#: The key of a role, an import mapping or a print template.
ItemKey = Annotated[str, Meta(pattern=ecma(r"^[a-z][a-z0-9_]{0,63}$"))]
#: A role named by a permission or a transition: a role key or ``*`` (everyone).
RoleRef = Annotated[str, Meta(pattern=ecma(r"^(\*|[a-z][a-z0-9_]{0,63})$"))]
Label = Annotated[str, Meta(min_length=1, max_length=200)]
Description = Annotated[str, Meta(max_length=4000)]
#: The source of an expression (see docs/expressions.md).
ExpressionSource = Annotated[str, Meta(min_length=1, max_length=2000)]
#: A message shown to the person refused (a guard's, a separation's).
Message = Annotated[str, Meta(max_length=500)]
#: A JSON number: an int or a float, never a boolean.
Number = int | float

SpecT = TypeVar("SpecT", bound=Spec)


def decode(document: Any, kind: type[SpecT]) -> SpecT:
    """``document`` (parsed JSON) as the struct ``kind``; msgspec.ValidationError if it
    does not fit, naming the path of the first problem."""
    return msgspec.convert(document, kind, strict=True)


def encode(spec: Spec) -> Any:
    """The struct back as a JSON document (its defaults left out; lists, not tuples)."""
    return msgspec.json.decode(msgspec.json.encode(spec))
