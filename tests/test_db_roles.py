"""`labledger db roles`: the application runs as a role that cannot rewrite history.

PostgreSQL roles are cluster-wide and other tests share the server, so every
test names its own roles and drops them (with their privileges) afterwards.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from labledger.audit.verify import verify
from labledger.cli import main
from labledger.db.engine import Database, normalise_url, open_database
from labledger.db.migrate import upgrade
from labledger.db.roles import TYPE_DDL_FUNCTION, TYPE_DDL_PATTERN
from labledger.db.tables import app_user, audit_event, record
from labledger.identity.principal import SYSTEM
from labledger.identity.roles import save_role
from labledger.identity.users import create_user, load_principal
from labledger.metadata.model import compile_model
from labledger.metadata.physical import desired_indexes, record_index_names, report_view_statements
from labledger.metadata.types import definition_context, publish_type
from labledger.records.service import create_record, update_record
from labledger.workflows.definitions import publish_workflow
from labledger.workflows.engine import SignatureInput, run_transition
from tests.conftest import PG_URL, TEST_PASSWORD
from tests.definitions import batch_type, database_url, measurement_type
from tests.workflow_definitions import JOB_FLOW, TASK_FLOW, job_type, task_type


@dataclass(frozen=True)
class Roles:
    owner: str
    runtime: str


@pytest.fixture
def roles(db: Database) -> Iterator[Roles]:
    """Role names no other test uses; afterwards the roles and all they own are gone."""
    suffix = uuid.uuid4().hex[:10]
    names = Roles(owner=f"ll_owner_{suffix}", runtime=f"ll_app_{suffix}")
    yield names
    admin = create_engine(normalise_url(PG_URL or ""), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in (names.runtime, names.owner):
            if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).first():
                conn.exec_driver_sql(f'REASSIGN OWNED BY "{name}" TO CURRENT_USER')
                conn.exec_driver_sql(f'DROP OWNED BY "{name}"')
                conn.exec_driver_sql(f'DROP ROLE "{name}"')
    admin.dispose()


def _set_up(db: Database, roles: Roles) -> int:
    url = database_url(db)
    return main(
        ["--database", url, "db", "roles", "--owner", roles.owner, "--runtime", roles.runtime]
    )


def _as_role(db: Database, role: str) -> Database:
    """The test's database (same schema) reached as ``role``."""
    url = make_url(database_url(db)).set(username=role)
    return open_database(url.render_as_string(hide_password=False), pool_size=2, max_overflow=0)


@pytest.fixture
def runtime_db(db: Database, roles: Roles) -> Iterator[Database]:
    assert _set_up(db, roles) == 0
    runtime = _as_role(db, roles.runtime)
    yield runtime
    runtime.dispose()


def _refused(db: Database, statement: str) -> str:
    """The database's refusal of ``statement`` (which must be refused)."""
    with pytest.raises(ProgrammingError) as refused, db.write() as conn:
        conn.exec_driver_sql(statement)
    assert isinstance(refused.value.orig, psycopg.errors.InsufficientPrivilege)
    return str(refused.value.orig)


def _people(db: Database) -> dict[str, Any]:
    with db.write() as conn:
        for key in ("analyst", "reviewer", "qa"):
            save_role(conn, SYSTEM, {"key": key, "label": key.title()})
        for username, role_key in (("alice", "analyst"), ("rob", "reviewer")):
            create_user(
                conn,
                SYSTEM,
                username=username,
                full_name=username.title(),
                roles=[role_key],
                password=TEST_PASSWORD,
                one_time=False,
            )
        ids = conn.execute(select(app_user.c.username, app_user.c.id)).all()
        return {username: load_principal(conn, id_) for username, id_ in ids}


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
@pytest.mark.skipif(not PG_URL, reason="database roles exist only on PostgreSQL")
def test_the_application_runs_as_the_runtime_role(db, roles, runtime_db):
    people = _people(runtime_db)
    with runtime_db.write() as conn:  # types build indexes and views through the owner's function
        publish_workflow(conn, SYSTEM, TASK_FLOW)
        publish_workflow(conn, SYSTEM, JOB_FLOW)
        publish_type(
            conn, SYSTEM, job_type(), context=definition_context(conn, "job", extra_types={"task"})
        )
        publish_type(conn, SYSTEM, task_type())
        publish_type(conn, SYSTEM, batch_type())
        assert any(name.startswith("uxf_") for name in record_index_names(conn))
        job = create_record(conn, people["alice"], "job", {"title": "Lot 7"})

    def step(who: str, type_key: str, record_id: int, key: str, **signing: Any) -> dict[str, Any]:
        return run_transition(
            runtime_db,
            people[who],
            type_key,
            record_id,
            key,
            **signing,
        )

    step("alice", "job", job["id"], "start")
    with runtime_db.write() as conn:
        task_id = conn.execute(select(record.c.id).where(record.c.type_key == "task")).scalar_one()
        update_record(
            conn,
            people["alice"],
            "task",
            task_id,
            {"value": 4.2},
            expected_version=1,
        )
    step("alice", "task", task_id, "enter")
    signature = SignatureInput("rob", TEST_PASSWORD)
    assert step("rob", "task", task_id, "review", signature=signature)["state"] == "reviewed"

    with runtime_db.read() as conn:
        assert verify(conn).ok
    for statement in (
        "UPDATE audit_event SET actor = 'mallory'",
        "DELETE FROM audit_event",
        "TRUNCATE audit_event",
        "UPDATE signature SET meaning = 'Approved'",
        "DELETE FROM signature",
        "TRUNCATE signature",
        "DELETE FROM config_version",
        "DELETE FROM report_job",  # a view acts on record with its owner's rights
    ):
        assert "permission denied" in _refused(runtime_db, statement), statement
    for statement in (
        "DROP TRIGGER audit_event_no_update_delete ON audit_event",
        "ALTER TABLE audit_event DISABLE TRIGGER ALL",
        "ALTER TABLE signature ADD COLUMN note text",
        "DROP TABLE audit_event",
    ):
        assert "must be owner" in _refused(runtime_db, statement), statement
    assert "permission denied for schema" in _refused(runtime_db, "CREATE TABLE mine (id int)")
    smuggled = (
        f"SELECT {TYPE_DDL_FUNCTION}(ARRAY['DROP TRIGGER audit_event_no_truncate ON audit_event'])"
    )
    assert "not an object type index or report view" in _refused(runtime_db, smuggled)
    with runtime_db.read() as conn:
        assert verify(conn).ok


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
@pytest.mark.skipif(not PG_URL, reason="database roles exist only on PostgreSQL")
def test_running_it_again_changes_nothing_but_repairs_grants(db, roles, capsys):
    assert _set_up(db, roles) == 0
    owner = _as_role(db, roles.owner)
    try:
        with owner.write() as conn:  # a grant added by hand
            conn.exec_driver_sql(f'GRANT UPDATE, DELETE ON audit_event TO "{roles.runtime}"')
        assert _set_up(db, roles) == 0
        with owner.write() as conn:  # the same drift, then an upgrade run by the owner
            conn.exec_driver_sql(f'GRANT TRUNCATE ON signature TO "{roles.runtime}"')
        upgrade(owner.engine)
        with owner.read() as conn:
            granted = conn.execute(
                text(
                    "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
                    "WHERE grantee = :runtime AND table_name IN ('audit_event', 'signature')"
                ),
                {"runtime": roles.runtime},
            ).all()
            actions = (
                conn.execute(
                    select(audit_event.c.details).where(audit_event.c.action == "db.roles")
                )
                .scalars()
                .all()
            )
    finally:
        owner.dispose()
    assert sorted(granted) == [
        ("audit_event", "INSERT"),
        ("audit_event", "SELECT"),
        ("signature", "INSERT"),
        ("signature", "SELECT"),
    ]
    assert len(actions) == 2
    assert actions[1]["runtime"] == roles.runtime
    printed = capsys.readouterr().out
    assert f"role {roles.owner} created" in printed
    assert f"role {roles.owner} updated" in printed


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
@pytest.mark.skipif(not PG_URL, reason="database roles exist only on PostgreSQL")
def test_passwords_are_set_but_never_stored_in_the_trail(db, roles, monkeypatch):
    secret = f"pw-{uuid.uuid4().hex}"
    monkeypatch.setenv("LABLEDGER_DB_RUNTIME_PASSWORD", secret)
    assert _set_up(db, roles) == 0
    with db.read() as conn:
        stored = conn.execute(
            text("SELECT rolpassword FROM pg_authid WHERE rolname = :name"),
            {"name": roles.runtime},
        ).scalar_one()
        trail = conn.execute(select(audit_event.c.details)).scalars().all()
    assert stored.startswith("SCRAM-SHA-256$") and secret not in stored
    assert secret not in repr(trail)
    assert {"passwords_set": ["runtime"]}.items() <= trail[-1].items()


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
@pytest.mark.skipif(not PG_URL, reason="database roles exist only on PostgreSQL")
def test_a_superuser_is_not_accepted_as_a_role(db, roles, capsys):
    with db.read() as conn:
        superuser = conn.exec_driver_sql("SELECT current_user").scalar_one()
    url = database_url(db)
    assert main(["--database", url, "db", "roles", "--owner", superuser]) == 1
    assert "is a superuser" in capsys.readouterr().err


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
@pytest.mark.skipif(not PG_URL, reason="database roles exist only on PostgreSQL")
def test_a_runtime_role_that_may_act_as_the_owner_is_refused(db, roles, capsys):
    assert _set_up(db, roles) == 0
    with db.write() as conn:
        conn.exec_driver_sql(f'GRANT "{roles.owner}" TO "{roles.runtime}"')
    assert _set_up(db, roles) == 1
    assert f"is a member of '{roles.owner}'" in capsys.readouterr().err


def test_sqlite_is_refused_readably(tmp_path, capsys):
    path = tmp_path / "lab.db"
    assert main(["--database", f"sqlite:///{path}", "db", "roles"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Database roles exist only on PostgreSQL")
    assert "Traceback" not in err
    assert not path.exists()


def test_every_statement_a_type_needs_passes_the_owner_function():
    """The function's whitelist matches what ``metadata.physical`` writes, field kind by kind."""
    pattern = re.compile(TYPE_DDL_PATTERN)
    for definition in (batch_type(), measurement_type()):
        fields = [{**field, "filterable": True, "unique": True} for field in definition["fields"]]
        model = compile_model(definition["key"], 1, {**definition, "fields": fields})
        indexes = desired_indexes("postgresql", model)
        statements = [
            *indexes.values(),
            *(f"DROP INDEX {name}" for name in indexes),
            *report_view_statements("postgresql", model),
        ]
        assert len(statements) > 2 * len(fields)
        for statement in statements:
            assert pattern.match(statement), statement
    for smuggled in (
        "DROP TRIGGER audit_event_no_update_delete ON audit_event",
        "DROP INDEX ixf_00000000_00000000_a_b; DROP TABLE audit_event",
        "CREATE VIEW report_x AS SELECT id AS record_id FROM audit_event WHERE type_key = 'x'",
    ):
        assert not pattern.match(smuggled), smuggled
