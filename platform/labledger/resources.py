"""Find the platform's data folders (metadata/, workflows/, ui/, seeds/).

In a checkout they sit at the repository root, beside ``platform/``; in an
installed wheel they are packaged as ``labledger/_data/``. Everything that reads
them goes through :func:`data_path` so the program behaves the same either way.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_CANDIDATES = (_PACKAGE_DIR / "_data", _PACKAGE_DIR.parent.parent)


def data_path(*parts: str) -> Path:
    """Return the path of a shipped data file or folder, e.g. ``data_path("seeds")``."""
    for root in _CANDIDATES:
        candidate = root.joinpath(*parts)
        if candidate.exists():
            return candidate
    raise FileNotFoundError("shipped data not found: " + "/".join(parts))
