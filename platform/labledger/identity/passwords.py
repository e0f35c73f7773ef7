"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path

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


#: Longest password accepted: room for any passphrase, yet no megabyte-sized input to hash.
MAX_PASSWORD_LENGTH = 256

_COMMON_PASSWORDS = Path(__file__).parent / "common_passwords" / "common-passwords.txt.gz"


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (lower-case), read once per process.

    The list and its source and licence are described in
    ``common_passwords/README.md`` beside this module.
    """
    with gzip.open(_COMMON_PASSWORDS, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


def check_policy(
    password: str,
    *,
    username: str,
    min_length: int,
    field: str = "password",
    current: str | None = None,
) -> None:
    """Refuse passwords an attacker would guess first, or that cannot be handled sanely.

    Refused: too short or longer than :data:`MAX_PASSWORD_LENGTH`, blank-padded,
    containing the username, on the shipped list of common passwords, or equal
    to ``current`` (the password being replaced). Every problem is reported at
    once, under ``field``.
    """
    problems = []
    if len(password) < min_length:
        problems.append(f"must be at least {min_length} characters long")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"must be at most {MAX_PASSWORD_LENGTH} characters long")
    if password != password.strip():
        problems.append("must not start or end with a space")
    if username and username.lower() in password.lower():
        problems.append("must not contain the username")
    if password.lower() in common_passwords():
        problems.append("is one of the most common passwords; choose one that is hard to guess")
    if current is not None and password == current:
        problems.append("must differ from the current password")
    if problems:
        raise ValidationFailed(
            "The password does not meet the policy.",
            [FieldError(field, "; ".join(problems))],
        )
