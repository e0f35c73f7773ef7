"""A dashboard (``metadata/dashboard.schema.json``) as structs: panels are a union
tagged by their ``kind``; each counts the records of one object type (``type``)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from labledger.metadata.spec.base import (
    Description,
    FieldKey,
    ItemKey,
    Label,
    RoleRef,
    Spec,
    TypeKey,
)

#: How many weeks a panel over time looks back, the current week included.
Weeks = Annotated[int, Meta(ge=1, le=104)]
DEFAULT_WEEKS = 12


class PanelBase(Spec, tag_field="kind", frozen=True):
    """What every panel has: its key (unique in the dashboard, it names the panel's
    CSV), its label and the object type it counts."""

    key: ItemKey
    label: Label
    type: TypeKey

    @property
    def kind(self) -> str:
        """The panel's ``kind`` (the struct's tag)."""
        return str(self.__struct_config__.tag)


class CountsByStatePanel(PanelBase, tag="counts_by_state", frozen=True):
    """Records per workflow state: every state of the workflow, or those listed, in order."""

    states: Annotated[tuple[TypeKey, ...], Meta(min_length=1, max_length=50)] | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.states is not UNSET and len(set(self.states)) != len(self.states):
            raise ValueError("a state is listed twice")


class OverduePanel(PanelBase, tag="overdue", frozen=True):
    """Records past the type's ``due_field`` and not in a final state (the list's rule)."""


class TurnaroundPanel(PanelBase, tag="turnaround", kw_only=True, frozen=True):
    """Time from the transition ``from`` to the transition ``to``, per week of ``to``."""

    from_: TypeKey = msgspec.field(name="from")
    to: TypeKey
    weeks: Weeks = DEFAULT_WEEKS
    unit: Literal["hours", "days"] = "days"


class RatePanel(PanelBase, tag="rate_over_time", kw_only=True, frozen=True):
    """Share of records, per week of their creation, whose yes/no ``field`` is yes."""

    field: FieldKey
    weeks: Weeks = DEFAULT_WEEKS


PanelSpec = CountsByStatePanel | OverduePanel | TurnaroundPanel | RatePanel


class DashboardSpec(Spec, frozen=True):
    """A page of panels, opened by the holders of ``roles``."""

    key: ItemKey
    label: Label
    roles: Annotated[tuple[RoleRef, ...], Meta(min_length=1, max_length=50)]
    panels: Annotated[tuple[PanelSpec, ...], Meta(min_length=1, max_length=24)]
    description: Description = ""

    def __post_init__(self) -> None:
        if len(set(self.roles)) != len(self.roles):
            raise ValueError("a role is listed twice")

    def panel(self, key: str) -> PanelSpec | None:
        """The panel ``key`` (None: the dashboard has none of that key)."""
        return next((p for p in self.panels if p.key == key), None)
