"""A print template (``metadata/print_template.schema.json``) as structs."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import UNSET, Meta, UnsetType

from labledger.metadata.spec.base import Description, ItemKey, Label, Spec, TypeKey

#: Lengths in millimetres keep the JSON number they were given (a whole 7 stays 7,
#: which the print CSS writes as ``7mm``, not ``7.0mm``).
Margin = Annotated[int, Meta(ge=0, le=50)] | Annotated[float, Meta(ge=0, le=50)]
PageLength = Annotated[int, Meta(ge=10, le=1000)] | Annotated[float, Meta(ge=10, le=1000)]
LabelLength = Annotated[int, Meta(ge=5, le=1000)] | Annotated[float, Meta(ge=5, le=1000)]


class PageSpec(Spec, frozen=True):
    """The paper: a named size (default A4) or custom with ``width_mm`` and ``height_mm``."""

    size: Literal["A3", "A4", "A5", "Letter", "Legal", "custom"] | UnsetType = UNSET
    orientation: Literal["portrait", "landscape"] | UnsetType = UNSET
    margin_mm: Margin | UnsetType = UNSET
    width_mm: PageLength | UnsetType = UNSET
    height_mm: PageLength | UnsetType = UNSET


class LabelGridSpec(Spec, frozen=True):
    """The size of one label and how many fit a page."""

    width_mm: LabelLength
    height_mm: LabelLength
    columns: Annotated[int, Meta(ge=1, le=20)]
    rows: Annotated[int, Meta(ge=1, le=50)]
    #: Space between labels; between rows too unless ``row_gap_mm`` is given.
    gap_mm: Margin | UnsetType = UNSET
    row_gap_mm: Margin | UnsetType = UNSET


class PrintTemplateSpec(Spec, frozen=True):
    """A printable view of the records of one object type (Jinja2, rendered in a sandbox)."""

    key: ItemKey
    label: Label
    #: The object type whose records this template prints.
    type: TypeKey
    kind: Literal["document", "label"]
    template: Annotated[str, Meta(min_length=1, max_length=100000)]
    description: Description = ""
    page: PageSpec | UnsetType = UNSET
    #: Label templates only (and required for them).
    labels: LabelGridSpec | UnsetType = UNSET
    #: CSS for the whole printout.
    style: Annotated[str, Meta(max_length=20000)] = ""

    def __post_init__(self) -> None:
        if self.kind == "label" and self.labels is UNSET:
            raise ValueError("a label template needs 'labels'")
