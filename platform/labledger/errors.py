"""The errors every service raises, independent of HTML or JSON.

Services raise these; the API turns them into RFC 9457 problem documents and
the web UI into messages next to fields. Keeping them here means both front
ends report the same thing for the same mistake.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class FieldError:
    """One problem with one input location (a field key or a JSON path)."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass
class ServiceError(Exception):
    """Base of all expected failures: a person can act on the message.

    Each kind names its HTTP status and problem title in its class line
    (``class NotFound(ServiceError, status=404, title="Not found")``), so the
    API reports every kind the same way without a table to keep in step.
    """

    detail: str
    errors: list[FieldError] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"

    def __init_subclass__(
        cls, *, status: int | None = None, title: str | None = None, **kwargs: Any
    ) -> None:
        """Set the kind's status and title; a subclass of a kind keeps its parent's."""
        super().__init_subclass__(**kwargs)
        cls.status = status or cls.status
        cls.title = title or cls.title

    def __str__(self) -> str:
        if not self.errors:
            return self.detail
        lines = [self.detail] + [f"  {e.field}: {e.message}" for e in self.errors]
        return "\n".join(lines)


class ValidationFailed(ServiceError, status=422, title="Validation failed"):
    """Input that breaks a rule; ``errors`` names each field or JSON path at fault."""


class NotFound(ServiceError, status=404, title="Not found"):
    """The user, record, type or other thing named does not exist."""


class Forbidden(ServiceError, status=403, title="Forbidden"):
    """The caller is known but lacks the permission, role or state the action needs."""


class Unauthorized(ServiceError, status=401, title="Authentication required"):
    """No credentials, or credentials that do not prove anyone."""


class Conflict(ServiceError, status=409, title="Conflict"):
    """The action clashes with what is stored now: a taken name, a record changed meanwhile."""


class TooManyRequests(ServiceError, status=429, title="Too many requests"):
    """Too many refused attempts from one address or for one account; ``retry_after`` seconds."""

    @property
    def retry_after(self) -> int:
        return int(self.extra.get("retry_after", 60))


class PreconditionRequired(ServiceError, status=428, title="Precondition required"):
    """A change sent without the version it was based on (``If-Match``)."""


class PayloadTooLarge(ServiceError, status=413, title="Payload too large"):
    """A body or file larger than the limit set for it."""


class UnsupportedMediaType(ServiceError, status=415, title="Unsupported media type"):
    """A body sent with a media type its endpoint does not decode (JSON as text/plain)."""


class WritesSuspended(ServiceError, status=503, title="Changes cannot be recorded"):
    """The installation cannot record changes safely (its audit chain tip is damaged)."""


class Unavailable(ServiceError, status=503, title="Not available here"):
    """This installation cannot do what was asked (a library it needs is missing)."""


class NotAcceptable(ServiceError, status=406, title="Not acceptable"):
    """The client asked (``Accept``) for a representation this endpoint cannot give."""
