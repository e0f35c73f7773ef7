"""The event feed: commit order, resumable cursors, filters, permissions, busy writers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import select

from labledger.db.tables import outbox_event
from labledger.identity.principal import CONFIGURE, MANAGE_USERS, SYSTEM
from labledger.identity.users import create_user
from labledger.integration.feed import read_events
from labledger.records.service import create_record
from tests.definitions import acting, add_roles, batch_type, measurement_type

ANALYST = acting("ann", "analyst")


def _setup(db, publish) -> None:
    add_roles(db, "analyst", "reviewer")
    publish(batch_type())
    publish(measurement_type())


def _create(db, type_key: str, data: dict[str, Any]) -> dict[str, Any]:
    with db.write() as conn:
        return create_record(conn, ANALYST, type_key, data)


def _all_ids(db) -> list[int]:
    with db.read() as conn:
        return list(conn.execute(select(outbox_event.c.id).order_by(outbox_event.c.id)).scalars())


def _walk(client, headers: dict[str, str], limit: int, **params: str) -> tuple[list[dict], str]:
    """Every event a consumer gets by following ``next`` until ``more`` is false."""
    events: list[dict] = []
    after = None
    while True:
        query = {"limit": str(limit), **params, **({"after": after} if after else {})}
        page = client.get("/api/v1/events", params=query, headers=headers)
        assert page.status_code == 200, page.text
        body = page.json()
        events += body["items"]
        after = body["next"]
        if not body["more"]:
            return events, after


def test_a_cursor_walk_sees_every_event_once_in_commit_order(db, client, admin, publish):
    _setup(db, publish)
    created = [_create(db, "batch", {"code": f"B-{n}", "quantity": n}) for n in range(12)]
    events, cursor = _walk(client, admin.headers, limit=5)
    ids = [e["id"] for e in events]
    assert ids == _all_ids(db), "in id order, none missed, none twice"
    creates = [e for e in events if e["kind"] == "record.created"]
    assert [e["record_id"] for e in creates] == [r["id"] for r in created]
    assert creates[0]["type"] == "batch" and creates[0]["payload"]["data"]["code"] == "B-0"
    assert creates[0]["created_at"].endswith("Z") and creates[0]["audit_seq"] > 0
    assert cursor == str(ids[-1])

    # Resuming from the cursor: nothing old again, then exactly the new events.
    empty = client.get("/api/v1/events", params={"after": cursor}, headers=admin.headers).json()
    assert empty == {"items": [], "next": cursor, "more": False}
    later = _create(db, "batch", {"code": "B-LATE"})
    resumed = client.get("/api/v1/events", params={"after": cursor}, headers=admin.headers).json()
    assert [e["record_id"] for e in resumed["items"]] == [later["id"]]


def test_the_feed_filters_by_type_and_kind(db, client, admin, publish):
    _setup(db, publish)
    batch = _create(db, "batch", {"code": "B-1"})
    _create(db, "measurement", {"name": "pH", "batch": batch["id"], "value": 3})
    events, _ = _walk(client, admin.headers, limit=100, type="measurement")
    assert [e["kind"] for e in events] == ["config.published", "record.created"]
    events, _ = _walk(client, admin.headers, limit=100, kind="record.*")
    assert [(e["type"], e["kind"]) for e in events] == [
        ("batch", "record.created"),
        ("measurement", "record.created"),
    ]
    events, _ = _walk(client, admin.headers, limit=100, kind="config.published,config.role")
    assert {e["kind"] for e in events} == {"config.published", "config.role"}
    # A narrow filter still moves the cursor to the end, so polling does not rescan.
    events, cursor = _walk(client, admin.headers, limit=100, type="nothing_like_it")
    assert events == [] and cursor == str(_all_ids(db)[-1])


def test_each_reader_sees_the_events_they_may_read(db, client, admin, publish, make_person):
    _setup(db, publish)
    batch = _create(db, "batch", {"code": "B-1"})
    _create(db, "measurement", {"name": "pH", "batch": batch["id"], "value": 3})
    with db.write() as conn:
        create_user(conn, SYSTEM, username="newcomer", full_name="New Comer", roles=[])
    outsider = make_person("otto", "viewer")
    configurer = make_person("cora", "configurer", permissions=(CONFIGURE,))
    user_admin = make_person("uma", "user_admin", permissions=(MANAGE_USERS,))
    everything = {e["kind"] for e in _walk(client, admin.headers, limit=50)[0]}
    assert {"record.created", "config.published", "config.role", "user.create"} <= everything

    # Batches are readable by everyone, measurements by analysts and reviewers only.
    seen = _walk(client, outsider.headers, limit=50)[0]
    assert [(e["kind"], e["type"]) for e in seen] == [("record.created", "batch")]
    seen = _walk(client, configurer.headers, limit=50)[0]
    kinds = {e["kind"] for e in seen}
    assert {"record.created", "config.published", "config.role"} <= kinds
    assert not any(k.startswith("user.") for k in kinds)
    assert {e["type"] for e in seen if e["kind"] == "record.created"} == {"batch", "measurement"}
    seen = _walk(client, user_admin.headers, limit=50)[0]
    assert {e["kind"].split(".")[0] for e in seen} == {"record", "user"}
    assert {e["type"] for e in seen if e["kind"] == "record.created"} == {"batch"}


def test_bad_feed_requests_are_refused(db, client, admin):
    for params, location in (
        ({"after": "abc"}, "after"),
        ({"after": "-1"}, "after"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
    ):
        answer = client.get("/api/v1/events", params=params, headers=admin.headers)
        assert answer.status_code == 422, params
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["errors"][0]["field"] == location
    assert client.get("/api/v1/events").status_code == 401


def test_a_feed_read_while_writers_are_busy_sees_every_event_once(db, publish):
    """Writers of records in different lanes commit side by side, in any order of their
    outbox ids; events take their feed positions once committed, so a reader polling
    during the commits misses nothing, sees nothing twice, and sees each lane's events
    (so each record's) in the order they were written."""
    _setup(db, publish)
    writers, per_writer = 6, 25
    done = threading.Event()
    seen: list[int] = []

    def read() -> None:
        cursor = None
        while True:
            finished = done.is_set()  # checked before the page: that page sees every commit
            page = read_events(db, SYSTEM, after=cursor, limit=7)
            seen.extend(event["id"] for event in page["items"])
            cursor = page["next"]
            if finished and not page["more"]:
                return

    def write(writer: int) -> list[int]:
        ids = []
        for n in range(per_writer):
            with db.write() as conn:  # some transactions write two events
                for copy in range(1 + n % 2):
                    data = {"code": f"W{writer}-{n}-{copy}", "quantity": n}
                    ids.append(create_record(conn, ANALYST, "batch", data)["id"])
        return ids

    reader = threading.Thread(target=read)
    reader.start()
    with ThreadPoolExecutor(writers) as pool:
        written = [i for ids in pool.map(write, range(writers)) for i in ids]
    done.set()
    reader.join(timeout=120)
    assert not reader.is_alive()
    assert sorted(seen) == _all_ids(db) and len(set(seen)) == len(seen), "each event once"
    with db.read() as conn:
        rows = conn.execute(select(outbox_event.c.id, outbox_event.c.lane, outbox_event.c.lane_seq))
        place = {row.id: (row.lane, row.lane_seq) for row in rows}
    in_lanes: dict[int, list[int]] = {}
    for event_id in seen:
        lane, position = place[event_id]
        in_lanes.setdefault(lane, []).append(position)
    assert all(order == sorted(order) for order in in_lanes.values()), "each lane in its order"
    assert len(in_lanes) > 4, "the writers' records share few lanes"
    with db.read() as conn:
        created = set(
            conn.execute(
                select(outbox_event.c.record_id).where(
                    outbox_event.c.id.in_(seen), outbox_event.c.kind == "record.created"
                )
            ).scalars()
        )
    assert len(written) == writers * sum(1 + n % 2 for n in range(per_writer))
    assert created == set(written)
