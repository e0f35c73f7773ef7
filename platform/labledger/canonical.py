"""Canonical JSON: one byte string per value, whichever database stored it.

Audit hashes and signature hashes are computed over this form. JSONB on
PostgreSQL gives back ``1e20`` as an integer and keeps ``1.0`` as a float, so
integral floats are written as integers here; keys are sorted and the output
is compact UTF-8, so the same content always hashes the same.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

#: Types written as they are; checked first because nearly every value is one of them.
_AS_IS = frozenset({str, int, bool, type(None)})


def _normalise(value: Any) -> Any:
    if type(value) in _AS_IS:
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    if isinstance(value, datetime):
        return iso_utc(value)
    return value


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` canonically (sorted keys, compact, UTF-8)."""
    return json.dumps(
        _normalise(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_hash(value: Any) -> str:
    """SHA-256 of the canonical form of ``value``."""
    return sha256_hex(canonical_json(value))


def iso_utc(moment: datetime) -> str:
    """A UTC timestamp with microseconds, e.g. ``2026-11-21T09:30:00.000123Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
