"""An object type (``metadata/object_type.schema.json``) as structs."""

from __future__ import annotations

from typing import Annotated

from msgspec import UNSET, Meta, UnsetType

from labledger.metadata.spec.base import (
    Description,
    ExpressionSource,
    FieldKey,
    Label,
    RoleRef,
    Spec,
    TypeKey,
    ecma,
)
from labledger.metadata.spec.fields import FieldSpec

RoleList = tuple[RoleRef, ...]


class RuleSpec(Spec, frozen=True):
    """A check across fields: when ``expression`` is false, ``message`` is shown on ``fields``."""

    expression: ExpressionSource
    message: Annotated[str, Meta(min_length=1, max_length=500)]
    fields: tuple[FieldKey, ...] = ()


def _numbering(placeholders: str) -> Meta:
    """A numbering pattern: 3 to 60 characters, literal ones and ``{placeholders}``."""
    pattern = rf"^([A-Za-z0-9_./-]|\{{({placeholders})\}})+$"
    return Meta(min_length=3, max_length=60, pattern=ecma(pattern))


class ChildNumberingSpec(Spec, frozen=True):
    """Records created with reference ``field`` set are numbered from the referenced one."""

    field: FieldKey
    pattern: Annotated[str, _numbering(r"parent|#{1,12}")]


class GridSpec(Spec, frozen=True):
    """How grid entry shows the type: ``context`` fields first, read-only and kept in view
    while scrolling, then ``columns`` in order (inputs where the row may change them)."""

    columns: Annotated[tuple[FieldKey, ...], Meta(max_length=60)] = ()
    context: Annotated[tuple[FieldKey, ...], Meta(max_length=6)] = ()


class SectionSpec(Spec, frozen=True):
    """A heading that groups fields on forms."""

    key: FieldKey
    label: Label


class PermissionsSpec(Spec, frozen=True):
    """The roles that may read, create and edit records of the type."""

    read: RoleList = ()
    create: RoleList = ()
    edit: RoleList = ()

    def roles_for(self, action: str) -> RoleList:
        """The roles of ``action`` (``read``, ``create`` or ``edit``; none for another)."""
        roles: RoleList = getattr(self, action, ()) if action in _ACTIONS else ()
        return roles


_ACTIONS = frozenset({"read", "create", "edit"})


class ObjectTypeSpec(Spec, frozen=True):
    """An admin-defined object type: its fields, numbering, title, workflow and permissions."""

    key: TypeKey
    label: Label
    plural: Label
    #: Pattern of the human number, e.g. SMP-{YYYY}-{#####}.
    numbering: Annotated[str, _numbering(r"YYYY|YY|MM|DD|#{1,12}")]
    fields: Annotated[tuple[FieldSpec, ...], Meta(min_length=1, max_length=400)]
    description: Description = ""
    #: Template of the record's title, e.g. '{number} {name}'.
    title: Annotated[str, Meta(max_length=300)] = ""
    workflow: TypeKey | None = None
    rules: Annotated[tuple[RuleSpec, ...], Meta(max_length=50)] = ()
    child_numbering: ChildNumberingSpec | UnsetType = UNSET
    #: A date or datetime field: a record past it and not in a final state is overdue.
    due_field: FieldKey = ""
    #: What a record is at a glance, in order: shown in queues, pickers and signing.
    summary_fields: Annotated[tuple[FieldKey, ...], Meta(max_length=12)] = ()
    grid: GridSpec | UnsetType = UNSET
    #: Every change after creation must give a reason.
    require_reason: bool = False
    sections: tuple[SectionSpec, ...] = ()
    permissions: PermissionsSpec = PermissionsSpec()
