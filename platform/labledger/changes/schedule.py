"""Scheduled change requests come into force while the application runs.

An approved change request can be scheduled for a date and time; the server
activates what is due when it starts and then every ``INTERVAL`` seconds,
in each worker (activation locks the request and checks its status, so two
workers never activate one twice). ``labledger changes activate-due`` does
the same pass from the command line, for installations that run it from a
timer instead.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.to_thread import run_sync

from labledger.changes.service import activate_due
from labledger.db.engine import Database
from labledger.identity.principal import SYSTEM

log = logging.getLogger("labledger.changes")

#: Seconds between two passes over the scheduled change requests.
INTERVAL = 30.0


def activation_pass(db: Database) -> None:
    """Activate what is due; log what was activated and what could not be."""
    done = activate_due(db, SYSTEM)
    for change in done.activated:
        log.info("activated scheduled %s: %s", change.label, change.title)
    for change_id, why in done.refused:
        log.warning("scheduled CR-%s not activated: %s", change_id, why)


@asynccontextmanager
async def scheduled_activations(app: Any) -> AsyncIterator[None]:
    """The application's lifespan: one pass at start-up, then one every ``INTERVAL``
    seconds, over the database the application serves (``app.state.db``)."""
    db: Database = app.state.db
    await run_sync(activation_pass, db)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(_every, db, INTERVAL)
        yield
        tasks.cancel_scope.cancel()


async def _every(db: Database, interval: float) -> None:
    while True:
        await anyio.sleep(interval)
        try:
            await run_sync(activation_pass, db)
        except Exception:  # the next pass tries again; the server keeps serving
            log.exception("scheduled activations failed")
