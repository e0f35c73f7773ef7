"""Object type definitions the tests publish (every field type appears), and
the few helpers the tests share to prove that a refused request changed nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select, update

from labledger.audit.trail import HASHED_COLUMNS, event_hash
from labledger.db.engine import Database
from labledger.db.tables import audit_event, audit_event_seq, audit_head, outbox_event, record
from labledger.identity.principal import SYSTEM, Principal
from labledger.identity.roles import save_role


def batch_type(**overrides: Any) -> dict[str, Any]:
    """A parent type with a unique code and a few filterable fields."""
    definition: dict[str, Any] = {
        "key": "batch",
        "label": "Batch",
        "plural": "Batches",
        "numbering": "BAT-{YYYY}-{####}",
        "title": "{code} {product}",
        "permissions": {"read": ["*"], "create": ["analyst"], "edit": ["analyst"]},
        "fields": [
            {
                "key": "code",
                "label": "Code",
                "type": "text",
                "required": True,
                "unique": True,
                "filterable": True,
                "max_length": 20,
                "pattern": "^[A-Z0-9-]+$",
            },
            {"key": "product", "label": "Product", "type": "text", "filterable": True},
            {
                "key": "quantity",
                "label": "Quantity",
                "type": "integer",
                "min": 0,
                "max": 100000,
                "filterable": True,
            },
            {"key": "made_on", "label": "Made on", "type": "date", "filterable": True},
        ],
    }
    definition.update(overrides)
    return definition


def measurement_type(**overrides: Any) -> dict[str, Any]:
    """A child type using every field type, a computed flag and a conditional field."""
    definition: dict[str, Any] = {
        "key": "measurement",
        "label": "Measurement",
        "plural": "Measurements",
        "numbering": "MEA-{YYYY}-{#####}",
        "title": "{number} {name}",
        "require_reason": True,
        "sections": [{"key": "main", "label": "Main"}, {"key": "result", "label": "Result"}],
        "permissions": {
            "read": ["analyst", "reviewer"],
            "create": ["analyst"],
            "edit": ["analyst"],
        },
        "fields": [
            {
                "key": "name",
                "label": "Name",
                "type": "text",
                "required": True,
                "section": "main",
                "in_list": True,
            },
            {"key": "notes", "label": "Notes", "type": "long_text", "section": "main"},
            {
                "key": "batch",
                "label": "Batch",
                "type": "reference",
                "to": "batch",
                "filterable": True,
            },
            {"key": "replicates", "label": "Replicates", "type": "integer", "default": 1, "min": 1},
            {
                "key": "value",
                "label": "Value",
                "type": "decimal",
                "precision": 2,
                "unit": "mg/L",
                "min": -1000,
                "max": 1000,
                "filterable": True,
                "section": "result",
            },
            {"key": "low", "label": "Low limit", "type": "decimal", "default": 1},
            {"key": "high", "label": "High limit", "type": "decimal", "default": 5},
            {
                "key": "out_of_limits",
                "label": "Out of limits",
                "type": "computed",
                "result_type": "boolean",
                "expression": "value < low or value > high",
                "filterable": True,
            },
            {"key": "checked", "label": "Checked", "type": "boolean", "default": False},
            {"key": "measured_on", "label": "Measured on", "type": "date", "filterable": True},
            {"key": "measured_at", "label": "Measured at", "type": "datetime"},
            {
                "key": "method",
                "label": "Method",
                "type": "choice",
                "filterable": True,
                "options": [{"value": "hplc", "label": "HPLC"}, {"value": "gc", "label": "GC"}],
            },
            {
                "key": "tags",
                "label": "Tags",
                "type": "multi_choice",
                "options": [
                    {"value": "urgent", "label": "Urgent"},
                    {"value": "repeat", "label": "Repeat"},
                ],
            },
            {"key": "analyst", "label": "Analyst", "type": "user"},
            {"key": "raw_file", "label": "Raw file", "type": "attachment", "max_size": 100},
            {
                "key": "comment",
                "label": "Comment",
                "type": "text",
                "required_if": "out_of_limits == True",
            },
        ],
    }
    definition.update(overrides)
    return definition


def database_url(db: Database) -> str:
    """A URL that reaches the test's database, for the command line.

    PostgreSQL tests each run in their own schema, which the URL must name.
    """
    url = db.engine.url
    if db.dialect == "postgresql":
        with db.read() as conn:
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
        url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def counts(db: Database) -> tuple[int, int, int]:
    """(records, audit events, outbox events): what any write adds to."""
    with db.read() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (record, audit_event, outbox_event)
        )


def reconfigure(monkeypatch: pytest.MonkeyPatch, db: Database, **changes: Any) -> None:
    """Change ``db``'s settings for this test, as a restart with a changed environment
    would; the app built on ``db`` and every service called with it see them."""
    monkeypatch.setattr(db, "settings", replace(db.settings, **changes))


def append_as_an_earlier_release(
    db: Database, action: str, hash_version: int | None, details: Any = None
) -> dict[str, Any]:
    """Write an event at the tip of lane 1 as an earlier release did, hashed in the form
    ``hash_version`` (None: the first form); returns it as stored."""
    with db.write() as conn:
        head = conn.execute(select(audit_head).where(audit_head.c.id == 1)).mappings().one()
        last = conn.execute(
            select(audit_event.c.seq, audit_event.c.occurred_at)
            .order_by(audit_event.c.seq.desc())
            .limit(1)
        ).one()
        seq = (
            conn.execute(select(audit_event_seq.next_value())).scalar_one()
            if db.dialect == "postgresql"
            else last.seq + 1
        )
        event = {
            **dict.fromkeys(HASHED_COLUMNS),
            "seq": seq,
            "lane": 1,
            "lane_seq": head["seq"] + 1,
            "occurred_at": last.occurred_at,
            "actor": SYSTEM.username,
            "action": action,
            "details": details,
            "prev_hash": head["hash"],
            "hash_version": hash_version,
            "result_hash": None,
        }
        event["hash"] = event_hash(event)
        conn.execute(insert(audit_event).values(event))
        conn.execute(
            update(audit_head)
            .where(audit_head.c.id == 1)
            .values(seq=event["lane_seq"], hash=event["hash"])
        )
    return event


@contextmanager
def unchanged(db: Database) -> Iterator[None]:
    """Assert that the block leaves records, audit events and outbox events as they were."""
    before = counts(db)
    yield
    assert counts(db) == before, "a refused request changed the database"


def actions_after(db: Database, seq: int) -> list[str]:
    """The actions of the audit events after sequence number ``seq``, in order."""
    with db.read() as conn:
        return list(
            conn.execute(
                select(audit_event.c.action)
                .where(audit_event.c.seq > seq)
                .order_by(audit_event.c.seq)
            ).scalars()
        )


def last_seq(db: Database) -> int:
    with db.read() as conn:
        return conn.execute(select(func.coalesce(func.max(audit_event.c.seq), 0))).scalar_one()


@contextmanager
def refusal_recorded(db: Database, *actions: str) -> Iterator[None]:
    """Assert that the block changes no record and publishes nothing, and that the
    audit trail gains exactly ``actions`` (by default: one refused step)."""
    before, seq = counts(db), last_seq(db)
    yield
    after = counts(db)
    assert (after[0], after[2]) == (before[0], before[2]), "a refused request changed the database"
    assert actions_after(db, seq) == list(actions or ["record.transition_refused"])


@dataclass
class Traffic:
    """The statements a block sent to the database (on every pool) and the transactions
    it began on the main pool (the autocommit pool's statements commit on their own)."""

    statements: list[str] = field(default_factory=list)
    transactions: int = 0


@contextmanager
def traffic(db: Database) -> Iterator[Traffic]:
    """Record what the block sends to the database (see ``Traffic``)."""
    seen = Traffic()

    def statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.statements.append(sql)

    def began(_conn: Any) -> None:
        seen.transactions += 1

    event.listen(db.engine, "begin", began)
    for engine in db.engines:
        event.listen(engine, "before_cursor_execute", statement)
    try:
        yield seen
    finally:
        event.remove(db.engine, "begin", began)
        for engine in db.engines:
            event.remove(engine, "before_cursor_execute", statement)


def add_roles(db: Database, *keys: str) -> None:
    """Define roles (types may only name roles that exist)."""
    with db.write() as conn:
        for key in keys:
            save_role(conn, SYSTEM, {"key": key, "label": key.title()})


def acting(username: str, *roles: str, permissions: tuple[str, ...] = ()) -> Principal:
    """A caller for service-level tests, which trust the principal they are given.

    Cheaper than a real account (no password hash) where the test is about
    records, not about who may sign in.
    """
    return Principal(
        id=0,
        username=username,
        full_name=username.title(),
        roles=frozenset(roles),
        permissions=frozenset(permissions),
    )
