"""A configuration bundle (``metadata/bundle.schema.json``) and a seed's demo data
(its ``$defs/demo``) as structs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, UnsetType

from labledger.metadata.spec.base import Description, Spec, TypeKey, ecma
from labledger.metadata.spec.dashboard import DashboardSpec
from labledger.metadata.spec.mapping import MappingSpec
from labledger.metadata.spec.object_type import ObjectTypeSpec
from labledger.metadata.spec.print_template import PrintTemplateSpec
from labledger.metadata.spec.role import RoleSpec
from labledger.metadata.spec.workflow import WorkflowSpec

#: Names a record of the bundle (or of the demo) for later references to it.
Ref = Annotated[str, Meta(pattern=ecma(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"))]
DemoUsername = Annotated[str, Meta(pattern=ecma(r"^[a-z0-9][a-z0-9._-]{1,63}$"))]
#: Field values as a person enters them (at least one).
DemoValues = Annotated[dict[str, Any], Meta(min_length=1)]


class BundleRecordSpec(Spec, frozen=True):
    """Seed data, created once: a later import of the same bundle skips refs it created."""

    type: TypeKey
    ref: Ref
    #: Field values; ``{"ref": "..."}`` stands for an earlier record of the bundle.
    data: dict[str, Any]
    state: TypeKey | UnsetType = UNSET


Hash = Annotated[str, Meta(pattern=ecma(r"^[0-9a-f]{64}$"))]


class PromotedApprovalSpec(Spec, frozen=True):
    """An approval the change request had where it came from."""

    signer: Annotated[str, Meta(min_length=1, max_length=64)]
    printed_name: Annotated[str, Meta(min_length=1, max_length=200)]
    meaning: Annotated[str, Meta(min_length=1, max_length=200)]
    signed_at: Annotated[str, Meta(min_length=1, max_length=64)]
    content_hash: Hash


class PromotedChangeSpec(Spec, frozen=True):
    """One change in words, as the source installation's reviewers read it."""

    subject: Annotated[str, Meta(max_length=500)]
    text: Annotated[str, Meta(max_length=2000)]
    weakens: bool


class PromotionSpec(Spec, frozen=True):
    """The approved change request a bundle promotes from another installation."""

    installation: Annotated[str, Meta(min_length=1, max_length=100)]
    number: Annotated[int, Meta(ge=1)]
    title: Annotated[str, Meta(min_length=1, max_length=200)]
    reason: Annotated[str, Meta(min_length=1, max_length=4000)]
    status: Literal["approved", "scheduled", "active"]
    content_hash: Hash
    approvals: Annotated[tuple[PromotedApprovalSpec, ...], Meta(max_length=20)]
    changes: Annotated[tuple[PromotedChangeSpec, ...], Meta(max_length=10000)]


class BundleSpec(Spec, frozen=True):
    """A complete configuration, imported in one transaction in the order of its members."""

    format: Literal["labledger.bundle/1"]
    name: Annotated[str, Meta(pattern=ecma(r"^[a-z0-9][a-z0-9._-]{0,63}$"))]
    version: Annotated[str, Meta(min_length=1, max_length=64, pattern=ecma(r"^\S+$"))]
    description: Description = ""
    change_request: PromotionSpec | UnsetType = UNSET
    roles: tuple[RoleSpec, ...] = ()
    workflows: tuple[WorkflowSpec, ...] = ()
    types: tuple[ObjectTypeSpec, ...] = ()
    mappings: tuple[MappingSpec, ...] = ()
    print_templates: tuple[PrintTemplateSpec, ...] = ()
    dashboards: tuple[DashboardSpec, ...] = ()
    records: tuple[BundleRecordSpec, ...] = ()


class DemoUserSpec(Spec, frozen=True):
    """A demo user; ``password`` is for demo installations only."""

    username: DemoUsername
    full_name: Annotated[str, Meta(min_length=1, max_length=200)]
    email: Annotated[str, Meta(max_length=320)] | UnsetType = UNSET
    roles: tuple[str, ...] = ()
    password: Annotated[str, Meta(min_length=10, max_length=200)] | UnsetType = UNSET


class DemoStepSpec(Spec, frozen=True):
    """What one demo user does: enter values, then run a transition."""

    by: DemoUsername
    data: DemoValues | UnsetType = UNSET
    transition: TypeKey | UnsetType = UNSET
    reason: Annotated[str, Meta(min_length=1, max_length=4000)] | UnsetType = UNSET
    #: Confirms a transition that asks for a confirmation.
    justification: Annotated[str, Meta(min_length=1, max_length=2000)] | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.data is UNSET and self.transition is UNSET:
            raise ValueError("a step needs data or a transition")


class DemoRecordSpec(Spec, frozen=True):
    """A record created (type, by, data), found (type, find) or named by an earlier
    entry's ref, and the steps run on it."""

    ref: Ref
    type: TypeKey | UnsetType = UNSET
    by: DemoUsername | UnsetType = UNSET
    data: DemoValues | UnsetType = UNSET
    find: DemoValues | UnsetType = UNSET
    steps: Annotated[tuple[DemoStepSpec, ...], Meta(min_length=1)] | UnsetType = UNSET

    def __post_init__(self) -> None:
        given = {
            name for name in ("type", "by", "data", "find") if getattr(self, name) is not UNSET
        }
        if "data" in given and not {"type", "by"} <= given:
            raise ValueError("a created record needs 'type' and 'by'")
        if "find" in given and ("type" not in given or "data" in given):
            raise ValueError("a found record needs 'type' and no 'data'")
        if "by" in given and "data" not in given:
            raise ValueError("'by' goes with 'data'")
        if "type" in given and not given & {"data", "find"}:
            raise ValueError("a record with a type is either created (data) or found (find)")
        if "type" not in given and self.steps is UNSET:
            raise ValueError("a record named by its ref needs steps")


class DemoSpec(Spec, frozen=True):
    """``seeds/<name>/demo.json``: the demo's users and records, played in order."""

    users: tuple[DemoUserSpec, ...] = ()
    records: tuple[DemoRecordSpec, ...] = ()
