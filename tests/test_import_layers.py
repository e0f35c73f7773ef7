"""The import layers hold: modules import only from the layers below their own.

The contract is ``.importlinter`` at the repository root; it also finds
imports made inside functions, so a cycle cannot hide in one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CONTRACT = Path(__file__).resolve().parent.parent / ".importlinter"


def test_imports_follow_the_layers(capsys: pytest.CaptureFixture[str]) -> None:
    cli = pytest.importorskip(
        "importlinter.cli",
        reason="import-linter is not installed (it comes with the dev dependencies)",
    )
    exit_code = cli.lint_imports(config_filename=str(CONTRACT), no_cache=True, no_logo=True)
    assert exit_code == 0, capsys.readouterr().out
