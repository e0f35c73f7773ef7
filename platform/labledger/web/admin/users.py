"""Users and roles in the browser, through ``identity.users`` and ``identity.roles``.

Users are never deleted, only deactivated; a password an admin sets (on
creation or reset) is generated, shown once on the page that set it and must
be changed by its user before they can sign. Each action is a small form that
posts to the page itself, so the address stays the page's and the result
shows at the top. Roles are configuration: with change control on, saving one
puts it into a change request (``web.admin.proposing``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Controller, get, post
from litestar.response import Template

from labledger.bundles.resolve import ROLE_KIND
from labledger.changes.service import ProposedItem
from labledger.changes.store import ChangeRequest
from labledger.db.engine import Database
from labledger.errors import Conflict, FieldError, ValidationFailed
from labledger.identity.principal import CONFIGURE, MANAGE_USERS, SYSTEM_PERMISSIONS, Principal
from labledger.identity.roles import list_roles, save_role
from labledger.identity.sessions import WebSession
from labledger.identity.users import (
    create_user,
    list_users,
    reset_password,
    set_active,
    set_roles,
    unlock,
)
from labledger.settings import Settings
from labledger.web.admin.common import Form, FormBody, Problems, form_page, require_permission
from labledger.web.admin.proposing import (
    ChangeTarget,
    change_control_view,
    control_on,
    save_to_change,
    saved_message,
)

USERS = "Managing users"
ROLES = "Defining roles"


def _user_action(
    action: str, form: Form, principal: Principal, settings: Settings
) -> Callable[[Any], tuple[str, str | None]]:
    """The service call behind one form of the users page: returns (message, secret)."""
    username = form.text("username")

    def run(conn: Any) -> tuple[str, str | None]:
        if action == "create":
            password = create_user(
                conn,
                principal,
                username=username,
                full_name=form.text("full_name"),
                email=form.text("email"),
                roles=form.values("roles"),
                min_password_length=settings.password_min_length,
            )
            return f"User {username} was created.", password
        if action == "roles":
            set_roles(conn, principal, username, form.values("roles"))
            return f"The roles of {username} were saved.", None
        if action in ("activate", "deactivate"):
            set_active(conn, principal, username, action == "activate")
            return f"{username} was {action}d.", None
        if action == "unlock":
            unlock(conn, principal, username)
            return f"{username} was unlocked.", None
        if action == "reset":
            return f"The password of {username} was reset.", reset_password(
                conn, principal, username
            )
        raise ValidationFailed("Unknown action.", [FieldError("action", f"'{action}' is unknown")])

    return run


class UsersPagesController(Controller):
    path = "/admin"
    include_in_schema = False

    @get("/users", sync_to_thread=True)
    def users(self, session: WebSession, db: Database) -> Template:
        require_permission(session.principal, MANAGE_USERS, USERS)
        return self._users_page(session, db)

    @post("/users", sync_to_thread=True, status_code=200)
    def user_action(
        self, data: FormBody, session: WebSession, db: Database, settings: Settings
    ) -> Template:
        require_permission(session.principal, MANAGE_USERS, USERS)
        form = Form(data)
        action = form.text("action")
        run = _user_action(action, form, session.principal, settings)
        try:
            with db.write() as conn:
                message, secret = run(conn)
        except (ValidationFailed, Conflict) as exc:
            problems = Problems(exc.errors or [FieldError("username", exc.detail)])
            return self._users_page(
                session,
                db,
                status_code=exc.status,
                problems=problems,
                failed=action,
                failed_user=form.text("username"),
                detail=exc.detail,
                values={
                    "username": form.text("username"),
                    "full_name": form.text("full_name"),
                    "email": form.text("email"),
                    "roles": form.values("roles"),
                },
            )
        return self._users_page(
            session, db, message=message, secret=secret, secret_user=form.text("username")
        )

    def _users_page(
        self, session: WebSession, db: Database, *, status_code: int = 200, **context: Any
    ) -> Template:
        with db.read() as conn:
            users, roles = list_users(conn), list_roles(conn)
        return form_page(
            "admin/users.html",
            session,
            status_code,
            context,
            values={},
            users=users,
            roles=roles,
        )

    @get("/roles", sync_to_thread=True)
    def roles(self, session: WebSession, db: Database) -> Template:
        require_permission(session.principal, CONFIGURE, ROLES)
        return self._roles_page(session, db)

    @post("/roles", sync_to_thread=True, status_code=200)
    def save(self, data: FormBody, session: WebSession, db: Database) -> Template:
        """Create a role, or change one (its key stays); with change control on, save it
        into a change request instead."""
        require_permission(session.principal, CONFIGURE, ROLES)
        form = Form(data)
        key = form.text("key")
        definition = {
            "key": key,
            "label": form.text("label"),
            "description": form.text("description"),
            "permissions": form.values("permissions"),
        }
        target = ChangeTarget.of(form)
        saved = None
        try:
            if control_on(db):
                item = ProposedItem(ROLE_KIND, key, definition)
                saved = save_to_change(db, session.principal, target, item)
                message = saved_message(saved)
            else:
                with db.write() as conn:
                    changed = save_role(conn, session.principal, definition)
                message = f"Role {key} was saved." if changed else "Nothing changed."
        except ValidationFailed as exc:
            return self._roles_page(
                session,
                db,
                status_code=422,
                problems=Problems(exc.errors),
                values=definition,
                target=target,
            )
        return self._roles_page(session, db, message=message, saved=saved)

    def _roles_page(
        self,
        session: WebSession,
        db: Database,
        *,
        status_code: int = 200,
        target: ChangeTarget | None = None,
        saved: ChangeRequest | None = None,
        **context: Any,
    ) -> Template:
        with db.read() as conn:
            roles = list_roles(conn)
            change_control = change_control_view(conn, session.principal, target, saved)
        return form_page(
            "admin/roles.html",
            session,
            status_code,
            context,
            values={},
            roles=roles,
            permissions=SYSTEM_PERMISSIONS,
            change_control=change_control,
        )
