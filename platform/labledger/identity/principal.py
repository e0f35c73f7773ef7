"""Who is acting: the authenticated user as every service sees it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: System permissions a role can grant (record permissions live in each type).
CONFIGURE = "configure"  # publish object types, workflows, bundles
MANAGE_USERS = "manage_users"  # create users, assign roles, unlock
READ_AUDIT = "read_audit"  # browse the system-wide audit trail
#: Bring records with their history (state, system-set fields) from another system.
MIGRATE_RECORDS = "migrate_records"
#: Approve configuration change requests by electronic signature (``labledger.changes``).
APPROVE_CONFIGURATION = "approve_configuration"
SYSTEM_PERMISSIONS = (CONFIGURE, MANAGE_USERS, READ_AUDIT, MIGRATE_RECORDS, APPROVE_CONFIGURATION)

#: Role key that, in a type's permissions, means "every signed-in user".
EVERYONE = "*"


@dataclass(frozen=True)
class Principal:
    id: int
    username: str
    full_name: str
    roles: frozenset[str]
    permissions: frozenset[str]
    must_change_password: bool = False

    def has_permission(self, permission: str) -> bool:
        return permission in self.permissions

    def has_any_role(self, roles: Iterable[str]) -> bool:
        return any(r == EVERYONE or r in self.roles for r in roles)


#: The actor of changes made by the platform itself (``labledger init``, migrations).
SYSTEM = Principal(
    id=0,
    username="system",
    full_name="labledger system",
    roles=frozenset(),
    permissions=frozenset(SYSTEM_PERMISSIONS),
)

#: The audit name of command-line work done without a person's credentials
#: (``labledger import run`` or ``watch`` without ``--user``). A username cannot
#: contain a colon, so it is never mistaken for a person.
COMMAND_LINE = "system:command-line"


def command_line_principal(roles: Iterable[str]) -> Principal:
    """The command line acting on its own behalf, with ``roles`` (all that exist).

    Whoever runs ``labledger`` holds the database already, so withholding a
    role would protect nothing; what matters is that the trail never names a
    person who did not act.
    """
    return Principal(
        id=0,
        username=COMMAND_LINE,
        full_name="labledger command line (no person)",
        roles=frozenset(roles),
        permissions=frozenset(),
    )
