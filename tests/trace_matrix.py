"""The trace matrix: which tests prove which catalogued requirement, with what result.

A test names the requirements it proves with ``@pytest.mark.requirement("REQ-SIG-01")``;
the IDs come from ``docs/requirements.json`` (docs/validation.md explains the use of
the matrix in a validation plan). A marker naming an ID the catalogue does not hold
fails its test: a typo must not silently prove nothing.

``--trace-matrix=DIR`` writes ``DIR/trace-matrix.json`` and ``DIR/trace-matrix.html``:
requirement -> tests -> result on each database. ``--trace-matrix-require`` (given by
``make test``, which runs the whole suite) also fails the run when a catalogued
requirement has no passing test; a partial run (``-k``, a path, ``-m``) leaves it out.

Under pytest-xdist the workers run the tests and the controller writes the matrix:
the markers' IDs travel to it as ``user_properties`` of each test report.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

#: The catalogue this repository ships.
CATALOGUE = Path(__file__).resolve().parents[1] / "docs" / "requirements.json"
#: The name under which a report carries its test's requirement IDs.
PROPERTY = "requirements"
#: The databases a test ID's parameters name (``test_x[sqlite]``); other tests touch none.
DATABASES = ("sqlite", "postgresql")
ANY_DATABASE = "any"
#: The catalogued IDs, for checking the markers.
_KNOWN = pytest.StashKey[set[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("trace matrix")
    group.addoption(
        "--trace-matrix",
        metavar="DIR",
        help="write DIR/trace-matrix.json and DIR/trace-matrix.html: each catalogued "
        "requirement, the tests that prove it and their results per database",
    )
    group.addoption(
        "--trace-matrix-require",
        action="store_true",
        help="fail the run when a catalogued requirement has no passing test "
        "(for whole-suite runs: `make test`)",
    )
    group.addoption(
        "--requirements-catalogue",
        metavar="FILE",
        default=str(CATALOGUE),
        help="the requirements catalogue (default: docs/requirements.json)",
    )


def load_catalogue(path: Path) -> list[dict[str, Any]]:
    """The catalogued requirements, in their order."""
    requirements: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))[
        "requirements"
    ]
    return requirements


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requirement(*ids): the catalogued requirements (docs/requirements.json) the test proves",
    )
    catalogue = load_catalogue(Path(config.getoption("requirements_catalogue")))
    config.stash[_KNOWN] = {req["id"] for req in catalogue}
    if config.getoption("trace_matrix") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_Matrix(config, catalogue), "trace-matrix")


def requirement_ids(item: pytest.Item) -> list[str]:
    """Every requirement ID the item's markers name, in order, once each."""
    ids: list[str] = []
    for marker in item.iter_markers("requirement"):
        ids.extend(i for i in marker.args if i not in ids)
    return ids


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Attach the IDs to each test, so that its reports carry them to an xdist controller."""
    for item in items:
        ids = requirement_ids(item)
        if ids:
            item.user_properties.append((PROPERTY, " ".join(ids)))


def pytest_runtest_setup(item: pytest.Item) -> None:
    unknown = [i for i in requirement_ids(item) if i not in item.config.stash[_KNOWN]]
    if unknown:
        pytest.fail(
            f"requirement marker names IDs the catalogue does not hold: {', '.join(unknown)}",
            pytrace=False,
        )


def database_of(nodeid: str) -> str:
    """The database a test ran on, from its ID's parameters (``[case-postgresql]``)."""
    if not nodeid.endswith("]") or "[" not in nodeid:
        return ANY_DATABASE
    params = nodeid[nodeid.index("[") + 1 : -1].split("-")
    return next((name for name in DATABASES if name in params), ANY_DATABASE)


@dataclass
class _Outcome:
    """One test's result, built from its setup, call and teardown reports."""

    requirements: list[str]
    result: str = "passed"
    phases: set[str] = field(default_factory=set)

    def add(self, report: pytest.TestReport) -> None:
        self.phases.add(report.when)
        if report.failed:
            self.result = "failed"
        elif report.skipped and self.result != "failed":
            self.result = "skipped"

    @property
    def final(self) -> str:
        """A test whose call never ran (setup skipped or failed) did not pass."""
        if self.result == "passed" and "call" not in self.phases:
            return "failed"
        return self.result


class _Matrix:
    """Collects results on the process that reports them and writes the matrix at the end."""

    def __init__(self, config: pytest.Config, catalogue: list[dict[str, Any]]) -> None:
        self.directory = Path(config.getoption("trace_matrix"))
        self.require = bool(config.getoption("trace_matrix_require"))
        self.catalogue = catalogue
        self.outcomes: dict[str, _Outcome] = {}
        self.missing: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        ids = next((str(v) for k, v in report.user_properties if k == PROPERTY), "")
        if ids:
            self.outcomes.setdefault(report.nodeid, _Outcome(ids.split())).add(report)

    def matrix(self) -> dict[str, Any]:
        """The matrix as data: one entry per catalogued requirement, in catalogue order."""
        rows = []
        for req in self.catalogue:
            tests = [
                {"test": nodeid, "database": database_of(nodeid), "result": outcome.final}
                for nodeid, outcome in sorted(self.outcomes.items())
                if req["id"] in outcome.requirements
            ]
            passed = sorted({t["database"] for t in tests if t["result"] == "passed"})
            rows.append({**req, "tests": tests, "passed_on": passed})
        return {"requirements": rows}

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        matrix = self.matrix()
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "trace-matrix.json").write_text(
            json.dumps(matrix, indent=2) + "\n", encoding="utf-8"
        )
        (self.directory / "trace-matrix.html").write_text(render_html(matrix), encoding="utf-8")
        self.missing = [row["id"] for row in matrix["requirements"] if not row["passed_on"]]
        if self.require and self.missing:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.write_line(f"trace matrix written to {self.directory}")
        if self.require and self.missing:
            terminalreporter.write_line(
                "requirements without a passing test: " + ", ".join(self.missing), red=True
            )


def render_html(matrix: dict[str, Any]) -> str:
    """A page a reviewer can read and print: one row per requirement and test."""
    rows = []
    for req in matrix["requirements"]:
        tests = req["tests"] or [{"test": "(no test)", "database": "", "result": "missing"}]
        for i, test in enumerate(tests):
            head = (
                f'<td rowspan="{len(tests)}">{html.escape(req["id"])}</td>'
                f'<td rowspan="{len(tests)}">{html.escape(req["statement"])}</td>'
                f'<td rowspan="{len(tests)}">{html.escape(", ".join(req["clauses"]))}</td>'
                if i == 0
                else ""
            )
            rows.append(
                f"<tr>{head}<td><code>{html.escape(test['test'])}</code></td>"
                f"<td>{html.escape(test['database'])}</td>"
                f'<td class="{test["result"]}">{test["result"]}</td></tr>'
            )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>labledger trace matrix</title><style>"
        "body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #999;padding:4px;vertical-align:top}"
        ".passed{color:#060}.failed,.missing{color:#a00;font-weight:bold}.skipped{color:#777}"
        "</style></head><body><h1>labledger trace matrix</h1><table>"
        "<tr><th>requirement</th><th>statement</th><th>clauses</th><th>test</th>"
        "<th>database</th><th>result</th></tr>\n" + "\n".join(rows) + "\n</table></body></html>\n"
    )
