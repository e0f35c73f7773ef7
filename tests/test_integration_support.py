"""What the integration tests share: a webhook receiver on loopback that checks
signatures the way docs/integration.md shows, and the command for a child
``labledger`` process.

This module holds no tests; the ``test_integration_*`` modules import from it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from labledger.db.engine import Database
from labledger.settings import WEBHOOK_ALLOWLIST_ENV
from tests.definitions import reconfigure

#: ``labledger`` for a child process.
LABLEDGER = [sys.executable, "-m", "labledger.cli"]


@dataclass
class Received:
    """One request as the receiver saw it."""

    event_id: int
    timestamp: int
    signed: bool
    event: dict[str, Any]
    headers: dict[str, str]
    body: bytes


def signature_ok(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The verification documented for receivers (without the clock check)."""
    timestamp = headers["x-labledger-timestamp"]
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest("sha256=" + expected, headers["x-labledger-signature"])


class Receiver:
    """A webhook endpoint on 127.0.0.1 (random port).

    ``answers`` are the status codes to give next (then 200); ``hold`` makes
    each request wait (up to 30 s) until ``release`` is set, to play a
    receiver that does not answer in time.
    """

    def __init__(self) -> None:
        self.secret = ""
        self.received: list[Received] = []
        self.answers: deque[int] = deque()
        self.hold = False
        self.release = threading.Event()
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver._record(dict(self.headers.items()), body)
                if receiver.hold:
                    receiver.release.wait(30)
                status = receiver.answers.popleft() if receiver.answers else 200
                payload = b"receiver says no" if status >= 300 else b"ok"
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the worker gave up waiting (timeout) or was killed
                    pass

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/labledger"

    def _record(self, headers: dict[str, str], body: bytes) -> None:
        headers = {k.lower(): v for k, v in headers.items()}
        with self.arrived:
            self.received.append(
                Received(
                    event_id=int(headers["x-labledger-event-id"]),
                    timestamp=int(headers["x-labledger-timestamp"]),
                    signed=signature_ok(self.secret, headers, body),
                    event=json.loads(body),
                    headers=headers,
                    body=body,
                )
            )
            self.arrived.notify_all()

    def wait_for(self, condition: Any, timeout: float = 60.0) -> bool:
        """Wait until ``condition(received)`` holds (True) or the timeout passes (False)."""
        with self.arrived:
            return self.arrived.wait_for(lambda: condition(self.received), timeout)

    @property
    def event_ids(self) -> list[int]:
        return [r.event_id for r in self.received]


def allow_webhooks(monkeypatch: pytest.MonkeyPatch, db: Database, allowlist: str) -> None:
    """Set the webhook allowlist for this test: in ``db``'s settings (the app and the
    services) and in the environment (commands run in-process read it there)."""
    reconfigure(monkeypatch, db, webhook_allowlist=allowlist)
    monkeypatch.setenv(WEBHOOK_ALLOWLIST_ENV, allowlist)


def running_receiver(monkeypatch: pytest.MonkeyPatch, db: Database) -> Iterator[Receiver]:
    """A running receiver, and an allowlist that lets webhooks reach it (and only it).

    A fixture body: test modules declare
    ``receiver = pytest.fixture(running_receiver, name="receiver")``.
    """
    found = Receiver()
    found.thread.start()
    allow_webhooks(monkeypatch, db, f"127.0.0.1:{found.port}")
    try:
        yield found
    finally:
        found.release.set()
        found.server.shutdown()
        found.server.server_close()
