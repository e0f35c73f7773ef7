"""What the integration pages share: errors that belong to no input of a form, and
definitions shown for editing."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from labledger.errors import FieldError
from labledger.web.admin.common import Problems


def root(path: str) -> str:
    """The input a JSON path starts at: ``types[2]`` -> ``types``, ``unit.expected`` -> ``unit``."""
    return path.split(".", 1)[0].split("[", 1)[0]


def unplaced(problems: Problems, inputs: Iterable[str]) -> list[FieldError]:
    """The errors about none of ``inputs``, to show above the form rather than beside an input."""
    known = set(inputs)
    return [e for e in problems.errors if root(e.field) not in known]


def pretty_json(value: Any) -> str:
    """A definition as people read and edit it: two-space indent, keys in their order."""
    return json.dumps(value, ensure_ascii=False, indent=2)
