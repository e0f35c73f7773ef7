"""Roles are data: a key, a label and the system permissions they grant."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select, update

from labledger.audit.results import role_result
from labledger.audit.trail import AuditEntry, append
from labledger.change_gate import require_change
from labledger.db.jsonfields import NUL_MESSAGE, nul_paths
from labledger.db.tables import role
from labledger.db.types import utc_now
from labledger.errors import FieldError, Forbidden, ValidationFailed
from labledger.identity.principal import (
    CONFIGURE,
    EVERYONE,
    MIGRATE_RECORDS,
    SYSTEM_PERMISSIONS,
    Principal,
)
from labledger.identity.token_cache import forget_identities

#: The audit action of a role created or changed.
ROLE_SAVE_ACTION = "role.save"

ROLE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

#: The one role every installation has: every system permission but migrating
#: records, which an installation grants deliberately, for a migration.
ADMIN_ROLE = {
    "key": "admin",
    "label": "Administrator",
    "description": "Configures the system and manages users.",
    "permissions": [p for p in SYSTEM_PERMISSIONS if p != MIGRATE_RECORDS],
}


def list_roles(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(role).order_by(role.c.key)).mappings()
    return [{k: r[k] for k in ("key", "label", "description", "permissions")} for r in rows]


def role_labels(conn: Connection, keys: Sequence[str]) -> list[str]:
    """The labels of roles ``keys``, in order, as people know them ("Quality assurance",
    not "qa"); "everyone" for ``*``, the key itself for a role that no longer exists."""
    found = dict(conn.execute(select(role.c.key, role.c.label).where(role.c.key.in_(keys))).all())
    return ["everyone" if key == EVERYONE else found.get(key, key) for key in keys]


def existing_role_keys(conn: Connection) -> set[str]:
    return set(conn.execute(select(role.c.key)).scalars())


def _validate(definition: dict[str, Any]) -> None:
    errors = []
    if not ROLE_KEY.match(str(definition.get("key", ""))):
        errors.append(
            FieldError("key", "use lower-case letters, digits and _ (start with a letter)")
        )
    if not str(definition.get("label", "")).strip():
        errors.append(FieldError("label", "a label is required"))
    errors += [FieldError(path, NUL_MESSAGE) for path in nul_paths(definition)]
    unknown = set(definition.get("permissions", [])) - set(SYSTEM_PERMISSIONS)
    if unknown:
        errors.append(
            FieldError("permissions", f"unknown permission(s): {', '.join(sorted(unknown))}")
        )
    if errors:
        raise ValidationFailed("The role is not valid.", errors)


def save_role(conn: Connection, actor: Principal, definition: dict[str, Any]) -> bool:
    """Create or update a role; returns False when nothing changed. Audited."""
    if not actor.has_permission(CONFIGURE):
        raise Forbidden("Defining roles needs the 'configure' permission.")
    _validate(definition)
    values = {
        "label": definition["label"].strip(),
        "description": definition.get("description", ""),
        "permissions": sorted(set(definition.get("permissions", []))),
    }
    current = conn.execute(select(role).where(role.c.key == definition["key"])).mappings().first()
    if current is None or any(current[k] != v for k, v in values.items()):
        require_change(conn, f"role '{definition['key']}'")
    if current is None:
        conn.execute(insert(role).values(key=definition["key"], created_at=utc_now(), **values))
        changes = {k: {"old": None, "new": v} for k, v in values.items()}
    else:
        changes = {k: {"old": current[k], "new": v} for k, v in values.items() if current[k] != v}
        if not changes:
            return False
        conn.execute(update(role).where(role.c.key == definition["key"]).values(**values))
    forget_identities()  # its users' permissions change
    append(
        conn,
        [
            AuditEntry(
                actor=actor.username,
                action=ROLE_SAVE_ACTION,
                changes=changes,
                details={"role": definition["key"]},
                outbox_kind="config.role",
                outbox_payload={"role": definition["key"]},
                result_hash=role_result({"key": definition["key"], **values}),
            )
        ],
    )
    return True
