"""Pages and API reads run in read-only transactions and never wait for a writer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import Connection, event, select, update

from labledger.db.engine import Database
from labledger.db.tables import web_session
from labledger.db.types import utc_now
from tests.conftest import TEST_PASSWORD
from tests.definitions import batch_type
from tests.test_read_transactions import another_writer
from tests.web.helpers import sign_in

#: Pages and API calls that only read, as a signed-in analyst.
PAGES = ("/", "/records", "/records/batch", "/account/password")
API_READS = ("/api/v1/types", "/api/v1/records/batch")


def _read_only(conn: Connection) -> bool:
    """Whether the database itself says the connection's transaction cannot write."""
    if conn.dialect.name == "postgresql":
        return conn.exec_driver_sql("SHOW transaction_read_only").scalar() == "on"
    return conn.exec_driver_sql("PRAGMA query_only").scalar() == 1


@contextmanager
def transactions(db: Database) -> Iterator[list[bool]]:
    """For each transaction committed on ``db`` meanwhile: was it read-only?"""
    seen: list[bool] = []

    def on_commit(conn: Connection) -> None:
        seen.append(_read_only(conn))

    event.listen(db.engine, "commit", on_commit)
    try:
        yield seen
    finally:
        event.remove(db.engine, "commit", on_commit)


def _signed_in(client, db, make_person, publish):
    ann = make_person("ann", "analyst")
    publish(batch_type())
    assert sign_in(client, "ann", TEST_PASSWORD).status_code in (302, 303)
    with db.read() as conn:
        token_hash = conn.execute(select(web_session.c.token_hash)).scalar_one()
    return ann, token_hash


def _age_session(db: Database, minutes: int) -> None:
    with db.write() as conn:
        conn.execute(
            update(web_session).values(last_seen_at=utc_now() - timedelta(minutes=minutes))
        )


def test_pages_and_api_reads_run_in_read_only_transactions(client, db, make_person, publish):
    ann, _ = _signed_in(client, db, make_person, publish)
    # A token's use is written at most once in minutes, skipped when the database is busy
    # (tests/test_reviews.py), like a session's last-seen time: done before watching.
    assert client.get(API_READS[0], headers=ann.headers).status_code == 200
    with transactions(db) as seen:
        for path in PAGES:
            assert client.get(path).status_code == 200, path
        for path in API_READS:
            assert client.get(path, headers=ann.headers).status_code == 200, path
    assert seen and all(seen), "every transaction of a read was read-only"


def test_a_page_is_served_while_another_transaction_writes(client, db, make_person, publish):
    """On SQLite the other transaction holds the write lock, on PostgreSQL the lock of
    the session's row; the page does not wait, even when last-seen is due."""
    ann, token_hash = _signed_in(client, db, make_person, publish)
    _age_session(db, minutes=2)
    with db.read() as conn:
        aged = conn.execute(select(web_session.c.last_seen_at)).scalar_one()
    with another_writer(db, token_hash):
        for path in PAGES:
            assert client.get(path).status_code == 200, path
        for path in API_READS:
            assert client.get(path, headers=ann.headers).status_code == 200, path
    with db.read() as conn:
        assert conn.execute(select(web_session.c.last_seen_at)).scalar_one() == aged
    assert client.get("/").status_code == 200
    with db.read() as conn:
        assert conn.execute(select(web_session.c.last_seen_at)).scalar_one() > aged
