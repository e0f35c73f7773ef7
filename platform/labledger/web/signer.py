"""The signer's side of an electronic signature in the browser, shared by every dialog.

A signing dialog (a record's transition, a change request's approval) reads
the same two components from its form and hands the service the same kind of
signing session; once a signature with username and password succeeded, the
browser session remembers it (21 CFR 11.200(a)(1)(i): later signatures in it
ask for the password only). Then the dialog leaves for the page it names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response
from litestar.response import Redirect

from labledger.db.engine import Database
from labledger.identity.sessions import WebSession, mark_signed_in_session
from labledger.web.forms import first
from labledger.web.fragments import htmx_redirect, is_htmx
from labledger.workflows.signing import SignatureInput, SigningSession


@dataclass(frozen=True)
class BrowserSignature:
    """The components a dialog's form gave, and the session they were given in."""

    #: As typed, normalised (shown again when the signature is refused).
    username: str
    credentials: SignatureInput
    session: SigningSession


def browser_signature(form: Mapping[str, Any], session: WebSession) -> BrowserSignature:
    username = first(form, "username").strip().lower()
    return BrowserSignature(
        username,
        SignatureInput(username, first(form, "password")),
        SigningSession(signed_before=session.signed_in_session),
    )


def remember_signing(db: Database, session: WebSession) -> None:
    """After a signature with username and password: later ones in this session need only
    the password."""
    if not session.signed_in_session:
        with db.write() as conn:
            mark_signed_in_session(conn, session)


def signed(
    db: Database, request: Request[Any, Any, Any], session: WebSession, target: str
) -> Response[Any]:
    """After a signature: the session remembers it, and the dialog goes to ``target``."""
    remember_signing(db, session)
    return htmx_redirect(target) if is_htmx(request) else Redirect(target, status_code=303)
