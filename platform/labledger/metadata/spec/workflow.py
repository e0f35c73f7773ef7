"""A workflow (``metadata/workflow.schema.json``) as structs: states, transitions,
signatures, separation of duties and the actions a transition runs."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from labledger.metadata.spec.base import (
    Description,
    ExpressionSource,
    FieldKey,
    Label,
    Message,
    RoleRef,
    Spec,
    TypeKey,
)


class StateSpec(Spec, frozen=True):
    """A state records may be in, and what may change in it."""

    key: TypeKey
    label: Label
    initial: bool = False
    final: bool = False
    #: Fields users may change in this state: "all", "none" or a list of field keys.
    editable: Literal["all", "none"] | tuple[FieldKey, ...] = "all"
    #: Fields that must have a value before a record may enter this state.
    required: tuple[FieldKey, ...] = ()


class SignatureSpec(Spec, frozen=True):
    """An electronic signature the transition needs, and what it means."""

    meaning: Annotated[str, Meta(min_length=1, max_length=200)]


class SeparationSpec(Spec, frozen=True):
    """Who may not run the transition: the creator, whoever ran one of ``transitions``,
    whoever entered or changed one of the fields in ``authors_of``."""

    creator: bool = False
    transitions: tuple[TypeKey, ...] = ()
    authors_of: Annotated[tuple[FieldKey, ...], Meta(max_length=50)] = ()
    message: Message = ""


class ConfirmSpec(Spec, frozen=True):
    """An extra confirmation the step asks for when ``when`` holds for the record: the
    person confirms ``message`` and gives a justification (e.g. releasing a sample one
    of whose results is out of specification)."""

    when: ExpressionSource
    message: Annotated[str, Meta(min_length=1, max_length=500)]


class ActionSpecBase(Spec, tag_field="type", frozen=True):
    """A step a transition runs after it moved the record."""

    @property
    def written_field(self) -> str:
        """The field of the record this action sets ("" for none): the system writes it."""
        return ""


class SetAction(ActionSpecBase, tag="set", frozen=True):
    """Set ``field`` of the record to the value of ``expression``."""

    field: FieldKey
    expression: ExpressionSource

    @property
    def written_field(self) -> str:
        return self.field


class CreateAction(ActionSpecBase, tag="create", frozen=True):
    """Create a record of ``record_type`` (one per item of ``for_each``)."""

    record_type: TypeKey
    #: The new record's field values, as expressions.
    fields: dict[FieldKey, ExpressionSource]
    #: A field of this record that is set to the new record.
    link_field: FieldKey = ""
    #: An expression giving a list; the field expressions see each item as 'item'.
    for_each: ExpressionSource = ""

    @property
    def written_field(self) -> str:
        return self.link_field


class TransitionReferencedAction(ActionSpecBase, tag="transition_referenced", frozen=True):
    """Run ``transition`` on the record that field ``reference`` points at."""

    reference: FieldKey
    transition: TypeKey


ActionSpec = SetAction | CreateAction | TransitionReferencedAction


class TransitionSpec(Spec, frozen=True):
    """A step from one of ``from_`` states to ``to``."""

    key: TypeKey
    label: Label
    from_: Annotated[tuple[TypeKey, ...], Meta(min_length=1)] = msgspec.field(name="from")
    to: TypeKey
    roles: tuple[RoleRef, ...] = ()
    guard: ExpressionSource = ""
    guard_message: Message = ""
    requires_fields: tuple[FieldKey, ...] = ()
    reason_required: bool = False
    signature: SignatureSpec | UnsetType = UNSET
    separation: SeparationSpec | UnsetType = UNSET
    confirm: ConfirmSpec | UnsetType = UNSET
    actions: Annotated[tuple[ActionSpec, ...], Meta(max_length=20)] = ()

    @property
    def signature_meaning(self) -> str | None:
        """The meaning of the signature the step needs (None: it needs none)."""
        return None if isinstance(self.signature, UnsetType) else self.signature.meaning

    @property
    def conditions(self) -> list[tuple[str, str]]:
        """The step's condition expressions with where they sit in it: the guard and
        the confirmation's ``when`` (each checked like the other)."""
        found = [("guard", self.guard)] if self.guard else []
        if self.confirmation is not None:
            found.append(("confirm.when", self.confirmation.when))
        return found

    @property
    def confirmation(self) -> ConfirmSpec | None:
        """The confirmation the step may ask for (None: it never asks)."""
        return None if isinstance(self.confirm, UnsetType) else self.confirm


class WorkflowSpec(Spec, frozen=True):
    """A state machine that records of an object type follow."""

    key: TypeKey
    label: Label
    states: Annotated[tuple[StateSpec, ...], Meta(min_length=1, max_length=100)]
    transitions: Annotated[tuple[TransitionSpec, ...], Meta(max_length=300)]
    description: Description = ""
