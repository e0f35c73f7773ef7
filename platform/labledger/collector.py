"""Pausing Python's cycle collector while an import holds a whole file in memory.

An import of 100,000 rows keeps several million small objects alive until it
commits: the rows read, the records they change, the audit events waiting to
be written. The cycle collector's passes walk them again and again (a quarter
of the time of such an import) and free nothing, since none of them is
garbage yet. Reference counting frees everything else as usual while the
collector is paused; cycles that become garbage meanwhile, in any thread, are
freed by the first pass after it. The pause is as long as one import, whose
size the installation bounds (``import_max_bytes``).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
#: Imports running with the collector paused; the last one to finish resumes it.
_pausing = 0
#: Whether the collector was running when the first of them paused it.
_was_enabled = True


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the cycle collector paused (however many blocks overlap)."""
    global _pausing, _was_enabled
    with _lock:
        if _pausing == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pausing += 1
    try:
        yield
    finally:
        with _lock:
            _pausing -= 1
            if _pausing == 0 and _was_enabled:
                gc.enable()
