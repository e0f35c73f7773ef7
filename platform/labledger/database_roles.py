"""``labledger db roles``: create the PostgreSQL owner and runtime roles and hand over the schema.

What each role may do, and why, is ``labledger.db.roles``; this module is the
one administrative step that sets the roles up, audited like any other
configuration change, so it sits above the audit trail and the migrations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from psycopg import sql
from sqlalchemy import Connection, text

from labledger.audit.trail import AuditEntry, append
from labledger.db.engine import Database
from labledger.db.migrate import upgrade_connection
from labledger.db.roles import READ_ONLY, TYPE_DDL_FUNCTION, TYPE_DDL_PATTERN, quote
from labledger.errors import Conflict, FieldError, ValidationFailed
from labledger.identity.principal import Principal

OWNER_DEFAULT = "labledger_owner"
RUNTIME_DEFAULT = "labledger_app"

_ROLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class RolePlan:
    """The two roles to set up, and the passwords to give them (None: leave as is)."""

    owner: str = OWNER_DEFAULT
    runtime: str = RUNTIME_DEFAULT
    owner_password: str | None = field(default=None, repr=False)
    runtime_password: str | None = field(default=None, repr=False)


@dataclass
class RoleReport:
    """What ``set_up_roles`` did, one line per step, for the operator."""

    schema: str
    steps: list[str] = field(default_factory=list)


def set_up_roles(db: Database, plan: RolePlan, actor: Principal) -> RoleReport:
    """Create or update the owner and runtime roles and hand the schema to the owner.

    One transaction, run by a superuser: roles, ownership, migrations (as the
    owner), grants and the audit event commit together or not at all.
    Running it again repairs whatever drifted and changes nothing else.
    """
    if db.dialect != "postgresql":
        raise Conflict(
            "Database roles exist only on PostgreSQL. On SQLite the audit trail is "
            "protected by the database's triggers; there is nothing to set up."
        )
    _check_names(plan)
    with db.write() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
        report = RoleReport(schema)
        for where, name, password in (
            ("owner", plan.owner, plan.owner_password),
            ("runtime", plan.runtime, plan.runtime_password),
        ):
            report.steps.append(_ensure_login_role(conn, where, name, password))
        _refuse_inherited_ownership(conn, plan)
        report.steps += _hand_schema_to_owner(conn, schema, plan.owner)
        conn.exec_driver_sql(f"SET LOCAL ROLE {quote(plan.owner)}")
        _set_default_privileges(conn, schema, plan.owner, plan.runtime)
        _install_type_ddl_function(conn, schema, plan.runtime)
        # Migrating renews the grants of the runtime role just named in the defaults.
        upgrade_connection(conn)
        report.steps.append(
            f"migrations applied as {plan.owner}; {plan.runtime} granted table by table"
        )
        append(conn, [_audit_entry(actor, plan, schema)])
        conn.exec_driver_sql("RESET ROLE")
    return report


def _check_names(plan: RolePlan) -> None:
    errors = [
        FieldError(where, "use lower-case letters, digits and _ (start with a letter)")
        for where, name in (("owner", plan.owner), ("runtime", plan.runtime))
        if not _ROLE_NAME.match(name)
    ]
    if plan.owner == plan.runtime:
        errors.append(FieldError("runtime", "must differ from the owner role"))
    if errors:
        raise ValidationFailed("The role names are not valid.", errors)


def _ensure_login_role(conn: Connection, where: str, name: str, password: str | None) -> str:
    """Create the role, or bring an existing one back to a plain login role."""
    existing = conn.execute(
        text("SELECT rolsuper FROM pg_roles WHERE rolname = :name"), {"name": name}
    ).first()
    if existing is not None and existing.rolsuper:
        raise ValidationFailed(
            f"Role '{name}' is a superuser; choose a role that serves labledger alone.",
            [FieldError(where, f"'{name}' is a superuser")],
        )
    verb = "ALTER" if existing else "CREATE"
    conn.exec_driver_sql(
        f"{verb} ROLE {quote(name)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
        "NOREPLICATION NOBYPASSRLS"
    )
    step = f"role {name} {'updated' if existing else 'created'}"
    if password is not None:
        _set_password(conn, name, password)
        step += ", password set"
    return step


def _refuse_inherited_ownership(conn: Connection, plan: RolePlan) -> None:
    """A runtime role that is a member of the owner role would own everything the owner owns."""
    member = conn.execute(
        text("SELECT pg_has_role(:runtime, :owner, 'MEMBER')"),
        {"runtime": plan.runtime, "owner": plan.owner},
    ).scalar_one()
    if member:
        raise ValidationFailed(
            f"Role '{plan.runtime}' is a member of '{plan.owner}' and so may act as the owner; "
            f"revoke that membership first (REVOKE {plan.owner} FROM {plan.runtime}).",
            [FieldError("runtime", f"member of '{plan.owner}'")],
        )


def _set_password(conn: Connection, name: str, password: str) -> None:
    """Store a SCRAM verifier computed here: the password itself never reaches the server."""
    driver = conn.connection.driver_connection
    verifier = driver.pgconn.encrypt_password(password.encode(), name.encode())  # type: ignore[union-attr]
    statement = sql.SQL("ALTER ROLE {} PASSWORD {}").format(
        sql.Identifier(name), sql.Literal(verifier.decode())
    )
    conn.exec_driver_sql(statement.as_string(driver))


def _hand_schema_to_owner(conn: Connection, schema: str, owner: str) -> list[str]:
    """Make the owner role own the schema and everything in it; nobody else may create."""
    conn.exec_driver_sql(f"ALTER SCHEMA {quote(schema)} OWNER TO {quote(owner)}")
    conn.exec_driver_sql(f"REVOKE CREATE ON SCHEMA {quote(schema)} FROM PUBLIC")
    moved = [
        f"ALTER {kind} {target} OWNER TO {quote(owner)}"
        for kind, target in _objects_owned_by_others(conn, schema, owner)
    ]
    if moved:
        conn.exec_driver_sql(";\n".join(moved))
    return [f"schema {schema} owned by {owner}; {len(moved)} objects handed over"]


_KINDS = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}


def _objects_owned_by_others(conn: Connection, schema: str, owner: str) -> list[tuple[str, str]]:
    """(statement keyword, target) of the schema's relations and functions ``owner`` does not own.

    Sequences that belong to a column move with their table.
    """
    relations = conn.execute(
        text(
            "SELECT c.relkind, c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'v', 'm', 'S') "
            "AND c.relowner <> CAST(:owner AS regrole) "
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass "
            "AND d.objid = c.oid AND d.deptype IN ('a', 'i')) ORDER BY c.relname"
        ),
        {"schema": schema, "owner": owner},
    ).all()
    functions = conn.execute(
        text(
            "SELECT CAST(CAST(p.oid AS regprocedure) AS text) "
            "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = :schema AND p.proowner <> CAST(:owner AS regrole) ORDER BY 1"
        ),
        {"schema": schema, "owner": owner},
    ).scalars()
    qualified = f"{quote(schema)}."
    return [(_KINDS[kind], qualified + quote(name)) for kind, name in relations] + [
        ("FUNCTION", signature) for signature in functions
    ]


def _set_default_privileges(conn: Connection, schema: str, owner: str, runtime: str) -> None:
    """What tables, views and sequences the owner creates later give the runtime role.

    Read-only: a table a migration adds gets its write privileges when the
    migration's grants are renewed (``renew_runtime_grants``), a report view
    never gets any.
    """
    scope = f"ALTER DEFAULT PRIVILEGES FOR ROLE {quote(owner)} IN SCHEMA {quote(schema)}"
    grantee = quote(runtime)
    conn.exec_driver_sql(
        f"{scope} REVOKE ALL ON TABLES FROM {grantee};\n"
        f"{scope} GRANT {', '.join(READ_ONLY)} ON TABLES TO {grantee};\n"
        f"{scope} GRANT USAGE, SELECT ON SEQUENCES TO {grantee}"
    )


def _install_type_ddl_function(conn: Connection, schema: str, runtime: str) -> None:
    """The owner's function through which the runtime role builds type indexes and views."""
    conn.exec_driver_sql(
        f"""
        CREATE OR REPLACE FUNCTION {quote(schema)}.{TYPE_DDL_FUNCTION}(statements text[])
        RETURNS void LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = {quote(schema)}, pg_temp AS $fn$
        DECLARE
            statement text;
        BEGIN
            FOREACH statement IN ARRAY statements LOOP
                IF statement !~ $re${TYPE_DDL_PATTERN}$re$ THEN
                    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
                        MESSAGE = 'not an object type index or report view: '
                            || left(statement, 200);
                END IF;
                EXECUTE statement;
            END LOOP;
        END;
        $fn$;
        REVOKE ALL ON FUNCTION {quote(schema)}.{TYPE_DDL_FUNCTION}(text[]) FROM PUBLIC;
        GRANT EXECUTE ON FUNCTION {quote(schema)}.{TYPE_DDL_FUNCTION}(text[]) TO {quote(runtime)}
        """
    )


def _audit_entry(actor: Principal, plan: RolePlan, schema: str) -> AuditEntry:
    """The configuration change as the trail records it: names, never passwords."""
    return AuditEntry(
        actor=actor.username,
        action="db.roles",
        details={
            "schema": schema,
            "owner": plan.owner,
            "runtime": plan.runtime,
            "passwords_set": [
                role
                for role, password in (
                    ("owner", plan.owner_password),
                    ("runtime", plan.runtime_password),
                )
                if password is not None
            ],
        },
    )
