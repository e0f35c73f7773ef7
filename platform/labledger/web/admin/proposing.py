"""Saving what an admin page made into a change request, while change control is on.

With change control on (EU GMP Annex 11 §10) no page publishes configuration
itself: the designers, the roles page and the mapping editor put the
definition into one of the admin's draft change requests, or open a new one
with a title and a reason given in the same form (``changes.service``
``put_item`` and ``propose``). With control off they publish directly, as
before. The page's form names the request in three inputs, ``change_request``
(a draft's number, empty for a new one), ``cr_title`` and ``cr_reason``,
named apart from the definition's own ``title``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection

from labledger.change_gate import control_setting
from labledger.changes import service
from labledger.changes.service import ProposedItem
from labledger.changes.store import ChangeRequest, ChangeSummary, Status, load, summaries
from labledger.db.engine import Database
from labledger.errors import FieldError, ServiceError, ValidationFailed
from labledger.identity.principal import Principal
from labledger.web.admin.common import Form, Problems

#: A path inside one item of a change request: ``items[2].body.fields[0].key``.
_ITEM_PATH = re.compile(r"^items\[(\d+)\]\.body(?:\.|$)")
#: The service's names of a request's title and reason, and the inputs that hold them.
_TEXT_INPUTS = {"title": "cr_title", "reason": "cr_reason"}
#: Where a refusal that names no input (not the author, not a draft) is shown.
TARGET_INPUT = "change_request"


@dataclass(frozen=True)
class ChangeTarget:
    """The change request a page saves into, as its form names it."""

    #: A draft's number; None opens a new request with ``title`` and ``reason``.
    change_id: int | None = None
    title: str = ""
    reason: str = ""

    @classmethod
    def of(cls, form: Form) -> ChangeTarget:
        chosen = form.text(TARGET_INPUT)
        return cls(
            int(chosen) if chosen.isdigit() else None,
            form.text("cr_title"),
            form.raw("cr_reason").strip(),
        )


@dataclass(frozen=True)
class ChangeControlView:
    """What a page that saves configuration shows of change control."""

    on: bool
    #: The admin's own drafts, newest first: where a definition may go.
    drafts: tuple[ChangeSummary, ...]
    target: ChangeTarget
    #: The request the definition was just saved into.
    saved: ChangeRequest | None = None


def control_on(db: Database) -> bool:
    with db.read() as conn:
        return control_setting(conn).enabled


def change_control_view(
    conn: Connection,
    principal: Principal,
    target: ChangeTarget | None = None,
    saved: ChangeRequest | None = None,
) -> ChangeControlView:
    """The page's view; after a save its form names the request saved into, so the
    next save goes there too."""
    drafts = tuple(s for s in summaries(conn, [Status.DRAFT]) if s.created_by == principal.username)
    if saved is not None:
        target = ChangeTarget(saved.id)
    elif target is None:
        target = ChangeTarget()
    return ChangeControlView(control_setting(conn).enabled, drafts, target, saved)


def save_to_change(
    db: Database, principal: Principal, target: ChangeTarget, item: ProposedItem
) -> ChangeRequest:
    """Put ``item`` into the chosen draft, or open a new request holding it.

    Problems come back as ``ValidationFailed`` with the paths of the page: the
    item's own (``fields[0].key``), ``cr_title``/``cr_reason``, or
    ``change_request`` for a refusal about the request itself (``Conflict``,
    ``Forbidden``, ``NotFound``).
    """
    position = 0
    try:
        with db.write() as conn:
            if target.change_id is None:
                return service.propose(
                    conn, principal, title=target.title, reason=target.reason, items=[item]
                )
            position = _position(conn, target.change_id, item)
            return service.put_item(conn, principal, target.change_id, item)
    except ValidationFailed as exc:
        exc.errors = [_placed(e, position) for e in exc.errors]
        raise
    except ServiceError as exc:
        raise ValidationFailed(exc.detail, [FieldError(TARGET_INPUT, exc.detail)]) from exc


def saved_message(change: ChangeRequest) -> str:
    return f"Saved to {change.label} ({change.title}): it takes effect once approved and activated."


def problems_of(exc: ServiceError) -> Problems:
    """A refusal as the problems a page lists (one without paths under ``change_request``)."""
    return Problems(exc.errors or [FieldError(TARGET_INPUT, exc.detail)])


def _position(conn: Connection, change_id: int, item: ProposedItem) -> int:
    """Where ``item`` sits in the request once put there (the end, when it is new)."""
    change = load(conn, change_id)
    found = change.item(item.kind, item.key)
    return found.position if found is not None else len(change.items)


def _placed(error: FieldError, position: int) -> FieldError:
    """An error at the page's own path: the saved item's paths lose their prefix."""
    if error.field in _TEXT_INPUTS:
        return FieldError(_TEXT_INPUTS[error.field], error.message)
    match = _ITEM_PATH.match(error.field)
    if match is None or int(match.group(1)) != position:
        return error
    return FieldError(error.field[match.end() :], error.message)
