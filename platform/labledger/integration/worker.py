"""The ``labledger worker`` process: delivery rounds until it is told to stop.

Any number of workers may run against one database; they share nothing but
the database. A round that found work is followed at once by the next one; an
idle worker waits ``poll`` seconds. A database that cannot be reached is
logged and retried after the same wait, so a restart of the database does not
need a restart of the workers. SIGTERM and SIGINT stop the worker after the
delivery in progress.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.exc import DBAPIError

from labledger.db.engine import Database
from labledger.integration.allowlist import Allowlist
from labledger.integration.delivery import DeliveryPolicy, Transport, deliver_due, http_post

log = logging.getLogger("labledger.worker")


def run_worker(
    db: Database,
    *,
    policy: DeliveryPolicy,
    allowlist: Allowlist,
    poll: float = 1.0,
    once: bool = False,
    stop: threading.Event | None = None,
    transport: Transport = http_post,
) -> int:
    """Deliver until ``stop`` is set (``once``: until nothing is due); returns the rounds run."""
    stop = stop or threading.Event()
    rounds = 0
    while not stop.is_set():
        try:
            result = deliver_due(db, policy=policy, allowlist=allowlist, transport=transport)
        except DBAPIError as exc:
            log.warning("database unavailable, retrying in %g s: %s", poll, exc.orig or exc)
            stop.wait(poll)
            continue
        rounds += 1
        if not result.worked:
            if once:
                break
            stop.wait(poll)
    return rounds
