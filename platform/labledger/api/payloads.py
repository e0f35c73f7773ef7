"""Request bodies of the API, as msgspec structs (decoded and checked by Litestar)."""

from __future__ import annotations

from typing import Any

import msgspec


class RecordWrite(msgspec.Struct, forbid_unknown_fields=True):
    """Create or update a record: field values and, where needed, the reason for change."""

    data: dict[str, Any]
    reason: str | None = None
