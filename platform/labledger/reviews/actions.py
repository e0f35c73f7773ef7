"""The audit actions each review section reads, named where the events are written.

Actions that have a constant where they are written are imported from there;
the identity services name theirs inline (``identity.users``), so their names
are listed here once.
"""

from __future__ import annotations

from labledger.audit.verify import VERIFY_ACTION
from labledger.bundles.apply import IMPORT_ACTION
from labledger.change_gate import APPROVE_ACTION, CHANGE_ACTION_PREFIX, CONTROL_ACTION
from labledger.identity.reset_notice import CHANGE, FAILED_ATTEMPTS, RESET, SIGN_IN
from labledger.identity.roles import ROLE_SAVE_ACTION
from labledger.metadata.publishing import PUBLISH_ACTION
from labledger.workflows.refusals import SIGN_REFUSED, TRANSITION_REFUSED
from labledger.workflows.signatures import SIGN_ACTION

LOCK = "user.lock"
RATE_LIMITED = "rate_limit.exceeded"
USER_CREATE, USER_ROLES = "user.create", "user.roles"
USER_ACTIVATE, USER_DEACTIVATE, USER_UNLOCK = "user.activate", "user.deactivate", "user.unlock"
TOKEN_CREATE, TOKEN_REVOKE = "token.create", "token.revoke"

#: Definitions published or imported, roles saved (besides every ``change.*`` event).
CONFIGURATION = (PUBLISH_ACTION, IMPORT_ACTION, ROLE_SAVE_ACTION, CONTROL_ACTION)
#: Attempts that were refused: steps, signatures, sign-ins, rate limits, and the lockouts.
REFUSALS = (TRANSITION_REFUSED, SIGN_REFUSED, *FAILED_ATTEMPTS, RATE_LIMITED, LOCK)
#: Electronic signatures: on records, and approvals of change requests.
SIGNATURES = (SIGN_ACTION, APPROVE_ACTION)
#: Accounts, their roles, passwords set by an administrator, and API tokens.
ACCOUNTS = (
    USER_CREATE,
    USER_ROLES,
    USER_ACTIVATE,
    USER_DEACTIVATE,
    USER_UNLOCK,
    RESET,
    TOKEN_CREATE,
    TOKEN_REVOKE,
)
#: A person's own password change ends what an administrator's reset began.
PASSWORD_CHANGE = CHANGE

__all__ = [
    "ACCOUNTS",
    "CHANGE_ACTION_PREFIX",
    "CONFIGURATION",
    "PASSWORD_CHANGE",
    "REFUSALS",
    "RESET",
    "SIGNATURES",
    "SIGN_IN",
    "TOKEN_CREATE",
    "TOKEN_REVOKE",
    "VERIFY_ACTION",
]
