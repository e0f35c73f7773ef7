"""Setting up a database: migrations, built-in roles, the first admin, shipped bundles.

A new installation's configuration is change request 1 (see ``initialise``).

``labledger init`` is safe to run again: migrations bring the schema up to
date, the admin is created only once (its one-time password printed only
then), and re-importing an unchanged shipped bundle changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, func, select

from labledger.bundles.format import Bundle
from labledger.bundles.importer import import_bundle
from labledger.bundles.seeds import Seed, import_seeds, load_demo_data, read_seeds
from labledger.change_gate import control_setting, rehearsed
from labledger.changes.control import set_control
from labledger.changes.service import install, propose_bundles
from labledger.db.engine import Database
from labledger.db.migrate import upgrade
from labledger.db.tables import app_user, change_request, config_item, role
from labledger.identity.principal import SYSTEM
from labledger.identity.roles import ADMIN_ROLE, save_role
from labledger.identity.users import create_user

ADMIN_USERNAME = "admin"


@dataclass
class InitReport:
    admin_password: str | None = None
    bundles: list[str] = field(default_factory=list)
    demo_users: dict[str, str] = field(default_factory=dict)
    #: The change request proposing changed shipped bundles (change control on).
    proposed: int | None = None


def ensure_admin(db: Database) -> str | None:
    """Create the admin role and user if missing; returns the new one-time password."""
    with db.write() as conn:
        has_admin_role = conn.execute(
            select(func.count()).select_from(role).where(role.c.key == ADMIN_ROLE["key"])
        ).scalar_one()
        if not has_admin_role:
            save_role(conn, SYSTEM, ADMIN_ROLE)
        exists = conn.execute(
            select(func.count()).select_from(app_user).where(app_user.c.username == ADMIN_USERNAME)
        ).scalar_one()
        if exists:
            return None
        return create_user(
            conn,
            SYSTEM,
            username=ADMIN_USERNAME,
            full_name="Administrator",
            roles=["admin"],
        )


def initialise(
    db: Database,
    *,
    with_seeds: bool = True,
    demo: bool = False,
    change_control: bool | None = None,
) -> InitReport:
    """Create or upgrade the database and load what ships with the platform.

    A new installation records the admin role and the shipped bundles as
    change request 1, "Initial configuration", with change control on
    (``change_control``; by default off only for ``demo``, an evaluation
    copy). Later runs import shipped bundles that changed directly when
    change control is off, and otherwise propose them as a change request
    that needs approval like any other.
    """
    upgrade(db.engine)
    seeds = read_seeds(max_bytes=db.settings.bundle_max_bytes, demo=demo) if with_seeds else []
    report = InitReport(bundles=[seed.label for seed in seeds])
    with db.write() as conn:
        if _new_installation(conn):
            enabled = not demo if change_control is None else change_control
            set_control(conn, SYSTEM, enabled=enabled, reason=_CONTROL_REASON[enabled])
            bundles = [seed.bundle for seed in seeds]
            install(conn, [ADMIN_ROLE], bundles, title=INITIAL_TITLE, reason=_INITIAL_REASON)
            for seed in seeds:
                report.demo_users.update(load_demo_data(conn, seed))
            seeds = []
    if seeds:
        report.proposed, report.demo_users = _shipped_changes(db, seeds)
    report.admin_password = ensure_admin(db)
    return report


INITIAL_TITLE = "Initial configuration"
_INITIAL_REASON = "Installed by labledger init: the administrator role and the shipped bundles."
_CONTROL_REASON = {
    True: "Installed by labledger init: configuration changes need an approved change request.",
    False: "Installed by labledger init --demo: an evaluation copy, not for validated use.",
}


def _new_installation(conn: Connection) -> bool:
    """No configuration and no change request yet (a database just created)."""
    return not any(
        conn.execute(select(func.count()).select_from(table)).scalar_one()
        for table in (config_item, change_request)
    )


def _shipped_changes(db: Database, seeds: list[Seed]) -> tuple[int | None, dict[str, str]]:
    """Bring the installation up to the shipped bundles and play their demo data.

    With change control off, each bundle is imported with its demo data in
    one transaction. With it on, the bundles that would change something are
    proposed together as a change request for approval (its number is
    returned) and only the demo data is played. Returns the new demo users'
    passwords too.
    """
    passwords: dict[str, str] = {}
    with db.read() as conn:
        controlled = control_setting(conn).enabled
    if not controlled:
        return None, import_seeds(db, seeds)
    with db.write() as conn:
        changed = [seed.bundle for seed in seeds if _would_change(conn, seed.bundle)]
        proposed = (
            propose_bundles(
                conn,
                SYSTEM,
                changed,
                title="Shipped configuration update",
                reason="labledger init found shipped bundles that differ from the installed "
                "ones: " + ", ".join(f"{b.name} {b.version}" for b in changed),
            ).id
            if changed
            else None
        )
    for seed in seeds:
        with db.write(numbers_in_transaction=True) as conn:
            passwords.update(load_demo_data(conn, seed))
    return proposed, passwords


def _would_change(conn: Connection, bundle: Bundle) -> bool:
    with rehearsed(conn):
        return import_bundle(conn, SYSTEM, bundle, dry_run=True).changed
