"""An object type's fields: one struct per field kind, a union tagged by ``type``.

Each kind carries only the attributes it means (``metadata/fieldtypes.py``
says what each kind stores): ``options`` belong to choices, ``to`` to
references, ``min`` and ``max`` to numbers. Attributes every kind shares are
on :class:`FieldSpecBase`. A default value has the kind's type where the
schema says so; ``UNSET`` tells "no default" from a default of null.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, UnsetType

from labledger.metadata.spec.base import (
    ExpressionSource,
    FieldKey,
    Label,
    Number,
    Spec,
    TypeKey,
)

#: The kinds of field, as the ``type`` of a field names them.
FIELD_KINDS = (
    "text",
    "long_text",
    "integer",
    "decimal",
    "boolean",
    "date",
    "datetime",
    "choice",
    "multi_choice",
    "reference",
    "user",
    "attachment",
    "computed",
)
MaxLength = Annotated[int, Meta(ge=1, le=100000)]
Unit = Annotated[str, Meta(max_length=40)]


class OptionSpec(Spec, frozen=True):
    """One choice: the value stored and the label shown."""

    value: Annotated[str, Meta(min_length=1, max_length=100)]
    label: Label


class FieldSpecBase(Spec, tag_field="type", frozen=True):
    """What every field has, whatever its kind."""

    key: FieldKey
    label: Label
    help: Annotated[str, Meta(max_length=2000)] = ""
    required_if: ExpressionSource = ""
    visible_if: ExpressionSource = ""
    #: Computed for an empty field when a record is created.
    default_expression: ExpressionSource = ""
    unique: bool = False
    #: Set at creation, never changed.
    read_only: bool = False
    #: Written only by the system (a workflow step's actions, a migration).
    system_set: bool = False
    filterable: bool = False
    in_list: bool = False
    section: FieldKey = ""

    @property
    def kind(self) -> str:
        """The field's ``type`` (the struct's tag)."""
        return str(self.__struct_config__.tag)

    @property
    def given_default(self) -> Any:
        """The field's ``default`` (``UNSET``: none given; kinds without one have none)."""
        return getattr(self, "default", UNSET)

    @property
    def default_value(self) -> Any:
        """The value a new record gets when none is given: None when the field has no
        default (or a default of null, which gives none either, or its kind has none)."""
        value = self.given_default
        return None if value is UNSET else value


class InputFieldSpec(FieldSpecBase, frozen=True):
    """A field people give values to: it may be required."""

    required: bool = False


class TextField(InputFieldSpec, tag="text", frozen=True):
    max_length: MaxLength | UnsetType = UNSET
    #: A regular expression the value must match (run by RE2: see metadata.patterns).
    pattern: Annotated[str, Meta(max_length=500)] = ""
    default: str | UnsetType = UNSET
    #: A text field of the record whose value lists the answers to offer, separated by |
    #: (a choice result offers its analysis's allowed results). A rule enforces them.
    options_from: FieldKey = ""

    def offered(self, data: dict[str, Any]) -> list[str]:
        """The answers ``options_from`` offers for the record ``data`` ([] for none)."""
        source = data.get(self.options_from) if self.options_from else None
        if not isinstance(source, str):
            return []
        return [part.strip() for part in source.split("|") if part.strip()]


class LongTextField(InputFieldSpec, tag="long_text", frozen=True):
    max_length: MaxLength | UnsetType = UNSET
    default: Any | UnsetType = UNSET


class IntegerField(InputFieldSpec, tag="integer", frozen=True):
    min: int | UnsetType = UNSET
    max: int | UnsetType = UNSET
    unit: Unit = ""
    default: int | UnsetType = UNSET


class DecimalField(InputFieldSpec, tag="decimal", frozen=True):
    #: The most decimal places a value may have.
    precision: Annotated[int, Meta(ge=0, le=12)] | UnsetType = UNSET
    unit: Unit = ""
    min: Number | UnsetType = UNSET
    max: Number | UnsetType = UNSET
    default: Number | UnsetType = UNSET


class BooleanField(InputFieldSpec, tag="boolean", frozen=True):
    default: bool | UnsetType = UNSET


class DateField(InputFieldSpec, tag="date", frozen=True):
    default: Any | UnsetType = UNSET


class DateTimeField(InputFieldSpec, tag="datetime", frozen=True):
    default: Any | UnsetType = UNSET


Options = Annotated[tuple[OptionSpec, ...], Meta(min_length=1, max_length=500)]


class ChoiceField(InputFieldSpec, tag="choice", kw_only=True, frozen=True):
    options: Options
    default: Any | UnsetType = UNSET


class MultiChoiceField(InputFieldSpec, tag="multi_choice", kw_only=True, frozen=True):
    options: Options
    default: Any | UnsetType = UNSET


class ReferenceField(InputFieldSpec, tag="reference", kw_only=True, frozen=True):
    #: The object type of the records it points at.
    to: TypeKey
    #: Holds a list of references.
    multiple: bool = False
    default: Any | UnsetType = UNSET

    def targets(self, value: Any) -> list[Any]:
        """The records a stored value names: the list itself with ``multiple``, else one."""
        return list(value) if self.multiple else [value]


class UserField(InputFieldSpec, tag="user", frozen=True):
    default: Any | UnsetType = UNSET


class AttachmentField(InputFieldSpec, tag="attachment", frozen=True):
    #: Largest file accepted (bytes).
    max_size: Annotated[int, Meta(ge=1)] | UnsetType = UNSET
    #: Media types or file name extensions accepted.
    accept: tuple[Annotated[str, Meta(max_length=100)], ...] = ()


class ComputedField(FieldSpecBase, tag="computed", kw_only=True, frozen=True):
    """Calculated on every save from the other fields; nobody gives it a value."""

    expression: ExpressionSource
    result_type: Literal["boolean", "number", "text", "date"] = "text"
    #: For a yes/no result: the value that raises the alarm flag (None: neither does).
    alarm: bool | UnsetType | None = UNSET

    @property
    def alarm_value(self) -> bool | None:
        """The value shown as an alarm: yes unless the field says otherwise; only a yes/no
        result has one."""
        if self.result_type != "boolean":
            return None
        return True if isinstance(self.alarm, UnsetType) else self.alarm

    def raises_alarm(self, value: Any) -> bool:
        """Whether ``value`` is this field's alarm (an out-of-specification flag that is on)."""
        alarm = self.alarm_value
        return alarm is not None and value is alarm


FieldSpec = (
    TextField
    | LongTextField
    | IntegerField
    | DecimalField
    | BooleanField
    | DateField
    | DateTimeField
    | ChoiceField
    | MultiChoiceField
    | ReferenceField
    | UserField
    | AttachmentField
    | ComputedField
)
