"""Who may sign, and with which components (21 CFR 11.200(a)).

A signature always needs the signer's password. The username is needed too
on the first signing of a continuous session; a browser session remembers
that it has signed, so later signatures in it ask for the password only. An
API call has no signing session, so every signature over the API needs both.
The front ends only tell the service which kind of session they have; the
rule is decided here, once.

The password check runs in a transaction of its own: a wrong password must
be audited and counted toward lockout even though the step it was for is
refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from labledger.db.engine import Database
from labledger.errors import FieldError, Forbidden, TooManyRequests, ValidationFailed
from labledger.identity.principal import Principal
from labledger.identity.users import check_password
from labledger.workflows.refusals import BLOCKED_BY


@dataclass(frozen=True)
class SignatureInput:
    username: str
    password: str


@dataclass(frozen=True)
class SigningSession:
    """A continuous session in which the signer is known (a browser session).

    ``signed_before`` is true once a signature with username and password was
    given in it. Callers without such a session (the API) pass None.
    """

    signed_before: bool


def _missing_components(
    credentials: SignatureInput | None, session: SigningSession | None
) -> list[FieldError]:
    """The signature components the signer has yet to give, password first."""
    errors = []
    if credentials is None or not credentials.password:
        errors.append(FieldError("signature.password", "enter your password to sign"))
    needs_username = session is None or not session.signed_before
    if needs_username and (credentials is None or not credentials.username):
        errors.append(FieldError("signature.username", "enter your username"))
    return errors


def _missing_message(errors: list[FieldError], session: SigningSession | None) -> str:
    if not any(e.field == "signature.username" for e in errors):
        return "This step needs your electronic signature."
    if session is None:
        return (
            "A signature over the API needs your username and your password "
            "(an API call has no signing session)."
        )
    return (
        "This is your first signature since you signed in: enter your username and your password."
    )


def verify_signer(
    db: Database,
    actor: Principal,
    credentials: SignatureInput | None,
    *,
    session: SigningSession | None,
    throttled: bool = False,
) -> Principal:
    """The signer, once every component required now is given and the password is right.

    When ``throttled``, refused signatures are counted per signer against the
    installation's rate limits (``identity.throttle``); over the limit the
    password is not checked and the step is refused with 429.
    """
    errors = _missing_components(credentials, session)
    if errors or credentials is None:
        raise ValidationFailed(
            _missing_message(errors, session), errors, {BLOCKED_BY: ["signature"]}
        )
    if credentials.username and credentials.username != actor.username:
        raise Forbidden("You can only sign with your own account.", extra={BLOCKED_BY: ["signer"]})
    with db.write() as conn:
        check = check_password(
            conn,
            actor.username,
            credentials.password,
            purpose="signature",
            throttled=throttled,
        )
    if check.retry_after is not None:
        raise TooManyRequests(
            f"Signature refused: {check.message}",
            extra={BLOCKED_BY: ["password"], "retry_after": check.retry_after},
        )
    if check.principal is None:
        raise Forbidden(f"Signature refused: {check.message}", extra={BLOCKED_BY: ["password"]})
    if check.principal.must_change_password:
        raise Forbidden(
            "Change your one-time password before signing anything.",
            extra={BLOCKED_BY: ["one_time_password"]},
        )
    return check.principal
