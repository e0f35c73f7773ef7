"""Reads read: read transactions refuse writes, bookkeeping writes never wait for a
lock, and a session's last-seen time moves at most once a minute without breaking
the idle timeout."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from unittest.mock import patch

import pytest
from sqlalchemy import Connection, event, select, update
from sqlalchemy.exc import DBAPIError

from labledger.db import engine
from labledger.db.engine import Database
from labledger.db.tables import audit_event, instance_setting, web_session
from labledger.identity.sessions import resume_session, start_session

IDLE_MINUTES = 15


@contextmanager
def another_writer(db: Database, token_hash: str) -> Iterator[None]:
    """Another transaction in the middle of a write that touches the session's row: on
    SQLite it holds the database's write lock, on PostgreSQL the row's lock.

    Meanwhile SQLite's busy timeout is zero, so anything that would wait for the
    write lock fails at once instead.
    """
    with db.write() as conn, patch.object(engine, "SQLITE_BUSY_TIMEOUT", 0):
        conn.execute(
            update(web_session)
            .where(web_session.c.token_hash == token_hash)
            .values(signed_in_session=web_session.c.signed_in_session)
        )
        yield


@contextmanager
def write_transactions(db: Database) -> Iterator[list[Connection]]:
    """The write transactions begun on ``db`` meanwhile."""
    begun: list[Connection] = []

    def on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("write"):
            begun.append(conn)

    event.listen(db.engine, "begin", on_begin)
    try:
        yield begun
    finally:
        event.remove(db.engine, "begin", on_begin)


def session_for(db: Database, make_person) -> tuple[str, str]:
    """A fresh session for a new user: the cookie value and its stored hash."""
    ann = make_person("ann", "analyst")
    with db.write() as conn:
        token = start_session(conn, ann.principal)
    with db.read() as conn:
        token_hash = conn.execute(select(web_session.c.token_hash)).scalar_one()
    return token, token_hash


def last_seen(db: Database) -> datetime:
    with db.read() as conn:
        return conn.execute(select(web_session.c.last_seen_at)).scalar_one()


def test_a_read_transaction_refuses_to_write(db):
    with pytest.raises(DBAPIError), db.read() as conn:
        conn.execute(instance_setting.insert().values(key="k", value="v"))
    with db.read() as conn:
        assert (
            conn.execute(
                select(instance_setting.c.key).where(instance_setting.c.key == "k")
            ).first()
            is None
        )


def test_a_write_unless_busy_gives_up_at_once_while_another_writes(db, make_person):
    _, token_hash = session_for(db, make_person)

    def touch(conn: Connection) -> str:
        conn.execute(
            update(web_session)
            .where(web_session.c.token_hash == token_hash)
            .values(signed_in_session=True)
        )
        return "written"

    with another_writer(db, token_hash):
        assert db.write_unless_busy(touch) is None
    with db.read() as conn:
        assert conn.execute(select(web_session.c.signed_in_session)).scalar_one() is False
    assert db.write_unless_busy(touch) == "written"
    with db.read() as conn:
        assert conn.execute(select(web_session.c.signed_in_session)).scalar_one() is True


def test_last_seen_is_written_at_most_once_a_minute(db, make_person):
    token, _ = session_for(db, make_person)
    start = last_seen(db)
    seen = []
    with write_transactions(db) as writes:
        for seconds in (0, 30, 59, 61, 90, 120, 122, 150):
            now = start + timedelta(seconds=seconds)
            assert resume_session(db, token, IDLE_MINUTES, now=now) is not None
            seen.append(int((last_seen(db) - start).total_seconds()))
    assert seen == [0, 0, 0, 61, 61, 61, 122, 122]
    assert len(writes) == 2, "a write transaction only when last-seen was due"


def test_resuming_never_waits_for_a_writer(db, make_person):
    """Due or not, last-seen is not worth a wait: the session resumes and a later
    request, finding last-seen still due, writes it."""
    token, token_hash = session_for(db, make_person)
    start = last_seen(db)
    later = start + timedelta(minutes=5)
    with another_writer(db, token_hash):
        assert resume_session(db, token, IDLE_MINUTES, now=later) is not None
    assert last_seen(db) == start
    assert resume_session(db, token, IDLE_MINUTES, now=later) is not None
    assert last_seen(db) == later


@pytest.mark.requirement("REQ-ACC-06")
def test_a_session_in_use_stays_live_and_an_idle_one_expires(db, make_person):
    token, _ = session_for(db, make_person)
    start = last_seen(db)
    for step in range(1, 50):  # a request every 50 seconds for 40 minutes
        now = start + timedelta(seconds=50 * step)
        assert resume_session(db, token, IDLE_MINUTES, now=now) is not None
    assert last_seen(db) > start + timedelta(minutes=39)
    quiet = last_seen(db) + timedelta(minutes=IDLE_MINUTES, seconds=1)
    assert resume_session(db, token, IDLE_MINUTES, now=quiet) is None
    with db.read() as conn:
        assert conn.execute(select(web_session.c.ended_at)).scalar_one() is not None
        actions = conn.execute(select(audit_event.c.action)).scalars().all()
    assert actions.count("session.timeout") == 1
    assert resume_session(db, token, IDLE_MINUTES) is None, "an ended session stays ended"
