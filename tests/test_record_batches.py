"""Records created in batches, and what a transaction remembers while it runs.

A batch must behave exactly like the same records created one by one: the
same checks, consecutive gapless numbers, one audit event each in order, and
unique values and attachments compared within the batch as well as with the
database.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from labledger.audit.verify import verify
from labledger.canonical import content_hash
from labledger.db.tables import audit_event, record, record_reference
from labledger.errors import ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.metadata import versions
from labledger.metadata.types import KIND as TYPE_KIND
from labledger.metadata.types import publish_type, type_model
from labledger.records.service import RecordBatch, create_record
from tests.definitions import acting, add_roles, batch_type, measurement_type, unchanged
from tests.test_records import upload

ANALYST = acting("ann", "analyst")


@pytest.fixture
def types(db, publish, make_person) -> None:
    add_roles(db, "analyst", "reviewer")
    make_person("ann", "analyst")
    publish(batch_type())
    publish(measurement_type())


def batch_of(conn, type_key: str = "measurement") -> RecordBatch:
    return RecordBatch(conn, ANALYST, type_key)


def test_a_batch_stores_like_records_created_one_by_one(db, types):
    with db.write() as conn:
        parent = create_record(conn, ANALYST, "batch", {"code": "B-1"})
        batch = batch_of(conn)
        for i in range(5):
            batch.add({"name": f"m{i}", "batch": parent["number"], "value": i + 1}, reason="bulk")
        views = batch.store()
    assert [v["data"]["name"] for v in views] == [f"m{i}" for i in range(5)]
    numbers = [int(v["number"].rsplit("-", 1)[1]) for v in views]
    assert numbers == list(range(numbers[0], numbers[0] + 5))  # consecutive, in order
    assert all(v["data"]["batch"] == parent["id"] for v in views)  # number resolved to id
    assert [v["data"]["out_of_limits"] for v in views] == [False] * 5  # computed fields
    with db.read() as conn:
        events = conn.execute(
            select(audit_event.c.record_id, audit_event.c.action, audit_event.c.reason)
            .where(audit_event.c.type_key == "measurement", audit_event.c.record_id.isnot(None))
            .order_by(audit_event.c.seq)
        ).all()
        references = conn.execute(
            select(func.count())
            .select_from(record_reference)
            .where(record_reference.c.target_id == parent["id"])
        ).scalar_one()
        assert verify(conn).ok
    assert events == [(v["id"], "record.create", "bulk") for v in views]
    assert references == 5
    with db.write() as conn:  # the next record continues the sequence without a gap
        after = create_record(conn, ANALYST, "measurement", {"name": "x"})
    assert int(after["number"].rsplit("-", 1)[1]) == numbers[-1] + 1


def test_a_bad_item_is_refused_and_the_rest_are_kept(db, types):
    with db.write() as conn:
        batch = batch_of(conn)
        batch.add({"name": "good"})
        with pytest.raises(ValidationFailed) as failure:
            batch.add({"name": "bad", "replicates": 0})
        batch.add({"name": "also good"})
        views = batch.store()
    assert {e.field for e in failure.value.errors} == {"data.replicates"}
    assert [v["data"]["name"] for v in views] == ["good", "also good"]


def test_unique_values_are_compared_within_the_batch(db, types):
    with unchanged(db), db.write() as conn:
        batch = batch_of(conn, "batch")
        batch.add({"code": "B-7"})
        with pytest.raises(ValidationFailed) as failure:
            batch.add({"code": "B-7"})
        assert len(batch) == 1
        conn.rollback()
    assert [(e.field, e.message) for e in failure.value.errors] == [
        ("data.code", "the value 'B-7' is already used by another record")
    ]


def test_an_attachment_binds_to_one_record_of_a_batch(db, types):
    file_id = upload(db, 10)
    with db.write() as conn:
        batch = batch_of(conn)
        batch.add({"name": "first", "raw_file": file_id})
        with pytest.raises(ValidationFailed) as failure:
            batch.add({"name": "second", "raw_file": file_id})
        (view,) = batch.store()
    assert [(e.field, e.message) for e in failure.value.errors] == [
        ("data.raw_file", "the attachment belongs to another record")
    ]
    assert view["data"]["raw_file"] == file_id


def test_an_empty_batch_stores_nothing(db, types):
    with unchanged(db), db.write() as conn:
        assert batch_of(conn).store() == []


def test_a_version_published_inside_a_transaction_is_seen_at_once(db, types):
    """The transaction remembers which version is current, until it publishes one."""
    with db.write() as conn:
        before = type_model(conn, "batch").version
        publish_type(conn, SYSTEM, batch_type(label="Lot"))
        assert type_model(conn, "batch").version == before + 1
        created = create_record(conn, ANALYST, "batch", {"code": "L-1"})
    assert created["type_version"] == before + 1


def test_item_states_read_ahead_follow_what_the_transaction_publishes(db, types):
    """A bundle import reads its items' states up front, then publishes them one by one."""
    with db.write() as conn:
        versions.prefetch_states(conn, [(TYPE_KIND, "batch"), (TYPE_KIND, "absent")])
        before = versions.item_state(conn, TYPE_KIND, "batch")
        assert versions.item_state(conn, TYPE_KIND, "absent") is None
        for label in ("Lot", "Lot of product"):
            publish_type(conn, SYSTEM, batch_type(label=label))
        version, body = versions.current(conn, TYPE_KIND, "batch")
        assert (version, body["label"]) == (before.version + 2, "Lot of product")
    with db.read() as conn:
        stored = versions.item_state(conn, TYPE_KIND, "batch")
    assert (stored.version, stored.body["label"]) == (before.version + 2, "Lot of product")
    assert stored.body_hash == content_hash(batch_type(label="Lot of product"))


def test_what_a_rolled_back_savepoint_wrote_is_forgotten(db, types):
    with db.write() as conn:
        before = type_model(conn, "batch").version
        savepoint = conn.begin_nested()
        publish_type(conn, SYSTEM, batch_type(label="Lot"))
        assert type_model(conn, "batch").version == before + 1
        savepoint.rollback()
        assert type_model(conn, "batch").version == before
        assert versions.current(conn, TYPE_KIND, "batch")[1]["label"] != "Lot"
        created = create_record(conn, ANALYST, "batch", {"code": "L-2"})
    with db.read() as conn:
        assert verify(conn).ok
        stored = conn.execute(select(record.c.type_version).where(record.c.id == created["id"]))
        assert stored.scalar_one() == before


def test_a_large_batch_keeps_ids_and_numbers_in_order(db, types):
    """Large batches are inserted differently (ids taken first on PostgreSQL)."""
    with db.write() as conn:
        batch = batch_of(conn)
        for i in range(120):
            batch.add({"name": f"m{i}"})
        views = batch.store()
        after = create_record(conn, ANALYST, "measurement", {"name": "x"})
    ids = [v["id"] for v in views] + [after["id"]]
    assert ids == sorted(set(ids))  # in the order added, and the sequence moved past them
    with db.read() as conn:
        stored = dict(conn.execute(select(record.c.id, record.c.number)).all())
        assert verify(conn).ok
    assert [stored[v["id"]] for v in views] == [v["number"] for v in views]
