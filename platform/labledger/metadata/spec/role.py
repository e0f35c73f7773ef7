"""A role (``metadata/role.schema.json``) as a struct."""

from __future__ import annotations

from typing import Literal

from labledger.metadata.spec.base import Description, ItemKey, Label, Spec

SystemPermission = Literal[
    "configure", "manage_users", "read_audit", "migrate_records", "approve_configuration"
]


class RoleSpec(Spec, frozen=True):
    """A role users hold; it grants only system ``permissions``."""

    key: ItemKey
    label: Label
    description: Description = ""
    permissions: tuple[SystemPermission, ...] = ()

    def __post_init__(self) -> None:
        if len(set(self.permissions)) != len(self.permissions):
            raise ValueError("a permission is listed twice")
