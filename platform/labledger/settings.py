"""Run-time settings, read once from the environment.

Every setting has a safe default so that ``labledger init`` and ``labledger
serve`` work with no configuration at all (SQLite in the working directory).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

#: The variables whose names the messages about their limits and credentials quote.
BUNDLE_MAX_BYTES_ENV = "LABLEDGER_BUNDLE_MAX_BYTES"
IMPORT_MAX_BYTES_ENV = "LABLEDGER_IMPORT_MAX_BYTES"
WEBHOOK_ALLOWLIST_ENV = "LABLEDGER_WEBHOOK_ALLOWLIST"
TOKEN_ENV = "LABLEDGER_TOKEN"  # noqa: S105 - a variable's name, not a secret
DB_POOL_SIZE_ENV = "LABLEDGER_DB_POOL_SIZE"


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {raw!r}") from None


def _positive_env(name: str, default: int, unit: str) -> int:
    """A positive count of ``unit``: unset or blank gives ``default``; anything but a
    positive whole number stops the program, naming the variable."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"{name} must be a positive whole number of {unit}, not {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class RateLimits:
    """How many refused attempts a client address or an account may make per window.

    Both limits sit below the default lockout threshold, so that within one
    window nobody can lock an account out, neither from one address nor by
    naming the account from many (``identity.throttle``).
    """

    #: Length of one counting window, in seconds.
    window_seconds: int = 60
    #: Refused sign-ins, signatures or API tokens from one client address per window.
    per_address: int = 4
    #: Refused sign-ins or signatures naming one account per window.
    per_account: int = 4


@dataclass(frozen=True)
class Settings:
    """What the platform needs to know about its surroundings."""

    database_url: str = "sqlite:///labledger.db"
    #: Largest attachment accepted when a field sets no smaller limit (bytes).
    attachment_max_bytes: int = 25 * 1024 * 1024
    #: Largest configuration bundle accepted, over HTTP or from a file (bytes).
    bundle_max_bytes: int = 10 * 1024 * 1024
    #: Largest file an import mapping accepts, whatever the mapping allows (bytes).
    import_max_bytes: int = 64 * 1024 * 1024
    #: Where webhooks may send requests (``integration.allowlist``; empty: nowhere).
    webhook_allowlist: str = ""
    #: The API token of the person a command-line import acts for (``integration.cli``).
    api_token: str | None = field(default=None, repr=False)
    #: Largest JSON request body accepted by the API (bytes).
    request_max_bytes: int = 32 * 1024 * 1024
    #: Minutes of inactivity after which a browser session ends.
    session_idle_minutes: int = 15
    #: Failed logins or signings in a row that lock an account.
    lockout_threshold: int = 5
    #: Refused attempts allowed per client address and per account (then 429).
    rate_limits: RateLimits = field(default_factory=RateLimits)
    #: Minimum length of a user-chosen password.
    password_min_length: int = 10
    #: Days after which a password expires and must be changed at sign-in (0: never).
    password_max_age_days: int = 0
    #: Mark cookies Secure even on requests that arrive as plain HTTP (an untrusted proxy).
    secure_cookies: bool = False
    #: Addresses whose X-Forwarded-Proto/-For headers ``labledger serve`` believes
    #: (comma-separated addresses or networks, ``*`` for any).
    trusted_proxies: str = "127.0.0.1"
    #: Largest page a list request may ask for.
    max_page_size: int = 500
    #: Passwords ``labledger db roles`` gives the owner and runtime roles (never shown).
    db_owner_password: str | None = field(default=None, repr=False)
    db_runtime_password: str | None = field(default=None, repr=False)
    #: PostgreSQL: connections each of a worker's two pools keeps open; under load each
    #: opens as many again, so a worker uses at most four times this many.
    db_pool_size: int = 10
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Build settings from ``LABLEDGER_*`` environment variables."""
        values: dict[str, object] = {
            "database_url": os.environ.get("LABLEDGER_DATABASE_URL") or cls.database_url,
            "attachment_max_bytes": _int_env(
                "LABLEDGER_ATTACHMENT_MAX_BYTES", cls.attachment_max_bytes
            ),
            "bundle_max_bytes": _positive_env(BUNDLE_MAX_BYTES_ENV, cls.bundle_max_bytes, "bytes"),
            "import_max_bytes": _positive_env(IMPORT_MAX_BYTES_ENV, cls.import_max_bytes, "bytes"),
            "webhook_allowlist": os.environ.get(WEBHOOK_ALLOWLIST_ENV, ""),
            "api_token": os.environ.get(TOKEN_ENV, "").strip() or None,
            "session_idle_minutes": _int_env(
                "LABLEDGER_SESSION_IDLE_MINUTES", cls.session_idle_minutes
            ),
            "lockout_threshold": _int_env("LABLEDGER_LOCKOUT_THRESHOLD", cls.lockout_threshold),
            "password_max_age_days": _int_env(
                "LABLEDGER_PASSWORD_MAX_AGE_DAYS", cls.password_max_age_days
            ),
            "rate_limits": RateLimits(
                window_seconds=_int_env(
                    "LABLEDGER_RATE_LIMIT_WINDOW_SECONDS", RateLimits.window_seconds
                ),
                per_address=_int_env("LABLEDGER_RATE_LIMIT_PER_ADDRESS", RateLimits.per_address),
                per_account=_int_env("LABLEDGER_RATE_LIMIT_PER_ACCOUNT", RateLimits.per_account),
            ),
            "secure_cookies": os.environ.get("LABLEDGER_SECURE_COOKIES", "").lower()
            in ("1", "true", "yes"),
            "trusted_proxies": os.environ.get("LABLEDGER_TRUSTED_PROXIES") or cls.trusted_proxies,
            "db_owner_password": os.environ.get("LABLEDGER_DB_OWNER_PASSWORD") or None,
            "db_runtime_password": os.environ.get("LABLEDGER_DB_RUNTIME_PASSWORD") or None,
            "db_pool_size": _positive_env(DB_POOL_SIZE_ENV, cls.db_pool_size, "connections"),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
