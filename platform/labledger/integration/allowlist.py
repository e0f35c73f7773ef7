"""Where webhooks may send requests: nowhere, unless the installation says so.

A webhook URL is chosen by an admin through the API, so without a limit it
could make the server call internal addresses (cloud metadata services,
databases' HTTP ports, admin consoles). ``LABLEDGER_WEBHOOK_ALLOWLIST`` lists,
comma-separated, what is allowed:

- ``host`` or ``host:port`` — that host (on any port, or on that port only),
  over http or https; IPv6 addresses in brackets (``[::1]:8080``);
- a URL prefix such as ``https://hooks.example.com/labledger/`` — URLs with
  that scheme, host and port whose path starts with that path.

The list is checked when a subscription is saved and again before every
delivery (a URL removed from the list stops receiving). Redirects are never
followed, so an allowed host cannot forward a delivery elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from labledger.errors import FieldError, ValidationFailed
from labledger.settings import WEBHOOK_ALLOWLIST_ENV, Settings

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _port(parts: SplitResult) -> int | None:
    try:
        return parts.port
    except ValueError:
        raise ValueError("has a port that is not a number from 0 to 65535") from None


@dataclass(frozen=True)
class _Entry:
    host: str
    port: int | None
    #: Set for URL prefixes: the scheme and the path the URL must start with.
    scheme: str | None = None
    path: str = ""

    @classmethod
    def parse(cls, text: str) -> _Entry:
        if "://" in text:
            parts = urlsplit(text)
            if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
                raise ValueError("is not an http(s) URL prefix")
            port = _port(parts) or _DEFAULT_PORTS[parts.scheme]
            return cls(parts.hostname, port, parts.scheme, parts.path or "/")
        parts = urlsplit("//" + text)
        if not parts.hostname or parts.path or parts.query or parts.username:
            raise ValueError("is not host, host:port or a URL prefix")
        return cls(parts.hostname, _port(parts))

    def allows(self, scheme: str, host: str, port: int, path: str) -> bool:
        if host != self.host or (self.port is not None and port != self.port):
            return False
        if self.scheme is None:
            return True
        if scheme != self.scheme:
            return False
        prefix = self.path
        return path.startswith(prefix) or (prefix.endswith("/") and path == prefix[:-1])


@dataclass(frozen=True)
class Allowlist:
    """The parsed allowlist; empty allows nothing."""

    entries: tuple[_Entry, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Allowlist:
        entries, errors = [], []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            try:
                entries.append(_Entry.parse(item))
            except ValueError as exc:
                errors.append(FieldError(WEBHOOK_ALLOWLIST_ENV, f"'{item}' {exc}"))
        if errors:
            raise ValidationFailed("The webhook allowlist is misconfigured.", errors)
        return cls(tuple(entries))

    @classmethod
    def from_settings(cls, settings: Settings) -> Allowlist:
        """The installation's allowlist (``Settings.webhook_allowlist``)."""
        return cls.parse(settings.webhook_allowlist)

    def problem(self, url: str) -> str | None:
        """Why ``url`` may not be called, or None when it may."""
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            return "must be an http:// or https:// URL"
        if parts.username or parts.password:
            return "must not carry a user name or password"
        try:
            port = _port(parts) or _DEFAULT_PORTS[parts.scheme]
        except ValueError as exc:
            return str(exc)
        if not any(e.allows(parts.scheme, parts.hostname, port, parts.path) for e in self.entries):
            return (
                f"is not in the webhook allowlist ({WEBHOOK_ALLOWLIST_ENV}); an administrator of "
                "the server must allow its host first"
            )
        return None
