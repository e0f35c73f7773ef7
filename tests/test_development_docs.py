"""docs/development.md stays true to the code: it names every package and
top-level module of labledger, and lists the import layers in the order the
contract in ``.importlinter`` enforces them."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "platform" / "labledger"
PAGE = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = PAGE.index(f"## {title}\n")
    end = PAGE.find("\n## ", start + 1)
    return PAGE[start : end if end != -1 else None]


def test_every_package_and_top_level_module_has_its_row() -> None:
    names = sorted(
        f"`{p.name}/`" if p.is_dir() else f"`{p.name}`"
        for p in PACKAGE.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists())
        or (p.suffix == ".py" and p.name != "__init__.py")
    )
    where = _section("Where things live")
    assert [name for name in names if name not in where] == []


def test_every_module_named_in_a_package_row_exists() -> None:
    """A module renamed or moved must not leave its old name in the page."""
    where = _section("Where things live")
    for row in where.splitlines():
        found = re.match(r"\| `(\w+)/` \| (.*)", row)
        if not found:
            continue
        package, text = found.groups()
        for module in re.findall(r"`(\w+)\.py`", text):
            assert (PACKAGE / package / f"{module}.py").exists(), f"{package}/{module}.py"


def test_the_layers_are_listed_in_the_order_the_contract_enforces() -> None:
    contract = configparser.ConfigParser()
    contract.read(ROOT / ".importlinter")
    layers = contract["importlinter:contract:layers"]["layers"].split()
    modules = [m.removeprefix("labledger.") for m in layers if m.startswith("labledger.")]
    listed = re.findall(r"`([\w.]+)`", _section("The layers").split("From the top:")[1])
    assert listed[: len(modules)] == modules
