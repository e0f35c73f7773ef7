"""Record numbers: where the counter is updated, and what a failed create does to it.

On PostgreSQL a number is reserved by a statement that commits on its own, so
the counter row is never locked until a create commits; a create that fails
afterwards leaves a gap. On SQLite, one writer at a time, the number is
reserved inside the create's transaction and given back if it fails.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from labledger.records.numbering import reserve_numbers

PATTERN = "NUM-{YYYY}-{###}"


def _reserve(conn) -> int:
    (number,) = reserve_numbers(conn, [PATTERN], datetime.now(UTC))
    return int(number.rsplit("-", 1)[1])


def _reserve_committed(db) -> int:
    with db.write() as conn:
        return _reserve(conn)


def test_a_number_is_reserved_without_waiting_for_an_open_create(db):
    if db.dialect != "postgresql":
        # SQLite's writers queue for the whole transaction; there is nothing to overtake.
        first = _reserve_committed(db)
        assert _reserve_committed(db) == first + 1
        return
    reserved: list[int] = []
    with db.write() as open_create:
        held = _reserve(open_create)
        other = threading.Thread(target=lambda: reserved.append(_reserve_committed(db)))
        other.start()
        other.join(timeout=30)
        overtook = not other.is_alive()
    other.join()
    assert overtook, "the second reservation waited for the first create to commit"
    assert reserved == [held + 1]


def test_a_failed_create_gives_its_number_back_only_on_sqlite(db):
    before = _reserve_committed(db)
    with db.connect() as conn:
        conn = conn.execution_options(write=True)
        with conn.begin() as transaction:
            assert _reserve(conn) == before + 1
            transaction.rollback()
    after = _reserve_committed(db)
    if db.dialect == "postgresql":
        assert after == before + 2, "a reserved number is never handed out twice"
    else:
        assert after == before + 1


def test_an_all_or_nothing_transaction_reserves_inside_itself(db):
    """A dry run or a failed import rolls back and must leave no gap behind."""
    before = _reserve_committed(db)
    with pytest.raises(RuntimeError), db.write(numbers_in_transaction=True) as conn:
        assert _reserve(conn) == before + 1
        raise RuntimeError("the import failed")
    assert _reserve_committed(db) == before + 1
