"""The banner every admin page shows while change control is off.

An installation used for evaluation may run without change control; a
validated one may not (EU GMP Annex 11 §10). Where configuration is made, on
every admin page, the layout says so while control is off, so nobody takes
such a system for a controlled one. The setting is read before the handler of
an admin page runs and left on the request for the layout (``base.html``).
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from labledger.change_gate import control_setting
from labledger.changes.control import OFF_NOTICE
from labledger.db.engine import Database

#: The request state the layout reads: the notice to show, or None.
STATE_KEY = "change_control_notice"


def note_change_control(request: Request[Any, Any, Any]) -> None:
    """A ``before_request`` hook of the admin pages (sync: Litestar runs it in a thread)."""
    db: Database = request.app.state.db
    with db.read() as conn:
        enabled = control_setting(conn).enabled
    request.state[STATE_KEY] = None if enabled else OFF_NOTICE
