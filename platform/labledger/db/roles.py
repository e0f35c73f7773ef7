"""PostgreSQL roles that make the audit trail append-only at the database itself.

Triggers refuse UPDATE, DELETE and TRUNCATE on ``audit_event``, but whoever
owns a table can drop its triggers. So in production the application runs as
a *runtime* role that owns nothing: an *owner* role owns the schema, its
tables and functions and runs the migrations; the runtime role gets, table
by table, only the statements the application issues (``RUNTIME_PRIVILEGES``):
no UPDATE, DELETE or TRUNCATE on the audit trail, signatures, published
configuration versions or the outbox.

Publishing an object type creates expression indexes on ``record`` and a
report view, which only the table's owner may do. The runtime role does it
through one ``SECURITY DEFINER`` function owned by the owner role, which
runs a statement only if it has exactly the form ``labledger.metadata.physical``
writes (``TYPE_DDL_PATTERN``): no other DDL can pass through it.

SQLite has no roles; its triggers protect the trail there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from psycopg import sql
from sqlalchemy import Connection, text

from labledger.audit.trail import AuditEntry, append
from labledger.db.engine import Database
from labledger.errors import Conflict, FieldError, ValidationFailed
from labledger.identity.principal import Principal

OWNER_DEFAULT = "labledger_owner"
RUNTIME_DEFAULT = "labledger_app"

_READ_APPEND = ("SELECT", "INSERT")
_READ_WRITE = ("SELECT", "INSERT", "UPDATE")
_READ_LINK = ("SELECT", "INSERT", "DELETE")

#: What the runtime role may do to each table, from what the services do to it.
RUNTIME_PRIVILEGES: dict[str, tuple[str, ...]] = {
    # Append-only: the chain, signatures, published definitions, the event feed.
    "audit_event": _READ_APPEND,
    "signature": _READ_APPEND,
    "config_version": _READ_APPEND,
    "outbox_event": _READ_APPEND,
    "webhook_attempt": _READ_APPEND,
    "instance_setting": _READ_APPEND,
    # The chain tip moves on every append; its one row is never added or removed.
    "audit_head": ("SELECT", "UPDATE"),
    # Rows that change but are never removed.
    "config_item": _READ_WRITE,
    "role": _READ_WRITE,
    "app_user": _READ_WRITE,
    "api_token": _READ_WRITE,
    "web_session": _READ_WRITE,
    "record": _READ_WRITE,
    "number_counter": _READ_WRITE,
    "attachment": _READ_WRITE,
    "webhook_subscription": _READ_WRITE,
    "webhook_delivery": _READ_WRITE,
    "import_run": _READ_WRITE,
    # Rate-limit counters: a key's row is upserted, its window restarted in place.
    "rate_limit": _READ_WRITE,
    # Link rows rewritten as a whole (a user's roles, a record's references).
    "user_role": _READ_LINK,
    "record_reference": _READ_LINK,
    "alembic_version": ("SELECT",),
}

#: What the runtime role gets on a table the list above does not name yet
#: (one a later release adds): what the application may need of any table.
UNLISTED_TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")

#: Views, and any relation the owner creates before the grants are renewed
#: (the default privileges), can only be read. Write privileges on a view
#: would act on ``record`` with the view owner's rights, DELETE included.
READ_ONLY = ("SELECT",)

TYPE_DDL_FUNCTION = "labledger_type_ddl"

_ROLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def _type_ddl_pattern() -> str:
    """The statements ``metadata.physical`` writes, as one anchored regular expression.

    Written in the syntax Python and PostgreSQL share, so that the test suite
    can prove every generated statement matches it.
    """
    key = "[a-z][a-z0-9_]{0,63}"
    index = "(?:ixf|uxf)_[0-9a-f]{8}_[0-9a-f]{8}_[a-z0-9_]{1,33}"

    def value_of(data: str) -> str:
        return (
            rf"\((?:{data} -> '{key}'|{data} ->> '{key}'"
            rf"|\({data} ->> '{key}'\)::(?:numeric|boolean))\)"
        )

    cast = "(?:bigint|boolean|date|numeric|text|timestamptz)"
    in_view = r"record\.data"
    column = (
        rf"(?:[a-z_]+ AS [a-z_]+|\(record\.data ->> '{key}'\)::{cast} AS \"{key}\""
        rf"|{value_of(in_view)} AS \"{key}\")"
    )
    of_type = f"WHERE type_key = '{key}'"
    forms = (
        f"DROP INDEX {index}",
        rf"CREATE INDEX {index} ON record \({value_of('data')}, created_at, id\) {of_type}",
        rf"CREATE UNIQUE INDEX {index} ON record \({value_of('data')}\) {of_type}",
        f"DROP VIEW IF EXISTS report_{key}",
        f"CREATE VIEW report_{key} AS SELECT {column}(?:, {column})* FROM record {of_type}",  # noqa: S608
    )
    return "^(?:" + "|".join(forms) + ")$"


TYPE_DDL_PATTERN = _type_ddl_pattern()


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


def quote(identifier: str) -> str:
    """A PostgreSQL identifier in double quotes (names from the catalogs included)."""
    return '"' + identifier.replace('"', '""') + '"'


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
        from labledger.db.migrate import upgrade_connection  # migrate renews grants from here

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


def grant_runtime_privileges(conn: Connection, schema: str, runtime: str) -> None:
    """Give ``runtime`` exactly its privileges on every table, view and sequence in ``schema``.

    Run as the owner of the objects. Everything is revoked first, so a grant
    someone added by hand does not survive.
    """
    relations = conn.execute(
        text(
            "SELECT c.relname, c.relkind IN ('v', 'm') FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'v', 'm') ORDER BY c.relname"
        ),
        {"schema": schema},
    ).all()
    grantee = quote(runtime)
    statements = [f"GRANT USAGE ON SCHEMA {quote(schema)} TO {grantee}"]
    for name, is_view in relations:
        target = f"{quote(schema)}.{quote(name)}"
        allowed = READ_ONLY if is_view else RUNTIME_PRIVILEGES.get(name)
        statements += [
            f"REVOKE ALL ON {target} FROM {grantee}",
            f"GRANT {', '.join(allowed or UNLISTED_TABLE_PRIVILEGES)} ON {target} TO {grantee}",
        ]
    statements.append(
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {quote(schema)} TO {grantee}"
    )
    conn.exec_driver_sql(";\n".join(statements))


def renew_runtime_grants(conn: Connection) -> None:
    """After migrations: give every runtime role of this schema's owner its exact privileges.

    The runtime roles are those the connected role's default privileges name
    (``set_up_roles`` records them there), so an upgrade run as the owner
    narrows the grants of new tables without being told the role names.
    """
    schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
    for runtime in _default_grantees(conn, schema):
        grant_runtime_privileges(conn, schema, runtime)


def _default_grantees(conn: Connection, schema: str) -> Iterable[str]:
    return conn.execute(
        text(
            "SELECT DISTINCT pg_get_userbyid(a.grantee) FROM pg_default_acl d "
            "JOIN pg_namespace n ON n.oid = d.defaclnamespace, aclexplode(d.defaclacl) a "
            "WHERE n.nspname = :schema AND d.defaclrole = CAST(current_user AS regrole) "
            "AND d.defaclobjtype = 'r' AND a.grantee <> 0"
        ),
        {"schema": schema},
    ).scalars()


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


def run_type_ddl(conn: Connection, statements: list[str]) -> None:
    """Run a type's index and view statements on PostgreSQL, in one round trip.

    The owner of ``record`` runs them itself; any other role (the runtime
    role) asks the owner's checking function to run them.
    """
    owns_record = conn.exec_driver_sql(
        "SELECT pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = 'record'::regclass"
    ).scalar_one()
    if owns_record:
        conn.exec_driver_sql(";\n".join(statements))
    else:
        conn.execute(text(f"SELECT {TYPE_DDL_FUNCTION}(:statements)"), {"statements": statements})
