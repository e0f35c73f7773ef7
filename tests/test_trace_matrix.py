"""The trace matrix plugin (tests/trace_matrix.py) and the catalogue's readable page.

The plugin runs in a pytest of its own on tiny test files and a two-requirement
catalogue, so that what it reports and when it fails the run is checked directly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.requirements_doc import PAGE, render
from tests.trace_matrix import CATALOGUE, database_of

pytest_plugins = ["pytester"]

_CATALOGUE = {
    "requirements": [
        {"id": "REQ-T-01", "statement": "one", "clauses": ["21 CFR 11.10(e)"]},
        {"id": "REQ-T-02", "statement": "two", "clauses": ["Annex 11 §9"]},
    ],
    "procedural": [],
}

_TESTS = """
import pytest

@pytest.mark.requirement("REQ-T-01")
@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_one(db):
    pass

@pytest.mark.requirement("REQ-T-02")
def test_two():
    assert {two_passes}
"""


def _run(pytester: pytest.Pytester, *args: str, two_passes: bool = True) -> Any:
    catalogue = pytester.path / "requirements.json"
    catalogue.write_text(json.dumps(_CATALOGUE), encoding="utf-8")
    pytester.makepyfile(test_sample=_TESTS.format(two_passes=two_passes))
    return pytester.runpytest_subprocess(
        "-p",
        "tests.trace_matrix",
        f"--requirements-catalogue={catalogue}",
        f"--trace-matrix={pytester.path / 'out'}",
        *args,
    )


def _matrix(pytester: pytest.Pytester) -> dict[str, Any]:
    rows = json.loads((pytester.path / "out" / "trace-matrix.json").read_text())["requirements"]
    return {row["id"]: row for row in rows}


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester whose subprocess can import this repository's ``tests`` package."""
    root = Path(__file__).resolve().parents[1]
    monkeypatch.setenv("PYTHONPATH", f"{root}:{root / 'platform'}")
    return pytester


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "xdist"])
def test_a_requirement_with_passing_tests_is_passed_per_database(pytester, workers):
    result = _run(pytester, "--trace-matrix-require", *workers)
    assert result.ret == 0
    matrix = _matrix(pytester)
    assert matrix["REQ-T-01"]["passed_on"] == ["postgresql", "sqlite"]
    assert matrix["REQ-T-02"]["passed_on"] == ["any"]
    assert {t["test"]: t["result"] for t in matrix["REQ-T-01"]["tests"]} == {
        "test_sample.py::test_one[postgresql]": "passed",
        "test_sample.py::test_one[sqlite]": "passed",
    }
    page = (pytester.path / "out" / "trace-matrix.html").read_text()
    assert "REQ-T-02" in page and "test_sample.py::test_two" in page


def test_a_requirement_with_only_a_failing_test_fails_the_run_when_required(pytester):
    result = _run(pytester, "--trace-matrix-require", two_passes=False)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*requirements without a passing test: REQ-T-02*"])
    row = _matrix(pytester)["REQ-T-02"]
    assert row["passed_on"] == [] and row["tests"][0]["result"] == "failed"


def test_a_requirement_without_tests_fails_a_passing_run_when_required(pytester):
    result = _run(pytester, "--trace-matrix-require", "-k", "test_one")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*requirements without a passing test: REQ-T-02*"])


def test_without_require_a_requirement_left_out_does_not_fail_the_run(pytester):
    result = _run(pytester, "-k", "test_one")
    assert result.ret == 0
    assert _matrix(pytester)["REQ-T-02"]["tests"] == []


def test_an_unknown_requirement_id_fails_its_test(pytester):
    pytester.makepyfile(
        test_typo="""
import pytest

@pytest.mark.requirement("REQ-T-1")
def test_typo():
    pass
"""
    )
    result = _run(pytester)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*catalogue does not hold: REQ-T-1*"])


@pytest.mark.parametrize(
    "nodeid, database",
    [
        ("t.py::test_x[sqlite]", "sqlite"),
        ("t.py::test_x[case-postgresql]", "postgresql"),
        ("t.py::test_x[sqlite-like]", "sqlite"),
        ("t.py::test_x", "any"),
        ("t.py::test_x[other]", "any"),
    ],
)
def test_the_database_is_read_from_the_test_id(nodeid, database):
    assert database_of(nodeid) == database


def test_the_readable_catalogue_is_written_from_the_json():
    """Run ``python -m tests.requirements_doc`` after editing docs/requirements.json."""
    catalogue = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    assert PAGE.read_text(encoding="utf-8") == render(catalogue)
    ids = [req["id"] for req in catalogue["requirements"]]
    assert len(ids) == len(set(ids))
