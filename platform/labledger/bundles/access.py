"""Who may import and export bundles: the permissions checked before any work."""

from __future__ import annotations

from labledger.errors import Forbidden
from labledger.identity.principal import CONFIGURE, MIGRATE_RECORDS, Principal


def require_configure(actor: Principal, *, migrate: bool = False) -> None:
    """Importing needs 'configure'; a migration of records also 'migrate_records'."""
    if not actor.has_permission(CONFIGURE):
        raise Forbidden("Importing and exporting bundles needs the 'configure' permission.")
    if migrate and not actor.has_permission(MIGRATE_RECORDS):
        raise Forbidden(
            "Migrating records with their state needs the 'migrate_records' permission."
        )
