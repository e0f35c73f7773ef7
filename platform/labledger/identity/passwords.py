"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from labledger.errors import FieldError, ValidationFailed

_hasher = PasswordHasher()  # argon2id with the library's current recommended cost

#: A hash of a random password, verified against when the user does not exist so
#: that "no such user" and "wrong password" take the same time.
_DUMMY_HASH = _hasher.hash("labledger-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; never raises for a wrong password."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def check_policy(password: str, *, username: str, min_length: int, field: str = "password") -> None:
    """Refuse passwords that are short, blank-padded or contain the username."""
    problems = []
    if len(password) < min_length:
        problems.append(f"must be at least {min_length} characters long")
    if password != password.strip():
        problems.append("must not start or end with a space")
    if username and username.lower() in password.lower():
        problems.append("must not contain the username")
    if problems:
        raise ValidationFailed(
            "The password does not meet the policy.",
            [FieldError(field, "; ".join(problems))],
        )
