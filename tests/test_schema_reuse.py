"""PostgreSQL test schemas are put back exactly as their script left them, or not at all.

If a used schema kept anything of its test, later tests would depend on the
order they run in; these tests prove the reset leaves nothing behind and
refuses a schema whose structure a test changed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from tests.conftest import PG_URL, _admin_engine, _drop, _new_schema
from tests.schema_reuse import FreshSchema, may_reuse, put_back
from tests.schema_script import Statement, replay

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs LABLEDGER_TEST_DATABASE_URL")


@pytest.fixture
def schema(postgres_script: list[Statement]) -> Iterator[tuple[Engine, FreshSchema]]:
    admin = _admin_engine()
    if not may_reuse(admin):
        pytest.skip("the test user is not a superuser: schemas are never reused")
    name, db = _new_schema(admin)
    try:
        replay(db.engine, postgres_script)
        yield db.engine, FreshSchema.read(db.engine, postgres_script)
    finally:
        _drop(admin, name, db)
        admin.dispose()


def _contents(engine: Engine, fresh: FreshSchema) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as conn:
        return {
            table: sorted(map(tuple, conn.execute(text(f'SELECT * FROM "{table}"'))), key=repr)
            for table in fresh.tables
        }


def _next_user_id(engine: Engine) -> int:
    with engine.begin() as conn:
        return int(conn.scalar(text("SELECT nextval('app_user_id_seq')")))


def test_a_used_schema_is_put_back_with_nothing_of_its_test(schema):
    engine, fresh = schema
    before = _contents(engine, fresh)
    next_id = _next_user_id(engine)
    with engine.begin() as conn:  # what tests do: rows, a type's view and index, numbers
        conn.execute(text("CREATE VIEW report_extra AS SELECT id FROM record"))
        conn.execute(text("CREATE INDEX ix_extra ON record (type_key, id)"))
        conn.execute(
            text(
                "INSERT INTO role (key, label, description, permissions, created_at) "
                "VALUES ('extra', 'Extra', '', '[]', now())"
            )
        )
    _next_user_id(engine)

    assert put_back(engine, fresh)

    assert _contents(engine, fresh) == before
    assert _next_user_id(engine) == next_id
    with engine.connect() as conn:
        added = conn.scalars(
            text("SELECT relname FROM pg_class WHERE relname IN ('report_extra', 'ix_extra')")
        ).all()
    assert added == []


@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE audit_event DISABLE TRIGGER USER",
        "DROP TRIGGER audit_event_no_update_delete ON audit_event",
        "ALTER TABLE signature ADD COLUMN note text",
        "ALTER TABLE record ALTER COLUMN title DROP NOT NULL",
        "GRANT SELECT ON audit_event TO PUBLIC",
        "CREATE TABLE extra (id int)",
        "CREATE OR REPLACE FUNCTION audit_event_refuse_change() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
        "ALTER TABLE role ADD CONSTRAINT uq_extra UNIQUE (label)",
    ],
)
def test_a_schema_whose_structure_changed_is_not_put_back(schema, change):
    engine, fresh = schema
    with engine.begin() as conn:
        conn.execute(text(change))
        conn.execute(
            text(
                "INSERT INTO role (key, label, description, permissions, created_at) "
                "VALUES ('extra', 'Extra', '', '[]', now())"
            )
        )

    assert not put_back(engine, fresh)

    with engine.connect() as conn:  # and nothing was done to it
        assert conn.scalar(text("SELECT count(*) FROM role WHERE key = 'extra'")) == 1
