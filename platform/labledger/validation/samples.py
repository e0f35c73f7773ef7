"""A text that matches a field's pattern, made up from the pattern itself.

Field patterns are short (an identifier such as ``^[A-Z0-9][A-Z0-9-]{1,19}$``):
a value is built by walking the parsed pattern, choosing at random within each
character class and repeat, so that repeated values of a unique field differ.
What cannot be built that way (look-arounds, negated classes, back-references)
gives None, and the value is checked by the same engine that checks records.
"""

from __future__ import annotations

import random
import re
import re._parser as parser  # type: ignore[import-not-found]  # the standard library's parse
import string
from typing import Any

from labledger.metadata.patterns import PatternError, compile_pattern

#: How many characters a repeat adds beyond its minimum (where its maximum allows).
_EXTRA = 8
_CATEGORIES = {
    parser.CATEGORY_DIGIT: string.digits,
    parser.CATEGORY_WORD: string.ascii_letters + string.digits,
    parser.CATEGORY_SPACE: " ",
}


class _Unsupported(Exception):
    pass


def matching(pattern: str, tries: int = 5) -> str | None:
    """A value matching ``pattern`` (None: none could be made)."""
    try:
        parsed = parser.parse(pattern)
        checker = compile_pattern(pattern)
    except (re.error, PatternError, RecursionError):
        return None
    for _ in range(tries):
        try:
            text = _walk(list(parsed))
        except _Unsupported:
            return None
        if checker.search(text):
            return text
    return None


def _walk(items: list[tuple[Any, Any]]) -> str:
    return "".join(_one(op, arg) for op, arg in items)


def _one(op: Any, arg: Any) -> str:
    if op == parser.LITERAL:
        return chr(arg)
    if op == parser.ANY:
        return random.choice(string.ascii_letters)
    if op == parser.IN:
        return random.choice(_class(arg))
    if op in (parser.MAX_REPEAT, parser.MIN_REPEAT):
        low, high, sub = arg
        count = min(high, low + _EXTRA)  # long enough that repeated values differ
        return "".join(_walk(list(sub)) for _ in range(count))
    if op == parser.SUBPATTERN:
        return _walk(list(arg[-1]))
    if op == parser.BRANCH:
        return _walk(list(random.choice(arg[1])))
    if op == parser.AT:
        return ""
    raise _Unsupported(str(op))


def _class(items: list[tuple[Any, Any]]) -> str:
    """The characters a class allows (only the first 64 of a range)."""
    chars = ""
    for op, arg in items:
        if op == parser.LITERAL:
            chars += chr(arg)
        elif op == parser.RANGE:
            chars += "".join(chr(c) for c in range(arg[0], min(arg[1], arg[0] + 63) + 1))
        elif op == parser.CATEGORY and arg in _CATEGORIES:
            chars += _CATEGORIES[arg]
        else:
            raise _Unsupported(str(op))
    if not chars:
        raise _Unsupported("empty class")
    return chars
