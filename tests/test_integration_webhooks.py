"""Signed webhooks: subscriptions as audited data, delivery with retries, dead letters,
replay, the allowlist, several workers, and a worker killed mid-delivery.

A receiver on loopback checks every signature. Retries and leases are driven
by passing times to ``deliver_due``; nothing waits for a clock.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from labledger.db.integration_tables import webhook_delivery
from labledger.db.tables import audit_event
from labledger.errors import ValidationFailed
from labledger.identity.principal import SYSTEM
from labledger.integration.allowlist import Allowlist
from labledger.integration.delivery import (
    DeliveryPolicy,
    Outcome,
    claim,
    deliver_due,
    dispatch,
    settle,
)
from labledger.integration.feed import EventFilter
from labledger.integration.subscriptions import create_subscription
from labledger.records.service import create_record, update_record
from labledger.settings import Settings
from tests.definitions import acting, add_roles, batch_type, counts, database_url
from tests.test_integration_support import (
    LABLEDGER,
    allow_webhooks,
    running_receiver,
    signature_ok,
)

receiver = pytest.fixture(running_receiver, name="receiver")

ANALYST = acting("ann", "analyst")
T0 = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
POLICY = DeliveryPolicy(timeout=5, base_delay=60, max_delay=3600)
REPO = Path(__file__).resolve().parents[1]


def _batches(db, publish, *codes: str) -> list[dict[str, Any]]:
    add_roles(db, "analyst")
    publish(batch_type())
    return [_create(db, code) for code in codes]


def _create(db, code: str) -> dict[str, Any]:
    with db.write() as conn:
        return create_record(conn, ANALYST, "batch", {"code": code})


def _subscribe(client, admin, receiver, **body: Any) -> dict[str, Any]:
    answer = client.post(
        "/api/v1/webhooks",
        json={"name": "lims-out", "url": receiver.url, "kinds": ["record.*"], **body},
        headers=admin.headers,
    )
    assert answer.status_code == 201, answer.text
    receiver.secret = answer.json()["secret"]
    return answer.json()


def _monitor(client, admin, name: str = "lims-out") -> dict[str, Any]:
    answer = client.get(f"/api/v1/webhooks/{name}", headers=admin.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _deliveries(client, admin, **params: str) -> list[dict[str, Any]]:
    answer = client.get(
        "/api/v1/webhooks/lims-out/deliveries", params=params, headers=admin.headers
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_a_matching_event_is_delivered_signed_with_a_stable_id(
    db, client, admin, publish, receiver
):
    _batches(db, publish)
    created = _subscribe(client, admin, receiver, types=["batch"])
    assert created["secret"].startswith("whsec_") and created["filter"]["types"] == ["batch"]
    batch = _create(db, "B-1")

    result = deliver_due(db, now=T0, policy=POLICY)
    assert (result.queued, result.delivered) == (1, 1)
    [got] = receiver.received
    assert got.signed, "X-Labledger-Signature is the HMAC of '<timestamp>.<body>'"
    assert not signature_ok("whsec_a-different-secret-entirely", got.headers, got.body)
    assert got.timestamp == int(T0.timestamp())
    assert got.headers["x-labledger-webhook"] == "lims-out"
    feed = client.get("/api/v1/events", params={"kind": "record.created"}, headers=admin.headers)
    [event] = feed.json()["items"]
    assert got.event == event and got.event_id == event["id"] == got.event["id"]
    assert got.event["record_id"] == batch["id"]

    assert not deliver_due(db, now=T0 + timedelta(hours=1), policy=POLICY).worked
    monitor = _monitor(client, admin)
    assert (monitor["queue"], monitor["delivered"], monitor["dead"]) == (0, 1, 0)
    assert monitor["last_success"] and monitor["failures"] == [] and "secret" not in monitor
    [delivery] = _deliveries(client, admin)
    assert delivery["status"] == "delivered" and delivery["attempts"] == 1


def test_failures_are_retried_with_exponential_backoff(db, client, admin, publish, receiver):
    _subscribe(client, admin, receiver)
    _batches(db, publish, "B-1")
    receiver.answers.extend([500, 503])

    assert deliver_due(db, now=T0, policy=POLICY).retrying == 1
    assert not deliver_due(db, now=T0 + timedelta(seconds=59), policy=POLICY).worked
    assert deliver_due(db, now=T0 + timedelta(seconds=60), policy=POLICY).retrying == 1
    # The second failure doubles the wait: due 120 s after it.
    assert not deliver_due(db, now=T0 + timedelta(seconds=179), policy=POLICY).worked
    assert deliver_due(db, now=T0 + timedelta(seconds=180), policy=POLICY).delivered == 1

    assert len(set(receiver.event_ids)) == 1 and len(receiver.received) == 3
    assert all(r.signed for r in receiver.received)
    assert [r.timestamp - int(T0.timestamp()) for r in receiver.received] == [0, 60, 180]
    monitor = _monitor(client, admin)
    assert [f["status_code"] for f in monitor["failures"]] == [503, 500]
    assert monitor["failures"][0]["response"] == "receiver says no"
    [delivery] = _deliveries(client, admin, status="delivered")
    assert delivery["attempts"] == 3 and delivery["last_status"] == 200


def test_backoff_doubles_up_to_the_longest_delay():
    policy = DeliveryPolicy(base_delay=30, max_delay=200)
    assert [policy.backoff(n).total_seconds() for n in range(1, 6)] == [30, 60, 120, 200, 200]


def test_a_delivery_out_of_attempts_is_dead_until_replayed(
    db, client, admin, publish, receiver, make_person
):
    _subscribe(client, admin, receiver, max_attempts=2)
    _batches(db, publish, "B-1")
    receiver.answers.extend([500, 500])
    deliver_due(db, now=T0, policy=POLICY)
    assert deliver_due(db, now=T0 + timedelta(minutes=1), policy=POLICY).dead == 1
    assert not deliver_due(db, now=T0 + timedelta(days=1), policy=POLICY).worked
    monitor = _monitor(client, admin)
    assert (monitor["queue"], monitor["dead"]) == (0, 1)
    [dead] = _deliveries(client, admin, status="dead")
    assert dead["attempts"] == 2 and dead["last_status"] == 500

    someone = make_person("sam", "viewer")
    refused = client.post(
        "/api/v1/webhooks/lims-out/deliveries/replay", json={}, headers=someone.headers
    )
    assert refused.status_code == 403
    wrong = client.post(
        "/api/v1/webhooks/lims-out/deliveries/replay",
        json={"ids": [dead["id"] + 1000]},
        headers=admin.headers,
    )
    assert wrong.status_code == 422
    replayed = client.post(
        "/api/v1/webhooks/lims-out/deliveries/replay", json={}, headers=admin.headers
    )
    assert replayed.json() == {"replayed": 1}
    with db.read() as conn:
        action = conn.execute(
            select(audit_event.c.details).where(audit_event.c.action == "webhook.replay")
        ).scalar_one()
    assert action == {"webhook": "lims-out", "deliveries": [dead["id"]]}

    assert deliver_due(db, now=T0 + timedelta(days=1), policy=POLICY).delivered == 1
    assert len(receiver.received) == 3 and len(set(receiver.event_ids)) == 1
    assert _monitor(client, admin)["dead"] == 0


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_timeouts_and_unreachable_receivers_are_retried(
    db, client, admin, publish, receiver, monkeypatch
):
    closed = _closed_port()
    allow_webhooks(monkeypatch, db, f"127.0.0.1:{receiver.port}, 127.0.0.1:{closed}")
    _subscribe(client, admin, receiver)
    answer = client.post(
        "/api/v1/webhooks",
        json={"name": "gone", "url": f"http://127.0.0.1:{closed}/in", "kinds": ["record.*"]},
        headers=admin.headers,
    )
    assert answer.status_code == 201
    _batches(db, publish, "B-1")
    receiver.hold = True

    quick = DeliveryPolicy(timeout=0.3, base_delay=60)
    result = deliver_due(db, now=T0, policy=quick)
    assert result.retrying == 2 and len(receiver.received) == 1
    [waited] = _monitor(client, admin)["failures"]
    assert waited["status_code"] is None and waited["error"] == "no answer within 0.3 s"
    [refused] = _monitor(client, admin, "gone")["failures"]
    assert refused["status_code"] is None and "ConnectError" in refused["error"]

    receiver.hold = False
    receiver.release.set()
    assert deliver_due(db, now=T0 + timedelta(minutes=1), policy=quick).delivered == 1
    assert _monitor(client, admin, "gone")["queue"] == 1, "still queued, never lost"


def test_the_allowlist_decides_which_urls_may_be_called():
    allowlist = Allowlist.parse(
        "hooks.example.com, 127.0.0.1:8080, https://partner.example/in/, [::1]:9000"
    )
    for url in (
        "https://hooks.example.com/labledger",
        "http://hooks.example.com:9000/",
        "http://127.0.0.1:8080/a?b=c",
        "https://partner.example/in/results",
        "https://partner.example/in",
        "https://partner.example:443/in/x",
        "http://[::1]:9000/",
    ):
        assert allowlist.problem(url) is None, url
    for url in (
        "http://127.0.0.1:8081/",
        "http://127.0.0.1/",
        "https://partner.example/inbox",
        "http://partner.example/in/x",
        "https://hooks.example.com.evil.example/",
        "https://user:secret@hooks.example.com/",
        "ftp://hooks.example.com/",
        "http://169.254.169.254/latest/meta-data",
        "not a url",
    ):
        assert allowlist.problem(url), url
    assert Allowlist.from_settings(Settings()).problem("https://hooks.example.com/") is not None
    with pytest.raises(ValidationFailed) as refused:
        Allowlist.parse("good.example, host/with/path, ftp://x.example/")
    assert len(refused.value.errors) == 2


def test_a_url_outside_the_allowlist_is_refused_and_never_called(
    db, client, admin, publish, receiver, monkeypatch
):
    before = counts(db)
    answer = client.post(
        "/api/v1/webhooks",
        json={"name": "internal", "url": "http://10.0.0.8:5432/"},
        headers=admin.headers,
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "url"
    assert counts(db) == before
    assert client.get("/api/v1/webhooks", headers=admin.headers).json()["items"] == []

    # A URL taken off the list after subscribing is no longer called.
    _subscribe(client, admin, receiver)
    _batches(db, publish, "B-1")
    allow_webhooks(monkeypatch, db, "elsewhere.example")
    assert deliver_due(db, now=T0, policy=POLICY).retrying == 1
    assert receiver.received == []
    [failure] = _monitor(client, admin)["failures"]
    assert failure["error"].startswith("not sent: the URL is not in the webhook allowlist")


def test_filters_choose_the_events_a_subscription_gets(db, client, admin, publish, receiver):
    [batch] = _batches(db, publish, "B-1")
    _subscribe(client, admin, receiver, types=["batch"], kinds=["record.updated"])
    with db.write() as conn:
        update_record(
            conn,
            ANALYST,
            "batch",
            batch["id"],
            {"product": "X"},
            expected_version=1,
        )
    assert deliver_due(db, now=T0, policy=POLICY).delivered == 1
    assert [r.event["kind"] for r in receiver.received] == ["record.updated"]

    wanted = EventFilter.of(types="job", kinds="record.*", states="released,cancelled")
    event = {"type": "job", "kind": "record.transitioned", "payload": {"to": "released"}}
    assert wanted.matches(event)
    assert not wanted.matches({**event, "payload": {"to": "in_review"}})
    assert wanted.matches({**event, "kind": "record.updated", "payload": {"state": "cancelled"}})
    assert not wanted.matches({**event, "kind": "record.signed", "payload": {}})
    assert not wanted.matches({**event, "type": "task"})
    assert not wanted.matches({**event, "kind": "config.published"})


def test_a_paused_subscription_sends_nothing_and_catches_up(db, client, admin, publish, receiver):
    _subscribe(client, admin, receiver)
    _batches(db, publish, "B-1")
    paused = client.patch(
        "/api/v1/webhooks/lims-out", json={"active": False}, headers=admin.headers
    )
    assert paused.status_code == 200 and paused.json()["active"] is False
    _create(db, "B-2")
    assert not deliver_due(db, now=T0, policy=POLICY).worked
    assert receiver.received == []
    client.patch("/api/v1/webhooks/lims-out", json={"active": True}, headers=admin.headers)
    assert deliver_due(db, now=T0, policy=POLICY).delivered == 2
    codes = [r.event["payload"]["data"]["code"] for r in receiver.received]
    assert sorted(codes) == ["B-1", "B-2"]


def test_subscriptions_are_configuration_managed_by_configurers_and_audited(
    db, client, admin, receiver, make_person
):
    someone = make_person("sam", "viewer")
    body = {"name": "erp", "url": receiver.url, "secret": "s" * 20}
    assert client.post("/api/v1/webhooks", json=body, headers=someone.headers).status_code == 403
    assert client.get("/api/v1/webhooks", headers=someone.headers).status_code == 403
    created = client.post("/api/v1/webhooks", json=body, headers=admin.headers)
    assert created.status_code == 201 and created.json()["secret"] == "s" * 20
    again = client.post("/api/v1/webhooks", json=body, headers=admin.headers)
    assert again.status_code == 422 and again.json()["errors"][0]["field"] == "name"

    for bad, field in (
        ({"name": "x", "url": receiver.url, "colour": "red"}, "colour"),
        ({"name": "x", "url": receiver.url, "kinds": ["Record created"]}, "kinds[0]"),
        ({"name": "x", "url": receiver.url, "types": ["no_such_type"]}, "types[0]"),
        ({"name": "x", "url": receiver.url, "secret": "short"}, "secret"),
        ({"name": "x"}, "url"),
    ):
        answer = client.post("/api/v1/webhooks", json=bad, headers=admin.headers)
        assert answer.status_code == 422, bad
        assert [e["field"] for e in answer.json()["errors"]] == [field], answer.json()

    rotated = client.patch(
        "/api/v1/webhooks/erp", json={"rotate_secret": True}, headers=admin.headers
    )
    assert rotated.status_code == 200
    assert rotated.json()["secret"].startswith("whsec_")
    listed = client.get("/api/v1/webhooks", headers=admin.headers).json()["items"]
    assert [(w["name"], w["queue"]) for w in listed] == [("erp", 0)]
    assert "secret" not in listed[0]
    renamed = client.patch("/api/v1/webhooks/erp", json={"name": "other"}, headers=admin.headers)
    assert renamed.status_code == 422
    assert client.patch("/api/v1/webhooks/nope", json={}, headers=admin.headers).status_code == 404

    with db.read() as conn:
        events = conn.execute(
            select(audit_event.c.action, audit_event.c.changes, audit_event.c.details)
            .where(audit_event.c.action.like("webhook.%"))
            .order_by(audit_event.c.seq)
        ).all()
    assert [e.action for e in events] == ["webhook.create", "webhook.update"]
    assert events[0].changes["secret"] == {"old": None, "new": "(set)"}
    assert events[0].changes["url"]["new"] == receiver.url
    assert events[1].changes == {"secret": {"old": "(set)", "new": "(set)"}}
    assert "s" * 20 not in str([e.changes for e in events])
    feed = client.get("/api/v1/events", params={"kind": "config.webhook"}, headers=admin.headers)
    assert [e["payload"]["action"] for e in feed.json()["items"]] == [
        "webhook.create",
        "webhook.update",
    ]


def _subscribe_directly(db, receiver) -> None:
    with db.write() as conn:
        created = create_subscription(
            conn,
            SYSTEM,
            {"name": "lims-out", "url": receiver.url, "kinds": ["record.created"]},
            Allowlist.from_settings(db.settings),
        )
    receiver.secret = created["secret"]


def _statuses(db) -> list[str]:
    with db.read() as conn:
        return list(
            conn.execute(
                select(webhook_delivery.c.status).order_by(webhook_delivery.c.id)
            ).scalars()
        )


def test_workers_claim_disjoint_deliveries_and_take_over_after_a_lease(db, publish, receiver):
    _subscribe_directly(db, receiver)
    _batches(db, publish, *(f"B-{n}" for n in range(12)))
    dispatch(db, T0)
    policy = DeliveryPolicy(batch=3, lease=120)
    barrier = threading.Barrier(4)

    def take(_: int) -> list[int]:
        barrier.wait()
        return [c.delivery_id for c in claim(db, T0, policy)]

    with ThreadPoolExecutor(4) as pool:
        claimed = list(pool.map(take, range(4)))
    everything = [i for ids in claimed for i in ids]
    assert [len(ids) for ids in claimed] == [3, 3, 3, 3]
    assert len(set(everything)) == 12, "no delivery claimed twice"

    # Those workers vanished: within their lease nothing is due, after it everything is.
    assert claim(db, T0 + timedelta(seconds=119), policy) == []
    [stale] = claim(db, T0 + timedelta(seconds=120), DeliveryPolicy(batch=1, lease=120))
    assert deliver_due(db, now=T0 + timedelta(seconds=121), policy=POLICY).delivered == 11
    assert deliver_due(db, now=T0 + timedelta(seconds=240), policy=POLICY).delivered == 1
    # The stale claimant reports late: its attempt is kept, the status is not its to set.
    late = Outcome(status_code=500, error=None, response="late", duration_ms=1)
    assert settle(db, stale, late, T0 + timedelta(seconds=300), policy) is None
    assert _statuses(db) == ["delivered"] * 12
    assert sorted(set(receiver.event_ids)) == sorted(receiver.event_ids)
    assert len(receiver.event_ids) == 12


def test_a_delivery_in_flight_never_holds_up_a_users_write(db, publish, receiver):
    _subscribe_directly(db, receiver)
    _batches(db, publish, "B-1")
    receiver.hold = True
    worker = threading.Thread(
        target=deliver_due, kwargs={"db": db, "now": T0, "policy": DeliveryPolicy(timeout=60)}
    )
    worker.start()
    try:
        assert receiver.wait_for(lambda got: len(got) == 1)
        written = _create(db, "B-2")  # would wait for the worker if it held a transaction
        assert written["number"] and worker.is_alive(), "written while the delivery waited"
    finally:
        receiver.release.set()
        worker.join(timeout=60)


def test_a_worker_killed_mid_delivery_loses_nothing(db, publish, receiver, tmp_path):
    _subscribe_directly(db, receiver)
    records = _batches(db, publish, *(f"B-{n}" for n in range(5)))
    command = [
        *LABLEDGER,
        "--database",
        database_url(db),
        "worker",
        "--poll",
        "0.05",
        "--timeout",
        "30",
        "--batch",
        "1",
        "--lease",
        "1",
    ]
    log = (tmp_path / "worker.log").open("w")

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, cwd=REPO, stdout=log, stderr=log, env=os.environ.copy())

    receiver.hold = True  # the first delivery hangs: the worker is killed while it waits
    first = start()
    try:
        assert receiver.wait_for(lambda got: len(got) == 1), (tmp_path / "worker.log").read_text()
        first.kill()
        first.wait(timeout=30)
    finally:
        receiver.hold = False
        receiver.release.set()
    in_flight = receiver.event_ids[0]

    second = start()
    try:
        everything = {r["id"] for r in records}

        # Done when every record arrived and the killed delivery came again (its lease
        # runs out first, so it may well arrive after the others).
        def all_delivered(got: list[Any]) -> bool:
            redelivered = sum(r.event_id == in_flight for r in got) >= 2
            return redelivered and {r.event["record_id"] for r in got} >= everything

        assert receiver.wait_for(all_delivered), (tmp_path / "worker.log").read_text()
    finally:
        second.terminate()
        assert second.wait(timeout=30) == 0, "SIGTERM stops the worker cleanly"
    assert all(r.signed for r in receiver.received)
    assert receiver.event_ids.count(in_flight) == 2, "sent again after the kill"
    assert len(set(receiver.event_ids)) == 5
    assert _statuses(db) == ["delivered"] * 5
