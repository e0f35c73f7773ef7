"""A report as titled tables of text: what the HTML page, the PDF and the CSV all show.

Both reviews state facts as tables; one shape for every table lets one
template and one CSV writer serve them all, and keeps the three formats
saying the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

#: Detail rows a table lists at most; beyond that it says how many it left out.
MAX_ROWS = 1000


@dataclass(frozen=True)
class Table:
    """One section of a report: a title, what it states, and its rows as text."""

    key: str
    title: str
    note: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    #: How many rows there are in all (more than listed when the table was cut at MAX_ROWS).
    total: int

    @property
    def truncated(self) -> bool:
        return self.total > len(self.rows)

    @property
    def shown(self) -> str:
        """What the table holds, in words: "12 rows", or "the first 1,000 of 5,321 rows"."""
        if self.truncated:
            return f"the first {len(self.rows):,} of {self.total:,} rows"
        return f"{self.total:,} row" + ("" if self.total == 1 else "s")


def moment_text(moment: datetime | None) -> str:
    """A UTC moment as ``2026-05-01 14:30:05`` (every table says its times are UTC)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""
