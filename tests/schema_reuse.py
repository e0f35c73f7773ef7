"""PostgreSQL test schemas put back as their script left them, to be used again.

A fresh test schema costs a tenth of a second of server time, and dropping
it leaves every catalog row it had dead until the catalogs are vacuumed
(servers without autovacuum grow by hundreds of megabytes a run, and every
statement slows down). So a used schema is put back instead: the views and
indexes the test added (publishing a type creates both) are dropped, every
table is emptied, every sequence restarted, and the data statements of the
script replayed. Whether the test changed the schema's structure in any
other way (a trigger disabled or dropped, a column added, a grant) is read
from a digest of its catalog entries; such a schema is not put back but
replaced by a fresh one.

Emptying the append-only tables needs their triggers off
(``session_replication_role``), which only a superuser may set; for any
other user, schemas are never reused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from tests.schema_script import Statement, send

#: Statements that change structure; everything else a script sends is replayed.
_STRUCTURE = ("CREATE", "ALTER", "DROP", "COMMENT", "GRANT", "REVOKE")
#: The kinds of relation a test may add and the reset drops: views and indexes.
_ADDED_KINDS = {"v": "VIEW", "m": "MATERIALIZED VIEW", "i": "INDEX"}

_SCHEMA = "current_schema()::regnamespace"
#: One line per catalog entry of the schema that a test could change, without the
#: schema's own name (so that every schema of one script has the same digest).
_DIGEST = f"""
SELECT md5(string_agg(replace(item, quote_ident(current_schema()) || '.', ''), E'\\n'
                      ORDER BY item))
FROM (
  SELECT concat_ws(' ', 'class', relname, relkind::text, relacl, relrowsecurity, reloptions,
                   relpersistence::text)
    FROM pg_class WHERE relnamespace = {_SCHEMA}
  UNION ALL
  SELECT concat_ws(' ', 'column', c.relname, a.attname, a.attnum,
                   format_type(a.atttypid, a.atttypmod), a.attnotnull,
                   pg_get_expr(d.adbin, d.adrelid))
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE c.relnamespace = {_SCHEMA} AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT concat_ws(' ', 'constraint', conrelid::regclass, conname, pg_get_constraintdef(oid))
    FROM pg_constraint WHERE connamespace = {_SCHEMA}
  UNION ALL
  SELECT concat_ws(' ', 'index', pg_get_indexdef(i.indexrelid))
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = {_SCHEMA}
  UNION ALL
  SELECT concat_ws(' ', 'trigger', t.tgenabled::text, pg_get_triggerdef(t.oid))
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    WHERE c.relnamespace = {_SCHEMA} AND NOT t.tgisinternal
  UNION ALL
  SELECT concat_ws(' ', 'function', proname, pg_get_function_identity_arguments(oid), md5(prosrc),
                   prosecdef, proconfig, proacl)
    FROM pg_proc WHERE pronamespace = {_SCHEMA}
  UNION ALL
  SELECT concat_ws(' ', 'view', relname, md5(pg_get_viewdef(oid)))
    FROM pg_class WHERE relnamespace = {_SCHEMA} AND relkind IN ('v', 'm')
  UNION ALL
  SELECT concat_ws(' ', 'policy', p.polname, p.polrelid::regclass,
                   pg_get_expr(p.polqual, p.polrelid))
    FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = {_SCHEMA}
  UNION ALL
  SELECT concat_ws(' ', 'rule', r.rulename, r.ev_class::regclass)
    FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
    WHERE c.relnamespace = {_SCHEMA} AND r.rulename <> '_RETURN'
  UNION ALL
  SELECT concat_ws(' ', 'schema', nspacl) FROM pg_namespace WHERE oid = {_SCHEMA}
  UNION ALL
  SELECT concat_ws(' ', 'defaults', defaclobjtype::text, defaclacl)
    FROM pg_default_acl WHERE defaclnamespace = {_SCHEMA}
) AS catalog(item)
"""


_TABLES = f"""
SELECT relname FROM pg_class
WHERE relnamespace = {_SCHEMA} AND relkind IN ('r', 'p') ORDER BY relname
"""
_SEQUENCES = f"""
SELECT c.relname, s.seqstart FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
WHERE c.relnamespace = {_SCHEMA} ORDER BY c.relname
"""
_VIEWS_AND_INDEXES = f"""
SELECT relname, relkind::text FROM pg_class
WHERE relnamespace = {_SCHEMA} AND relkind IN ('v', 'm', 'i')
"""


@dataclass(frozen=True)
class FreshSchema:
    """What a schema looks like right after its script: the digest of its catalog, its
    views and indexes, its tables and its sequences with their start values, and the
    script's data statements."""

    digest: str
    relations: frozenset[str]
    tables: tuple[str, ...]
    sequences: tuple[tuple[str, int], ...]
    data: tuple[Statement, ...]

    @property
    def emptying(self) -> str:
        """The statements, sent as one, that empty every table and restart every sequence."""
        deletes = [f'DELETE FROM "{table}"' for table in self.tables]
        restarts = [
            f"SELECT setval('\"{name}\"', {start}, false)" for name, start in self.sequences
        ]
        return "; ".join(deletes + restarts)

    @classmethod
    def read(cls, engine: Engine, script: Sequence[Statement]) -> FreshSchema:
        with engine.connect() as conn:
            return cls(
                digest=_digest(conn),
                relations=frozenset(_added_relations(conn, frozenset())),
                tables=tuple(conn.scalars(text(_TABLES))),
                sequences=tuple((name, start) for name, start in conn.execute(text(_SEQUENCES))),
                data=tuple(s for s in script if not s.sql.lstrip().upper().startswith(_STRUCTURE)),
            )


def may_reuse(engine: Engine) -> bool:
    """Whether this server lets the test user put schemas back (it must be a superuser)."""
    with engine.connect() as conn:
        return bool(conn.scalar(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")))


def put_back(engine: Engine, fresh: FreshSchema) -> bool:
    """Return the schema ``engine`` works in to ``fresh``, in one transaction; False, with
    nothing changed, when the test changed its structure beyond adding views and indexes."""
    with engine.connect() as conn, conn.begin() as transaction:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        try:
            for kind, names in _by_kind(_added_relations(conn, fresh.relations)).items():
                conn.exec_driver_sql(f"DROP {kind} IF EXISTS {', '.join(names)} CASCADE")
        except DBAPIError:  # e.g. an index a constraint the test added needs
            transaction.rollback()
            return False
        if _digest(conn) != fresh.digest:
            transaction.rollback()
            return False
        conn.exec_driver_sql(fresh.emptying)
        conn.exec_driver_sql("SET LOCAL session_replication_role = DEFAULT")
        send(conn.connection.cursor(), fresh.data)
    return True


def _digest(conn: Connection) -> str:
    return str(conn.scalar(text(_DIGEST)))


def _added_relations(conn: Connection, known: frozenset[str]) -> dict[str, str]:
    """Name -> kind of every view and index of the schema not in ``known``."""
    rows = conn.execute(text(_VIEWS_AND_INDEXES))
    return {name: kind for name, kind in rows if name not in known}


def _by_kind(relations: dict[str, str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, kind in sorted(relations.items()):
        grouped.setdefault(_ADDED_KINDS[kind], []).append(f'"{name}"')
    return grouped
