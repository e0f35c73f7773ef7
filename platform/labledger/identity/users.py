"""User accounts: creation, roles, passwords, lockout and deactivation.

Users are never deleted and usernames never reused, so every audit entry
keeps naming exactly one person. Admin-set passwords are one-time: the user
must choose their own before signing anything, so an admin who knows the
initial password cannot sign as that user.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, FromClause, delete, func, insert, select, update

from labledger.audit.trail import AuditEntry, append
from labledger.db.engine import settings_of
from labledger.db.jsonfields import NUL_MESSAGE, nul_paths
from labledger.db.tables import app_user, role, user_role, web_session
from labledger.db.types import utc_now
from labledger.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from labledger.identity.passwords import check_policy, hash_password, verify_password
from labledger.identity.principal import MANAGE_USERS, Principal
from labledger.identity.throttle import admit, bounded, counters, give_back
from labledger.identity.token_cache import forget_identities

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


@dataclass(frozen=True)
class PasswordCheck:
    """The outcome of checking a password, to be committed before acting on it.

    Failed attempts must be recorded even though the request fails, so the
    check returns instead of raising; the caller commits, then refuses.
    """

    principal: Principal | None
    message: str = ""
    #: Seconds to wait before trying again, when a rate limit refused the attempt.
    retry_after: int | None = None


def _require(actor: Principal, permission: str, what: str) -> None:
    if not actor.has_permission(permission):
        raise Forbidden(f"{what} needs the '{permission}' permission.")


def _user_row(conn: Connection, username: str) -> Any:
    row = conn.execute(select(app_user).where(app_user.c.username == username)).mappings().first()
    if row is None:
        raise NotFound(f"There is no user '{username}'.")
    return row


def _build_principal(user: Any, roles: list[tuple[str, list[str]]]) -> Principal:
    return Principal(
        id=user["id"],
        username=user["username"],
        full_name=user["full_name"],
        roles=frozenset(key for key, _ in roles),
        permissions=frozenset(p for _, permissions in roles for p in permissions),
        must_change_password=user["must_change_password"],
    )


def _principal(conn: Connection, row: Any) -> Principal:
    roles = conn.execute(
        select(role.c.key, role.c.permissions)
        .join(user_role, user_role.c.role_key == role.c.key)
        .where(user_role.c.user_id == row["id"])
    ).all()
    return _build_principal(row, [(r.key, r.permissions) for r in roles])


def principal_where(
    conn: Connection, *conditions: Any, source: FromClause = app_user
) -> Principal | None:
    """The active user ``conditions`` pick, with their roles, in one query, or None.

    ``source`` is ``app_user`` or a join onto it (a token or a session row),
    so that every authenticated request costs one statement.
    """
    rows = (
        conn.execute(
            select(
                app_user.c.id,
                app_user.c.username,
                app_user.c.full_name,
                app_user.c.active,
                app_user.c.locked_at,
                app_user.c.must_change_password,
                role.c.key.label("role_key"),
                role.c.permissions.label("role_permissions"),
            )
            .select_from(
                source.outerjoin(user_role, user_role.c.user_id == app_user.c.id).outerjoin(
                    role, role.c.key == user_role.c.role_key
                )
            )
            .where(*conditions)
        )
        .mappings()
        .all()
    )
    if not rows or not rows[0]["active"] or rows[0]["locked_at"] is not None:
        return None
    roles = [(r["role_key"], r["role_permissions"]) for r in rows if r["role_key"] is not None]
    return _build_principal(rows[0], roles)


def load_principal(conn: Connection, user_id: int) -> Principal | None:
    """The active user with ``user_id`` as a principal, or None."""
    return principal_where(conn, app_user.c.id == user_id)


def get_user(conn: Connection, username: str) -> dict[str, Any]:
    row = _user_row(conn, username)
    return _public(conn, row)


def _public(conn: Connection, row: Any) -> dict[str, Any]:
    roles = sorted(
        conn.execute(select(user_role.c.role_key).where(user_role.c.user_id == row["id"])).scalars()
    )
    return {
        "username": row["username"],
        "full_name": row["full_name"],
        "email": row["email"],
        "active": row["active"],
        "locked": row["locked_at"] is not None,
        "must_change_password": row["must_change_password"],
        "roles": roles,
        "created_at": row["created_at"],
    }


def list_users(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(app_user).order_by(app_user.c.username)).mappings().all()
    return [_public(conn, r) for r in rows]


def _check_roles(conn: Connection, roles: list[str]) -> None:
    known = set(conn.execute(select(role.c.key).where(role.c.key.in_(roles))).scalars())
    unknown = sorted(set(roles) - known)
    if unknown:
        raise ValidationFailed(
            "Unknown role.", [FieldError("roles", f"no such role: {', '.join(unknown)}")]
        )


def create_user(
    conn: Connection,
    actor: Principal,
    *,
    username: str,
    full_name: str,
    email: str = "",
    roles: list[str] | None = None,
    password: str | None = None,
    min_password_length: int = 10,
    one_time: bool = True,
) -> str:
    """Create a user; returns the password (generated when none is given).

    ``one_time`` marks an admin-chosen password that must be changed before
    the user can sign.
    """
    _require(actor, MANAGE_USERS, "Creating users")
    roles = sorted(set(roles or []))
    errors = []
    if not USERNAME.match(username):
        errors.append(
            FieldError("username", "use 2-64 lower-case letters, digits, '.', '_' or '-'")
        )
    if not full_name.strip():
        errors.append(
            FieldError("full_name", "the full name is required (it prints on signatures)")
        )
    for name, text in (("full_name", full_name), ("email", email)):
        if nul_paths(text):
            errors.append(FieldError(name, NUL_MESSAGE))
    if errors:
        raise ValidationFailed("The user is not valid.", errors)
    taken = conn.execute(
        select(func.count()).select_from(app_user).where(app_user.c.username == username)
    ).scalar_one()
    if taken:
        raise Conflict(f"The username '{username}' is taken (usernames are never reused).")
    _check_roles(conn, roles)
    if password is None:
        password = secrets.token_urlsafe(12)
    else:
        check_policy(password, username=username, min_length=min_password_length)
    now = utc_now()
    user_id = conn.execute(
        insert(app_user)
        .values(
            username=username,
            full_name=full_name.strip(),
            email=email.strip(),
            password_hash=hash_password(password),
            active=True,
            must_change_password=one_time,
            password_changed_at=now,
            failed_attempts=0,
            created_at=now,
            created_by=actor.username,
        )
        .returning(app_user.c.id)
    ).scalar_one()
    if roles:
        conn.execute(insert(user_role), [{"user_id": user_id, "role_key": r} for r in roles])
    _audit(
        conn,
        actor,
        "user.create",
        username,
        {
            "full_name": {"old": None, "new": full_name.strip()},
            "email": {"old": None, "new": email.strip()},
            "roles": {"old": None, "new": roles},
        },
    )
    return password


def _audit(
    conn: Connection,
    actor: Principal | str,
    action: str,
    username: str,
    changes: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    # A failed login names whatever was typed; callers pass it through ``bounded``,
    # and the actor column holds 64 characters.
    name = (actor if isinstance(actor, str) else actor.username)[:64]
    forget_identities()  # every change to a user is audited here
    append(
        conn,
        [
            AuditEntry(
                actor=name,
                action=action,
                changes=changes,
                reason=reason,
                details={"user": username},
                outbox_kind=action if action.startswith("user.") else None,
                outbox_payload={"user": username},
            )
        ],
    )


def set_roles(conn: Connection, actor: Principal, username: str, roles: list[str]) -> None:
    _require(actor, MANAGE_USERS, "Assigning roles")
    row = _user_row(conn, username)
    roles = sorted(set(roles))
    _check_roles(conn, roles)
    old = sorted(
        conn.execute(select(user_role.c.role_key).where(user_role.c.user_id == row["id"])).scalars()
    )
    if old == roles:
        return
    conn.execute(delete(user_role).where(user_role.c.user_id == row["id"]))
    if roles:
        conn.execute(insert(user_role), [{"user_id": row["id"], "role_key": r} for r in roles])
    _audit(conn, actor, "user.roles", username, {"roles": {"old": old, "new": roles}})


def set_active(conn: Connection, actor: Principal, username: str, active: bool) -> None:
    """Deactivate (or reactivate) a user; users are never deleted."""
    _require(actor, MANAGE_USERS, "Deactivating users")
    row = _user_row(conn, username)
    if username == actor.username and not active:
        raise Conflict("You cannot deactivate your own account.")
    if row["active"] == active:
        return
    conn.execute(update(app_user).where(app_user.c.id == row["id"]).values(active=active))
    action = "user.activate" if active else "user.deactivate"
    _audit(conn, actor, action, username, {"active": {"old": row["active"], "new": active}})


def unlock(conn: Connection, actor: Principal, username: str) -> None:
    """Lift a lockout after failed attempts (an audited admin action)."""
    _require(actor, MANAGE_USERS, "Unlocking users")
    row = _user_row(conn, username)
    if row["locked_at"] is None and row["failed_attempts"] == 0:
        return
    conn.execute(
        update(app_user).where(app_user.c.id == row["id"]).values(locked_at=None, failed_attempts=0)
    )
    _audit(conn, actor, "user.unlock", username, {"locked": {"old": True, "new": False}})


def reset_password(
    conn: Connection, actor: Principal, username: str, password: str | None = None
) -> str:
    """An admin sets a new one-time password and ends all the user's sessions; returns it.

    Whoever held the old password (the reason for a reset, often) is signed
    out everywhere at once.
    """
    _require(actor, MANAGE_USERS, "Resetting passwords")
    row = _user_row(conn, username)
    password = password or secrets.token_urlsafe(12)
    _store_password(conn, row["id"], password, one_time=True)
    _audit(conn, actor, "user.password_reset", username)
    _end_sessions(conn, actor, row["id"], username, reason="password reset")
    return password


def change_own_password(
    conn: Connection,
    username: str,
    old_password: str,
    new_password: str,
    min_length: int,
    *,
    keep_session: str | None = None,
) -> None:
    """The user replaces their password (required after an admin set it, or once it expired).

    Every other session of the user ends, so a session opened by someone who
    knew the old password does not outlive it; ``keep_session`` is the token
    hash of the session the change was made in, which stays signed in.
    """
    row = _user_row(conn, username)
    if not verify_password(row["password_hash"], old_password):
        raise ValidationFailed(
            "The current password is wrong.", [FieldError("old_password", "wrong password")]
        )
    check_policy(
        new_password,
        username=username,
        min_length=min_length,
        field="new_password",
        current=old_password,
    )
    _store_password(conn, row["id"], new_password, one_time=False)
    _audit(conn, username, "user.password_change", username)
    _end_sessions(conn, username, row["id"], username, "password changed", keep_session)


def _store_password(conn: Connection, user_id: int, password: str, *, one_time: bool) -> None:
    """Replace a user's password hash; a ``one_time`` one must be changed before signing."""
    conn.execute(
        update(app_user)
        .where(app_user.c.id == user_id)
        .values(
            password_hash=hash_password(password),
            must_change_password=one_time,
            password_changed_at=utc_now(),
        )
    )


def _end_sessions(
    conn: Connection,
    actor: Principal | str,
    user_id: int,
    username: str,
    reason: str,
    keep_session: str | None = None,
) -> None:
    """End the user's open browser sessions but ``keep_session``, one audited revocation each."""
    conditions = [web_session.c.user_id == user_id, web_session.c.ended_at.is_(None)]
    if keep_session is not None:
        conditions.append(web_session.c.token_hash != keep_session)
    ended = conn.execute(
        update(web_session)
        .where(*conditions)
        .values(ended_at=utc_now())
        .returning(web_session.c.token_hash)
    ).all()
    for _ in ended:
        _audit(conn, actor, "session.revoked", username, reason=reason)


def expire_password_if_due(conn: Connection, principal: Principal, max_age_days: int) -> Principal:
    """Force a change of a password older than ``max_age_days`` (0: passwords never expire).

    Called at sign-in (21 CFR 11.300(b): passwords are revised periodically).
    An expired password puts the account in the same state as a one-time
    password: the user must choose a new one before doing anything else or
    signing. The change is stored on the account and audited, so it holds
    for every session and every worker.
    """
    if max_age_days <= 0 or principal.must_change_password:
        return principal
    row = _user_row(conn, principal.username)
    changed_at = row["password_changed_at"] or row["created_at"]
    if utc_now() - changed_at < timedelta(days=max_age_days):
        return principal
    conn.execute(
        update(app_user).where(app_user.c.id == row["id"]).values(must_change_password=True)
    )
    _audit(
        conn,
        "system",
        "user.password_expired",
        principal.username,
        {"must_change_password": {"old": False, "new": True}},
        reason=f"password older than {max_age_days} days",
    )
    return replace(principal, must_change_password=True)


def _equalise_timing(password: str) -> None:
    """Verify against a dummy hash, so a refusal takes as long as a wrong password.

    Without it an unknown, locked or deactivated account answers in a few
    milliseconds instead of a hash verification's time, which tells an
    attacker the account's state.
    """
    verify_password(None, password)


def _account(conn: Connection, username: str, *, for_update: bool = False) -> Any:
    """The user row for a typed name, or None; a name no account can have is not looked up."""
    if not USERNAME.match(username):
        return None
    query = select(app_user).where(app_user.c.username == username)
    return conn.execute(query.with_for_update() if for_update else query).mappings().first()


def _account_to_check(conn: Connection, username: str) -> Any:
    """The user row, locked until the transaction ends when its password is to be checked.

    Concurrent checks for one user queue on that lock, so each reads the
    failure count and lock the previous one wrote: the lockout threshold is
    exact however many guesses arrive at once. Accounts that will be refused
    anyway (unknown, deactivated, locked) are read without the lock, so their
    slow dummy verification does not hold up anyone.
    """
    row = _account(conn, username)
    if row is None or not row["active"] or row["locked_at"] is not None:
        return row
    return _account(conn, username, for_update=True)


def _count_failure(conn: Connection, row: Any, lockout_threshold: int, purpose: str) -> str:
    """Record a wrong password (and the lock it may cause); returns the message to show."""
    username = row["username"]
    failures = conn.execute(
        update(app_user)
        .where(app_user.c.id == row["id"])
        .values(failed_attempts=app_user.c.failed_attempts + 1)
        .returning(app_user.c.failed_attempts)
    ).scalar_one()
    _audit(conn, username, f"{purpose}.failed", username, reason="wrong password")
    if failures < lockout_threshold:
        return "Invalid username or password."
    conn.execute(update(app_user).where(app_user.c.id == row["id"]).values(locked_at=utc_now()))
    _audit(
        conn,
        "system",
        "user.lock",
        username,
        {"locked": {"old": False, "new": True}},
        reason=f"{failures} failed attempts",
    )
    return "Too many failed attempts: the account is now locked."


def check_password(
    conn: Connection,
    username: str,
    password: str,
    *,
    purpose: str = "login",
    throttled: bool = False,
    client: str | None = None,
) -> PasswordCheck:
    """Check a username and password for a login or a signature.

    Failures are audited and counted; at the installation's lockout threshold
    (``settings_of``) failures in a row the account locks until an admin
    unlocks it. A success resets the count. When ``throttled`` (an attempt
    from outside: a browser or an API call), attempts are first counted per
    ``client`` address and per account against the installation's rate limits
    (``identity.throttle``); over a limit the password is not checked and the
    result carries the seconds to wait. What was typed as the username is
    stored in the audit trail only in part (``throttle.bounded``).
    """
    settings = settings_of(conn)
    limits = settings.rate_limits
    found = counters(limits, purpose, address=client, account=username) if throttled else []
    wait = admit(conn, limits, found) if throttled else None
    if wait is not None:
        return PasswordCheck(
            None, f"Too many failed attempts: try again in {wait} seconds.", retry_after=wait
        )
    typed = bounded(username)
    row = _account_to_check(conn, username)
    if row is None:
        _equalise_timing(password)
        _audit(conn, typed or "(blank)", f"{purpose}.failed", typed, reason="unknown user")
        return PasswordCheck(None, "Invalid username or password.")
    if not row["active"]:
        _equalise_timing(password)
        _audit(conn, username, f"{purpose}.refused", username, reason="account deactivated")
        return PasswordCheck(None, "This account is deactivated.")
    if row["locked_at"] is not None:
        _equalise_timing(password)
        _audit(conn, username, f"{purpose}.refused", username, reason="account locked")
        return PasswordCheck(None, "This account is locked. Ask an administrator to unlock it.")
    if not verify_password(row["password_hash"], password):
        return PasswordCheck(None, _count_failure(conn, row, settings.lockout_threshold, purpose))
    give_back(conn, found)
    if row["failed_attempts"]:
        conn.execute(update(app_user).where(app_user.c.id == row["id"]).values(failed_attempts=0))
    if purpose == "login":
        _audit(conn, username, "login", username)
    return PasswordCheck(_principal(conn, row))
