"""Canonical JSON: one byte string per value, whichever database stored it.

Audit hashes and signature hashes are computed over this form. Keys are
sorted and the output is compact UTF-8, so the same content always hashes the
same; the subtle part is numbers. SQLite keeps JSON as text and gives back the
float that was written; JSONB on PostgreSQL stores the *decimal text* a float
was written as (``6.02214076e+23``) exactly and gives it back as the integer
``602214076000000000000000``, keeps ``1.0`` as a float and turns ``-0.0`` into
``0``. So every number is written by its exact decimal value: a float is read
as the shortest decimal that round-trips it (what ``json.dumps`` writes and
what PostgreSQL keeps), an integral value becomes its integer digits, and
anything else stays the float Python prints. Both databases then give back
byte-identical canonical forms.

Version 1 (before this rule) wrote an integral float as ``int(value)``, which
for floats past 2**53 is not the decimal PostgreSQL keeps. Audit events
remember which version hashed them, so chains written then still verify.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec

#: The canonical form new hashes use (see the module docstring).
CANONICAL_VERSION = 2

#: Types written as they are; checked first because nearly every value is one of them.
_AS_IS = frozenset({str, int, bool, type(None)})


def _float_v2(value: float) -> int | float:
    """A float by its exact decimal value: integral ones as integer digits."""
    if not math.isfinite(value):
        raise ValueError("NaN and infinities have no canonical form")
    if not value.is_integer():
        return value
    return int(Decimal(repr(value))) if abs(value) >= 2**53 else int(value)


def _float_v1(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def _normaliser(number: Any) -> Any:
    def normalise(value: Any) -> Any:
        if type(value) in _AS_IS:
            return value
        if isinstance(value, float):
            return number(value)
        if isinstance(value, dict):
            return {str(k): normalise(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [normalise(v) for v in value]
        if isinstance(value, datetime):
            return iso_utc(value)
        return value

    return normalise


_NORMALISERS = {1: _normaliser(_float_v1), 2: _normaliser(_float_v2)}


def canonical_json(value: Any, version: int = CANONICAL_VERSION) -> bytes:
    """Serialise ``value`` canonically (sorted keys, compact, UTF-8), in form ``version``."""
    return json.dumps(
        _NORMALISERS[version](value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


#: Sorted, compact, UTF-8: for plain JSON values without floats, byte for byte what
#: ``canonical_json`` writes (strings, integers of any size, keys, nesting).
_PLAIN_ENCODER = msgspec.json.Encoder(order="sorted")


class _FloatFound(Exception):
    pass


def _float_as_written(text: str) -> float:
    """A float of msgspec's output if the canonical form writes it the same way: a
    fraction that Python prints as msgspec did. Otherwise the exact path must write it
    (an integral float, which the canonical form writes as integer digits, or a number
    msgspec writes in another notation, ``0.00001`` for ``1e-05``)."""
    value = float(text)
    if value.is_integer() or repr(value) != text:
        raise _FloatFound
    return value


#: Reads encoded JSON back only to learn whether it holds a float written otherwise
#: than the canonical form would (stops at the first).
_FLOAT_CHECKER = msgspec.json.Decoder(float_hook=_float_as_written)


def canonical_json_of_plain(value: Any) -> bytes:
    """``canonical_json(value)`` for values read from JSON (no datetimes), fast.

    Verifying a million audit events hashes a million such values, and a
    result import hashes a record holding a measured value per row. msgspec's
    sorted encoding is byte-identical to the canonical form at a fraction of
    the cost, except for floats it writes in another notation (``1e-7`` for
    ``1e-07``) and integral floats (``2.0``, which the canonical form writes
    as ``2``): a value holding one of those takes the exact path.
    """
    raw = _PLAIN_ENCODER.encode(value)
    try:
        _FLOAT_CHECKER.decode(raw)
    except (_FloatFound, msgspec.ValidationError):
        return canonical_json(value)
    return raw


def plain_content_hash(value: Any) -> str:
    """``content_hash(value)`` for values read from JSON (no datetimes), fast."""
    return sha256_hex(canonical_json_of_plain(value))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_hash(value: Any, version: int = CANONICAL_VERSION) -> str:
    """SHA-256 of the canonical form of ``value``."""
    return sha256_hex(canonical_json(value, version))


def iso_utc(moment: datetime) -> str:
    """A UTC timestamp with microseconds, e.g. ``2026-11-21T09:30:00.000123Z``."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
