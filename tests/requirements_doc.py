"""docs/requirements.md is written from docs/requirements.json, the one source of the
catalogue: ``python -m tests.requirements_doc`` rewrites it, and a test keeps both in
agreement so that the readable page never says something the trace matrix does not check.
"""

from __future__ import annotations

import json
from typing import Any

from tests.trace_matrix import CATALOGUE

PAGE = CATALOGUE.with_suffix(".md")

_INTRO = """\
# Requirements the platform automates

<!-- Written by `python -m tests.requirements_doc` from requirements.json: edit that file. -->

Each requirement below is proved by tests that carry its ID
(`@pytest.mark.requirement("REQ-…")`); `make test` writes the trace matrix of
requirement, tests and result per database (see [validation](validation.md)).
The clauses are those of 21 CFR Part 11, EU GMP Annex 11 and the ALCOA+
principles the requirement serves.

| ID | requirement | clauses |
| --- | --- | --- |
"""

_PROCEDURAL = """
## Procedural clauses

These clauses are met by the customer's own procedures, not by software; the
platform's part is what it offers to help.

| clause | what the customer's procedure covers | what the platform offers |
| --- | --- | --- |
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(catalogue: dict[str, Any]) -> str:
    """The page for a catalogue as read from requirements.json."""
    rows = [
        f"| {req['id']} | {_cell(req['statement'])} | {'; '.join(req['clauses'])} |\n"
        for req in catalogue["requirements"]
    ]
    procedural = [
        f"| {p['clause']} | {_cell(p['statement'])} | {_cell(p['platform_help'])} |\n"
        for p in catalogue["procedural"]
    ]
    return _INTRO + "".join(rows) + _PROCEDURAL + "".join(procedural)


def main() -> None:
    PAGE.write_text(render(json.loads(CATALOGUE.read_text(encoding="utf-8"))), encoding="utf-8")


if __name__ == "__main__":
    main()
