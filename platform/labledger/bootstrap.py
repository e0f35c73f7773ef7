"""Setting up a database: migrations, built-in roles, the first admin, shipped bundles.

``labledger init`` is safe to run again: migrations bring the schema up to
date, the admin is created only once (its one-time password printed only
then), and re-importing an unchanged shipped bundle changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from labledger.bundles.seeds import load_seed_bundles
from labledger.db.engine import Database
from labledger.db.migrate import upgrade
from labledger.db.tables import app_user, role
from labledger.identity.principal import SYSTEM
from labledger.identity.roles import ADMIN_ROLE, save_role
from labledger.identity.users import create_user

ADMIN_USERNAME = "admin"


@dataclass
class InitReport:
    admin_password: str | None = None
    bundles: list[str] = field(default_factory=list)
    demo_users: dict[str, str] = field(default_factory=dict)


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


def initialise(db: Database, *, with_seeds: bool = True, demo: bool = False) -> InitReport:
    """Create or upgrade the database and load what ships with the platform."""
    upgrade(db.engine)
    report = InitReport(admin_password=ensure_admin(db))
    if with_seeds:
        report.bundles, report.demo_users = load_seed_bundles(db, demo=demo)
    return report
