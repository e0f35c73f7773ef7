"""A scratch copy of an installation's configuration: where the generated cases run.

The configuration is exported from the installation (read only: nothing is
written there) and imported into a new, empty database of the same kind: a
SQLite file in a temporary directory, or a schema of its own in the same
PostgreSQL database (so the cases run on the engine the site runs), deleted
afterwards. Each role gets a user of its own holding only
that role, and a second one for the checks that need someone else (separation
of duties, uniqueness across people), all with one password made for the run.
"""

from __future__ import annotations

import json
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection

from labledger.bundles.export import export_bundle
from labledger.bundles.format import parse_bundle
from labledger.bundles.importer import import_bundle
from labledger.changes.activation import apply_items
from labledger.changes.control import set_control
from labledger.changes.store import ChangeRequest
from labledger.db.engine import Database, open_database
from labledger.db.migrate import upgrade
from labledger.db.tables import app_user
from labledger.identity.principal import SYSTEM, Principal
from labledger.identity.roles import ADMIN_ROLE, list_roles, save_role
from labledger.identity.users import create_user, principal_where

#: What the scratch copy says of its change control: cases publish nothing.
_NO_CONTROL = "A scratch copy for generated qualification tests."


@dataclass(frozen=True)
class Scratch:
    """The copy, its users by role, and the password they share."""

    db: Database
    #: Role key -> the user holding only that role.
    people: dict[str, Principal]
    #: Role key -> a second user holding only that role.
    others: dict[str, Principal]
    password: str
    #: The configuration copied, as a bundle.
    configuration: dict[str, object]


@contextmanager
def scratch_copy(source: Database, proposal: ChangeRequest | None = None) -> Iterator[Scratch]:
    """A fresh database holding ``source``'s configuration and one user per role; with a
    change request ``proposal``, the configuration as the request would leave it (its
    items applied to the copy as activating it would, nothing written to ``source``)."""
    with source.read() as conn:
        bundle = export_bundle(conn, SYSTEM, name="configuration-under-test")
    raw = json.dumps(bundle).encode("utf-8")
    with _empty_database(source) as db:
        upgrade(db.engine)
        password = secrets.token_urlsafe(18)
        with db.write() as conn:
            set_control(conn, SYSTEM, enabled=False, reason=_NO_CONTROL)
            save_role(conn, SYSTEM, ADMIN_ROLE)  # every installation has it; no bundle does
            import_bundle(conn, SYSTEM, parse_bundle(raw, max_bytes=len(raw) + 1))
            if proposal is not None:
                apply_items(conn, SYSTEM, proposal, rehearsal=False)
                bundle = export_bundle(conn, SYSTEM, name="configuration-under-test")
            roles = [r["key"] for r in list_roles(conn)]
            people = {role: _person(conn, f"oq_{role}", role, password) for role in roles}
            others = {role: _person(conn, f"oq2_{role}", role, password) for role in roles}
        yield Scratch(db, people, others, password, bundle)


@contextmanager
def _empty_database(source: Database) -> Iterator[Database]:
    """A new database of ``source``'s kind, dropped afterwards."""
    if source.dialect != "postgresql":
        with tempfile.TemporaryDirectory(prefix="labledger-oq-") as folder:
            db = open_database(f"sqlite:///{Path(folder) / 'oq.db'}", settings=source.settings)
            try:
                yield db
            finally:
                db.dispose()
        return
    schema = f"labledger_oq_{secrets.token_hex(6)}"
    admin = source.engine.execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = source.engine.url.update_query_dict({"options": f"-csearch_path={schema}"})
    db = open_database(url.render_as_string(hide_password=False), settings=source.settings)
    try:
        yield db
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')


def _person(conn: Connection, username: str, role: str, password: str) -> Principal:
    create_user(
        conn,
        SYSTEM,
        username=username[:64],
        full_name=f"Qualification user ({role})",
        roles=[role],
        password=password,
        one_time=False,
    )
    found = principal_where(conn, app_user.c.username == username[:64])
    assert found is not None
    return found
