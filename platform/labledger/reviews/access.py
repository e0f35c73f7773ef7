"""The access review: who can do what, who has not used their access, and red flags.

It lists every user with their roles, whether they are active or locked,
their last sign-in and the age of their password; every API token with its
last use; the active accounts unused for a number of days; and every case
of a password set by an administrator followed by a signature of that user
before they chose their own password (whoever set it could have signed).

The last sign-in is read from the audit trail (the ``login`` events, hash
chained and append-only), not from browser sessions, which end and are
tidied away. A review also keeps a *snapshot* (users, their roles and
state, tokens) and its hash, so the next review can say what changed since
the last signed one (``reviews.store``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from labledger.canonical import plain_content_hash
from labledger.db.tables import api_token, app_user, audit_event, user_role
from labledger.db.types import utc_now
from labledger.errors import FieldError, ValidationFailed
from labledger.reviews import actions
from labledger.reviews.tables import MAX_ROWS, Table, moment_text

#: Accounts unused for this many days are listed, unless asked otherwise.
UNUSED_DAYS = 90
#: The longest "unused" window one may ask for: ten years.
MAX_UNUSED_DAYS = 3650
#: Events the search for resets followed by signatures reads per round trip.
_BATCH = 1000


@dataclass(frozen=True)
class Account:
    username: str
    full_name: str
    active: bool
    locked: bool
    roles: tuple[str, ...]
    created_at: datetime
    password_changed_at: datetime | None
    last_sign_in: datetime | None
    #: The latest use of any of the user's API tokens.
    last_token_use: datetime | None

    @property
    def last_activity(self) -> datetime | None:
        known = [m for m in (self.last_sign_in, self.last_token_use) if m is not None]
        return max(known) if known else None


@dataclass(frozen=True)
class Token:
    username: str
    prefix: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class ResetThenSigned:
    """An administrator set ``username``'s password, and ``username`` signed before changing it."""

    username: str
    reset_by: str
    reset_at: datetime
    signed_at: datetime
    meaning: str
    signed_what: str


@dataclass(frozen=True)
class Change:
    what: str
    username: str
    detail: str


@dataclass
class AccessReview:
    made_at: datetime
    unused_days: int
    accounts: list[Account]
    tokens: list[Token]
    flags: list[ResetThenSigned]
    #: The number of the last signed review compared with (None: there is none).
    compared_with: str | None = None
    #: What changed since ``compared_with``; a sentence instead when it cannot be told.
    changes: list[Change] = field(default_factory=list)
    comparison_note: str = ""

    @property
    def title(self) -> str:
        return "Access review"

    @property
    def facts(self) -> list[tuple[str, str]]:
        return [
            ("Made", f"{moment_text(self.made_at)} UTC"),
            ("Users", f"{len(self.accounts)} ({sum(a.active for a in self.accounts)} active)"),
            (
                "API tokens",
                f"{len(self.tokens)} ({sum(t.revoked_at is None for t in self.tokens)}"
                " not revoked)",
            ),
            ("Snapshot (SHA-256 of its canonical form)", self.snapshot_hash),
            ("Compared with", self.compared_with or "no signed access review yet"),
        ]

    @property
    def unused(self) -> list[Account]:
        """Active accounts with no sign-in or token use in ``unused_days`` (counting from
        when they were created, for accounts never used)."""
        since = self.made_at - timedelta(days=self.unused_days)
        return [a for a in self.accounts if a.active and (a.last_activity or a.created_at) < since]

    @property
    def snapshot(self) -> dict[str, Any]:
        """What the next review compares with: users, their state and roles, and tokens."""
        return {
            "users": {
                a.username: {"active": a.active, "locked": a.locked, "roles": list(a.roles)}
                for a in self.accounts
            },
            "tokens": {
                t.prefix: {"user": t.username, "name": t.name, "revoked": t.revoked_at is not None}
                for t in self.tokens
            },
        }

    @property
    def snapshot_hash(self) -> str:
        return plain_content_hash(self.snapshot)

    def compare(self, number: str, earlier: dict[str, Any]) -> None:
        """Say what changed since the snapshot ``earlier`` of the signed review ``number``."""
        self.compared_with = number
        self.changes = changes_since(earlier, self.snapshot)

    @property
    def tables(self) -> list[Table]:
        now = self.made_at
        return [
            _table(
                "users",
                "Users and their roles",
                "Every account (accounts are never deleted). Password age in days.",
                (
                    "User",
                    "Name",
                    "Roles",
                    "Active",
                    "Locked",
                    "Last sign-in (UTC)",
                    "Password age (days)",
                ),
                [
                    (
                        a.username,
                        a.full_name,
                        ", ".join(a.roles),
                        _yes(a.active),
                        _yes(a.locked),
                        moment_text(a.last_sign_in) or "never",
                        str((now - (a.password_changed_at or a.created_at)).days),
                    )
                    for a in self.accounts
                ],
            ),
            _table(
                "tokens",
                "API tokens",
                "Every API token; its last use is recorded to within a few minutes.",
                ("User", "Token", "Name", "Created (UTC)", "Revoked (UTC)", "Last used (UTC)"),
                [
                    (
                        t.username,
                        t.prefix,
                        t.name,
                        moment_text(t.created_at),
                        moment_text(t.revoked_at),
                        moment_text(t.last_used_at) or "never",
                    )
                    for t in self.tokens
                ],
            ),
            _table(
                "unused",
                f"Active accounts unused for {self.unused_days} days",
                "No sign-in and no API token use since "
                f"{moment_text(now - timedelta(days=self.unused_days))} UTC.",
                ("User", "Name", "Created (UTC)", "Last sign-in or token use (UTC)"),
                [
                    (
                        a.username,
                        a.full_name,
                        moment_text(a.created_at),
                        moment_text(a.last_activity) or "never",
                    )
                    for a in self.unused
                ],
            ),
            _table(
                "reset_then_signed",
                "Passwords set by an administrator, followed by a signature",
                "The user signed while the password an administrator had set was still theirs "
                "(before they changed it themselves).",
                ("User", "Password set by", "Set at (UTC)", "Signed at (UTC)", "Meaning", "Signed"),
                [
                    (
                        f.username,
                        f.reset_by,
                        moment_text(f.reset_at),
                        moment_text(f.signed_at),
                        f.meaning,
                        f.signed_what,
                    )
                    for f in self.flags
                ],
            ),
            _table(
                "changes",
                "Changes since the last signed access review"
                + (f" ({self.compared_with})" if self.compared_with else ""),
                self.comparison_note
                or (
                    "Users added, removed, deactivated or reactivated, locked or unlocked; role "
                    "grants added and removed; API tokens created and revoked."
                ),
                ("Change", "User", "Detail"),
                [(c.what, c.username, c.detail) for c in self.changes],
            ),
        ]


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _table(
    key: str, title: str, note: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]
) -> Table:
    return Table(key, title, note, columns, rows[:MAX_ROWS], len(rows))


def checked_unused_days(value: int) -> int:
    if not 1 <= value <= MAX_UNUSED_DAYS:
        raise ValidationFailed(
            "The number of days is not valid.",
            [FieldError("unused_days", f"give a number of days from 1 to {MAX_UNUSED_DAYS}")],
        )
    return value


def access_review(conn: Connection, unused_days: int = UNUSED_DAYS) -> AccessReview:
    """The access review as of now (accounts and tokens are few: they are all read)."""
    unused_days = checked_unused_days(unused_days)
    tokens = _tokens(conn)
    last_token_use: dict[str, datetime] = {}
    for t in tokens:
        if t.last_used_at and (
            t.username not in last_token_use or t.last_used_at > last_token_use[t.username]
        ):
            last_token_use[t.username] = t.last_used_at
    return AccessReview(
        made_at=utc_now(),
        unused_days=unused_days,
        accounts=_accounts(conn, last_token_use),
        tokens=tokens,
        flags=resets_then_signed(conn),
    )


def _accounts(conn: Connection, last_token_use: dict[str, datetime]) -> list[Account]:
    roles: dict[int, list[str]] = {}
    for user_id, key in conn.execute(
        select(user_role.c.user_id, user_role.c.role_key).order_by(user_role.c.role_key)
    ):
        roles.setdefault(user_id, []).append(key)
    rows = conn.execute(select(app_user).order_by(app_user.c.username)).mappings().all()
    return [
        Account(
            username=r["username"],
            full_name=r["full_name"],
            active=r["active"],
            locked=r["locked_at"] is not None,
            roles=tuple(roles.get(r["id"], ())),
            created_at=r["created_at"],
            password_changed_at=r["password_changed_at"],
            last_sign_in=_last_sign_in(conn, r["username"]),
            last_token_use=last_token_use.get(r["username"]),
        )
        for r in rows
    ]


def _last_sign_in(conn: Connection, username: str) -> datetime | None:
    """The user's latest sign-in: the index on (actor, seq) read backwards to the first."""
    moment: datetime | None = conn.execute(
        select(audit_event.c.occurred_at)
        .where(audit_event.c.actor == username, audit_event.c.action == actions.SIGN_IN)
        .order_by(audit_event.c.seq.desc())
        .limit(1)
    ).scalar()
    return moment


def _tokens(conn: Connection) -> list[Token]:
    rows = conn.execute(
        select(
            app_user.c.username,
            api_token.c.prefix,
            api_token.c.name,
            api_token.c.created_at,
            api_token.c.revoked_at,
            api_token.c.last_used_at,
        )
        .join(app_user, app_user.c.id == api_token.c.user_id)
        .order_by(app_user.c.username, api_token.c.id)
    ).all()
    return [Token(*row) for row in rows]


def resets_then_signed(conn: Connection) -> list[ResetThenSigned]:
    """Every administrator's password reset followed by a signature of its user before the
    user changed the password.

    The trail's password and signature events are read in order, in batches
    (``stream_results``), keeping only the open reset of each user: memory
    grows with the number of users, not of events.
    """
    wanted = (actions.RESET, actions.PASSWORD_CHANGE, *actions.SIGNATURES)
    rows = conn.execution_options(stream_results=True, yield_per=_BATCH).execute(
        select(
            audit_event.c.occurred_at,
            audit_event.c.actor,
            audit_event.c.action,
            audit_event.c.record_number,
            audit_event.c.details,
        )
        .where(audit_event.c.action.in_(wanted))
        .order_by(audit_event.c.seq)
    )
    return list(_flags(rows))


def _flags(rows: Iterable[Any]) -> Iterable[ResetThenSigned]:
    open_resets: dict[str, tuple[str, datetime]] = {}
    for occurred_at, actor, action, number, details in rows:
        details = details if isinstance(details, dict) else {}
        if action == actions.RESET and isinstance(details.get("user"), str):
            open_resets[details["user"]] = (actor, occurred_at)
        elif action == actions.PASSWORD_CHANGE:
            open_resets.pop(actor, None)
        elif actor in open_resets:
            reset_by, reset_at = open_resets.pop(actor)
            what = number or (
                f"CR-{details['change_request']}" if "change_request" in details else ""
            )
            yield ResetThenSigned(
                actor, reset_by, reset_at, occurred_at, str(details.get("meaning", "")), what
            )


def changes_since(earlier: dict[str, Any], now: dict[str, Any]) -> list[Change]:
    """What differs between two snapshots (``AccessReview.snapshot``), user by user."""
    found: list[Change] = []
    before, after = earlier.get("users", {}), now.get("users", {})
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old is None:
            found.append(Change("user added", name, "roles: " + ", ".join(new["roles"])))
            continue
        if new is None:
            found.append(Change("user removed", name, ""))
            continue
        for flag, yes, no in (
            ("active", "reactivated", "deactivated"),
            ("locked", "locked", "unlocked"),
        ):
            if old.get(flag) != new.get(flag):
                found.append(Change(f"user {yes if new.get(flag) else no}", name, ""))
        granted = sorted(set(new["roles"]) - set(old.get("roles", ())))
        removed = sorted(set(old.get("roles", ())) - set(new["roles"]))
        found += [Change("role granted", name, r) for r in granted]
        found += [Change("role removed", name, r) for r in removed]
    tokens_before, tokens_after = earlier.get("tokens", {}), now.get("tokens", {})
    for prefix in sorted(set(tokens_before) | set(tokens_after)):
        old, new = tokens_before.get(prefix), tokens_after.get(prefix)
        if old is None and new is not None:
            found.append(Change("token created", new["user"], f"{prefix} ({new['name']})"))
            if new["revoked"]:
                found.append(Change("token revoked", new["user"], prefix))
        elif new is not None and new["revoked"] and not old.get("revoked"):
            found.append(Change("token revoked", new["user"], prefix))
    return found
