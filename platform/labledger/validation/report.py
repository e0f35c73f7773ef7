"""The evidence of a qualification run: JSON for machines, HTML for people (printable).

Both say what was qualified (the configuration's content hash, the platform
version, the database kind, when) and every case with its requirement,
inputs, expected and observed result and outcome, failed and manual cases
first in the summary.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from labledger import __version__
from labledger.canonical import plain_content_hash
from labledger.printing.pdf import printed
from labledger.resources import data_path
from labledger.validation.cases import FAILED, MANUAL, PASSED, Case


@dataclass
class Report:
    configuration_hash: str
    database: str
    started: datetime
    cases: list[Case] = field(default_factory=list)
    finished: datetime | None = None
    #: The change request whose proposed configuration was qualified (None: the active one).
    change_request: str | None = None

    @classmethod
    def of(cls, configuration: dict[str, Any], database: str) -> Report:
        return cls(plain_content_hash(configuration), database, datetime.now(UTC))

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(case.outcome for case in self.cases)
        return {outcome: found.get(outcome, 0) for outcome in (PASSED, FAILED, MANUAL)}

    @property
    def ok(self) -> bool:
        return self.counts[FAILED] == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "platform_version": __version__,
            "configuration_hash": self.configuration_hash,
            "change_request": self.change_request,
            "database": self.database,
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat() if self.finished else None,
            "counts": self.counts,
            "cases": [case.as_dict() for case in self.cases],
        }

    def html(self) -> str:
        """The report as a page to read, print and sign."""
        environment = Environment(
            loader=FileSystemLoader(data_path("ui", "templates", "validation")),
            autoescape=select_autoescape(default=True),
        )
        return environment.get_template("report.html").render(
            report=self, version=__version__, PASSED=PASSED, FAILED=FAILED, MANUAL=MANUAL
        )

    def write(self, folder: Path, *, pdf: bool = True) -> list[Path]:
        """``validation-report.json``, ``.html`` and (``pdf``) ``.pdf`` in ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        as_json = folder / "validation-report.json"
        as_json.write_text(json.dumps(self.as_dict(), indent=2), encoding="utf-8")
        page = self.html()
        as_html = folder / "validation-report.html"
        as_html.write_text(page, encoding="utf-8")
        written = [as_json, as_html]
        as_pdf_bytes = printed(page) if pdf else None
        if as_pdf_bytes is not None:
            as_pdf = folder / "validation-report.pdf"
            as_pdf.write_bytes(as_pdf_bytes)
            written.append(as_pdf)
        return written
