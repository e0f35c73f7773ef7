"""An import mapping (``metadata/mapping.schema.json``) as structs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, UnsetType

from labledger.metadata.spec.base import Description, FieldKey, ItemKey, Label, Spec, TypeKey, ecma

#: A column of the header (CSV) or a member of each object (JSON; a.b reaches inside).
Source = Annotated[str, Meta(min_length=1, max_length=200)]
OneCharacter = Annotated[str, Meta(min_length=1, max_length=1)]


class MatchSpec(Spec, frozen=True):
    """Rows whose ``source`` column names an existing record (by number or a unique
    field) update it; other rows create one unless ``create`` is false."""

    source: Source
    by: ItemKey
    create: bool = True


class LookupSpec(Spec, frozen=True):
    """A reference cell holds the target's number or one of its unique fields' values."""

    by: ItemKey


class UnitSpec(Spec, frozen=True):
    """The unit a number column's values must be in, and the units converted to it."""

    expected: Annotated[str, Meta(min_length=1, max_length=40)]
    source: Source | UnsetType = UNSET
    convert: dict[str, Annotated[float, Meta(gt=0)]] | UnsetType = UNSET


class ColumnSpec(Spec, frozen=True):
    """One column and the field it fills."""

    source: Source
    field: FieldKey
    #: The column may be missing from the file.
    optional: bool = False
    lookup: LookupSpec | UnsetType = UNSET
    unit: UnitSpec | UnsetType = UNSET


class MappingSpec(Spec, frozen=True):
    """How the rows of a CSV or JSON file become records of the type ``target``."""

    key: ItemKey
    label: Label
    target: TypeKey
    columns: Annotated[tuple[ColumnSpec, ...], Meta(min_length=1, max_length=500)]
    description: Description = ""
    format: Literal["csv", "json"] = "csv"
    encoding: Annotated[str, Meta(pattern=ecma(r"^[A-Za-z0-9_.-]{1,40}$"))] = "utf-8"
    delimiter: OneCharacter = ","
    skip_lines: Annotated[int, Meta(ge=0, le=1000)] = 0
    decimal_separator: Literal[".", ","] = "."
    list_separator: OneCharacter = "|"
    strict_header: bool = False
    mode: Literal["atomic", "row"] = "atomic"
    max_bytes: Annotated[int, Meta(ge=1)] | UnsetType = UNSET
    match: MatchSpec | UnsetType = UNSET
    #: Field values every row gets.
    constants: dict[FieldKey, Any] | UnsetType = UNSET
