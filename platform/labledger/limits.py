"""Bounds on untrusted input that the database or the decoders cannot take.

Ids and cursors are 64-bit integers in the database and configuration
versions 32-bit; a larger number makes the driver fail with an overflow.
Deeply nested JSON exhausts Python's recursion limit in every decoder and
validator. These bounds are checked where input arrives, so such input is a
bad request with a clear message, never a server error. ``docs/api.md``
("Limits") lists them.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

from labledger.errors import FieldError, ValidationFailed

#: The largest id, sequence number or cursor (a signed 64-bit integer).
INT64_MAX = 2**63 - 1
#: The largest configuration version or count (a signed 32-bit integer).
INT32_MAX = 2**31 - 1
#: How deeply arrays and objects may nest in a JSON body or document.
MAX_JSON_DEPTH = 64

#: A row id inside a decoded body (a struct member or a list item).
RowIdValue = Annotated[int, msgspec.Meta(ge=1, le=INT64_MAX)]

# A string literal (matched whole, so brackets inside text do not count) or a bracket.
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def check_json_depth(raw: bytes | str, where: str = "body") -> None:
    """Refuse JSON that nests arrays and objects deeper than ``MAX_JSON_DEPTH``.

    Measured on the text, before decoding, because decoding itself is what
    fails. Malformed JSON is left to the decoder to report.
    """
    data = raw.encode() if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH:
        return  # the common case: too few brackets to nest that deep
    depth = 0
    for token in _JSON_TOKENS.finditer(data):
        if token[0] in (b"[", b"{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                message = f"is nested too deeply (more than {MAX_JSON_DEPTH} levels)"
                raise ValidationFailed(
                    "The JSON is nested too deeply.", [FieldError(where, message)]
                )
        elif token[0] in (b"]", b"}"):
            depth -= 1
