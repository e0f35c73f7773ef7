"""Request bodies of the API, as msgspec structs (decoded and checked by Litestar)."""

from __future__ import annotations

from typing import Any

import msgspec


class RecordWrite(msgspec.Struct, forbid_unknown_fields=True):
    """Create or update a record: field values and, where needed, the reason for change."""

    data: dict[str, Any]
    reason: str | None = None


class SignaturePayload(msgspec.Struct, forbid_unknown_fields=True):
    """The signer's credentials, re-entered for every signature.

    Both are required: an API call has no signing session. The username is
    optional here only so that leaving it out gets a field-level problem
    (``signature.username``) from the workflow service, not a parse error.
    """

    password: str
    username: str | None = None


class TransitionWrite(msgspec.Struct, forbid_unknown_fields=True):
    """Run a transition: an optional reason, and the signature where one is required."""

    reason: str | None = None
    signature: SignaturePayload | None = None
