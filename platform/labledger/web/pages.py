"""Rendering a page: the template, the signed-in user and what every page needs."""

from __future__ import annotations

from typing import Any

from litestar.response import Template

from labledger.changes.service import READERS
from labledger.identity.principal import CONFIGURE, MANAGE_USERS, READ_AUDIT
from labledger.identity.sessions import WebSession


def page(
    template: str, session: WebSession | None = None, *, status_code: int = 200, **context: Any
) -> Template:
    """A full page (or an htmx fragment) rendered with the common context."""
    principal = session.principal if session else None
    common = {
        "user": principal,
        "can_configure": bool(principal and principal.has_permission(CONFIGURE)),
        "can_manage_users": bool(principal and principal.has_permission(MANAGE_USERS)),
        "can_read_audit": bool(principal and principal.has_permission(READ_AUDIT)),
        "can_read_changes": bool(principal and any(principal.has_permission(p) for p in READERS)),
    }
    return Template(template_name=template, context={**common, **context}, status_code=status_code)
