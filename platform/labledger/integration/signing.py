"""How a webhook delivery proves where it comes from.

The body is signed together with the time of sending:
``X-Labledger-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``.
A receiver recomputes it with the shared secret, compares in constant time and
refuses old timestamps, so a captured request cannot be replayed later.
``X-Labledger-Event-Id`` is the outbox id: the same event always carries the
same id, which is how a receiver drops a repeated delivery.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

SIGNATURE_HEADER = "X-Labledger-Signature"
TIMESTAMP_HEADER = "X-Labledger-Timestamp"
EVENT_ID_HEADER = "X-Labledger-Event-Id"
WEBHOOK_HEADER = "X-Labledger-Webhook"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The value of the signature header for ``body`` sent at ``timestamp`` (Unix seconds)."""
    message = str(timestamp).encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signed_headers(
    *, secret: str, event_id: int, subscription: str, body: bytes, now: datetime
) -> dict[str, str]:
    """Every header of one delivery attempt, signed for the moment ``now``."""
    timestamp = int(now.timestamp())
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        TIMESTAMP_HEADER: str(timestamp),
        EVENT_ID_HEADER: str(event_id),
        WEBHOOK_HEADER: subscription,
    }
