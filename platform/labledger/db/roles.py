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

SQLite has no roles; its triggers protect the trail there. Setting the two
roles up (``labledger db roles``) is ``labledger.database_roles``; this
module holds what the roles may do, which migrations also need.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, text

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
    "outbox_position": _READ_APPEND,
    "webhook_attempt": _READ_APPEND,
    "instance_setting": _READ_APPEND,
    "change_approval": _READ_APPEND,
    "change_control_setting": _READ_APPEND,
    # A lane's tip moves on every append, and how far its events have feed positions on
    # every feed read; their one row per lane is never added or removed.
    "audit_head": ("SELECT", "UPDATE"),
    "outbox_lane": ("SELECT", "UPDATE"),
    # Rows that change but are never removed.
    "config_item": _READ_WRITE,
    "change_request": _READ_WRITE,
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
    "change_request_item": _READ_LINK,
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


def quote(identifier: str) -> str:
    """A PostgreSQL identifier in double quotes (names from the catalogs included)."""
    return '"' + identifier.replace('"', '""') + '"'


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
