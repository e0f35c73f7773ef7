"""Who a ``labledger`` command acts as, when what it does is a person's act.

Administration commands act as the system, but an import or a step of change
control is a person's act, recorded under their name: the person proves who
they are with one of their API tokens in ``LABLEDGER_TOKEN`` or their password
typed at a terminal prompt. Without either the command acts as the command
line itself, which holds the roles but no system permission.
"""

from __future__ import annotations

import getpass
import sys

from labledger.cli_support import CliError
from labledger.db.engine import Database
from labledger.identity.principal import Principal, command_line_principal
from labledger.identity.roles import existing_role_keys
from labledger.identity.tokens import note_token_use, principal_for_token, token_digest
from labledger.identity.users import check_password
from labledger.settings import TOKEN_ENV


def acting_user(db: Database, username: str | None) -> Principal:
    """Who a command acts as: a person proven by their credentials, or the command line."""
    token = db.settings.api_token
    if token:
        with db.read() as conn:
            principal = principal_for_token(conn, token)
        if principal is None:
            raise CliError(f"{TOKEN_ENV} is not a valid API token of an active, unlocked user.")
        if username and principal.username != username:
            raise CliError(f"{TOKEN_ENV} belongs to '{principal.username}', not to '{username}'.")
        note_token_use(db, token_digest(token))
        return principal
    if not username:
        with db.read() as conn:
            return command_line_principal(existing_role_keys(conn))
    return person_by_password(db, username)


def person_by_password(db: Database, username: str) -> Principal:
    """The person ``username``, once they typed their password (checked and audited as a login)."""
    if not sys.stdin.isatty():
        raise CliError(
            f"Acting as '{username}' needs their credentials: set {TOKEN_ENV} to one of their "
            "API tokens, or run the command in a terminal to type their password."
        )
    password = getpass.getpass(f"Password of {username}: ")
    with db.write() as conn:
        check = check_password(conn, username, password)
    if check.principal is None:
        raise CliError(check.message)
    if check.principal.must_change_password:
        raise CliError(
            f"'{username}' has a one-time password: sign in to the web application and choose "
            "your own first."
        )
    return check.principal
