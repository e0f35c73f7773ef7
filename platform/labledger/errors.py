"""The errors every service raises, independent of HTML or JSON.

Services raise these; the API turns them into RFC 9457 problem documents and
the web UI into messages next to fields. Keeping them here means both front
ends report the same thing for the same mistake.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FieldError:
    """One problem with one input location (a field key or a JSON path)."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass
class ServiceError(Exception):
    """Base of all expected failures: a person can act on the message."""

    detail: str
    errors: list[FieldError] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    status = 400
    title = "Bad request"

    def __str__(self) -> str:
        if not self.errors:
            return self.detail
        lines = [self.detail] + [f"  {e.field}: {e.message}" for e in self.errors]
        return "\n".join(lines)


class ValidationFailed(ServiceError):
    status = 422
    title = "Validation failed"


class NotFound(ServiceError):
    status = 404
    title = "Not found"


class Forbidden(ServiceError):
    status = 403
    title = "Forbidden"


class Unauthorized(ServiceError):
    status = 401
    title = "Authentication required"


class Conflict(ServiceError):
    status = 409
    title = "Conflict"


class TooManyRequests(ServiceError):
    """Too many refused attempts from one address or for one account; ``retry_after`` seconds."""

    status = 429
    title = "Too many requests"

    @property
    def retry_after(self) -> int:
        return int(self.extra.get("retry_after", 60))


class PreconditionRequired(ServiceError):
    status = 428
    title = "Precondition required"


class PayloadTooLarge(ServiceError):
    status = 413
    title = "Payload too large"


class UnsupportedMediaType(ServiceError):
    """A body sent with a media type its endpoint does not decode (JSON as text/plain)."""

    status = 415
    title = "Unsupported media type"


class WritesSuspended(ServiceError):
    """The installation cannot record changes safely (its audit chain tip is damaged)."""

    status = 503
    title = "Changes cannot be recorded"
