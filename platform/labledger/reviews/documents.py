"""A review as a document: HTML to read and print, PDF, CSV for a spreadsheet, JSON.

The CSV is one file holding every table one after the other, each under its
title, so that a person opening it in a spreadsheet sees the whole review in
one sheet, as on the page; a cut table says so in a line of its own. It
starts with a byte-order mark so spreadsheets read it as UTF-8, and every
cell goes through ``records.csv_export.safe_cell``, so no text in it (a
user's name, a reason someone typed) can run as a formula.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from datetime import datetime
from functools import cache
from typing import Any, Protocol

from jinja2 import Environment, FileSystemLoader, select_autoescape

from labledger.printing.pdf import pdf_of
from labledger.records.csv_export import safe_cell
from labledger.resources import data_path
from labledger.reviews.access import AccessReview
from labledger.reviews.tables import Table

FORMATS = ("html", "pdf", "csv")
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}


class Review(Protocol):
    """What both reviews give a document: a title, facts about the review, its tables."""

    @property
    def title(self) -> str: ...

    @property
    def facts(self) -> list[tuple[str, str]]: ...

    @property
    def tables(self) -> list[Table]: ...


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(data_path("ui", "templates")),
        autoescape=select_autoescape(default=True),
    )


def review_html(review: Review) -> str:
    """The review as a standalone page (its own styles), to read, print and sign."""
    return _environment().get_template("reviews/report.html").render(review=review)


def review_csv(review: Review) -> str:
    """Every table in one CSV, each under its title, with the facts first."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(cells: list[str] | tuple[str, ...]) -> None:
        writer.writerow([safe_cell(cell) for cell in cells])

    line([review.title])
    for label, value in review.facts:
        line([label, value])
    for table in review.tables:
        writer.writerow([])
        line([table.title])
        if table.truncated:
            line([f"Only {table.shown} are listed."])
        line(table.columns)
        for row in table.rows:
            line(row)
    return buffer.getvalue()


def review_json(review: AccessReview) -> dict[str, Any]:
    """The access review as JSON-ready data for programs (times as ISO 8601 UTC)."""

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    return {
        "title": review.title,
        **plain(asdict(review)),
        "unused": [a.username for a in review.unused],
        "snapshot_hash": review.snapshot_hash,
    }


def document(review: Review, kind: str) -> bytes:
    """The review in format ``kind`` (one of FORMATS) as bytes."""
    if kind == "pdf":
        return pdf_of(review_html(review))
    if kind == "csv":
        return review_csv(review).encode("utf-8")
    return review_html(review).encode("utf-8")
