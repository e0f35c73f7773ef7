"""How long work on an archive has to go: a callback, and the terminal's progress bar."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

#: Called as rows are written or read: (what, rows done, rows in all).
Progress = Callable[[str, int, int], None]


def no_progress(_what: str, _done: int, _total: int) -> None:
    """Progress for callers that show none."""


class ProgressBar:
    """One line on a terminal, redrawn at most ten times a second and ended when a
    table is done; nothing where the output is not a terminal (a log, a pipe)."""

    WIDTH = 30

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.shown = 0.0
        self.ended = ""

    def __call__(self, what: str, done: int, total: int) -> None:
        finished = done >= total
        if not self.live or (finished and what == self.ended):
            return
        now = time.monotonic()
        if not finished and now - self.shown < 0.1:
            return
        self.shown = now
        if finished:
            self.ended = what
        filled = self.WIDTH * done // total if total else self.WIDTH
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        end = "\n" if finished else ""
        self.stream.write(f"\r{what:<24} [{bar}] {done:>12,} / {total:,}{end}")
        self.stream.flush()
