"""What the page of one change request shows, and which of its steps the reader is offered.

The review in words and the impact on stored records are the service's
(``changes.review``); this module adds what only a page needs: for an item
whose active definition moved since it was proposed, both what the request
changes and what changed meanwhile, each against the version it was proposed
against; the impact, or why it cannot be worked out; and the buttons to draw
for the reader's role and the request's status. The service still decides
every step: a button shown here is no permission.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from labledger.changes.impact import TypeImpact
from labledger.changes.promotion import PROMOTABLE
from labledger.changes.review import Overtaken, Review, impact, overtaken, review
from labledger.changes.store import OPEN_STATUSES, ChangeRequest, Status, load
from labledger.changes.validation_runs import runs_of
from labledger.errors import ServiceError
from labledger.identity.principal import APPROVE_CONFIGURATION, CONFIGURE, Principal


@dataclass(frozen=True)
class ImpactView:
    """The request's impact on stored records, or why it could not be worked out."""

    types: tuple[TypeImpact, ...] = ()
    problem: ServiceError | None = None


@dataclass(frozen=True)
class Steps:
    """The steps the reader is offered now."""

    #: The author: change the title and reason, remove items, rebase.
    edit: bool
    withdraw: bool
    approve: bool
    reject: bool
    activate: bool
    #: Download the approved request as a bundle for another installation.
    export: bool
    #: The reader may approve configuration but proposed this request.
    own_request: bool


@dataclass(frozen=True)
class ChangePage:
    review: Review
    stale: tuple[Overtaken, ...]
    impact: ImpactView
    steps: Steps
    #: The recorded qualification runs of the proposed configuration.
    validation_runs: tuple[dict[str, Any], ...] = ()

    @property
    def change(self) -> ChangeRequest:
        return self.review.change


def change_page(conn: Connection, reader: Principal, change_id: int) -> ChangePage:
    """Everything the page of change request ``change_id`` shows to ``reader``."""
    found = review(conn, load(conn, change_id))
    change = found.change
    return ChangePage(
        review=found,
        stale=tuple(overtaken(conn, change, s) for s in found.stale),
        impact=_impact(conn, change),
        steps=_steps(reader, change),
        validation_runs=tuple(runs_of(conn, reader, change.label)),
    )


def _impact(conn: Connection, change: ChangeRequest) -> ImpactView:
    """The impact of an open request (an active or withdrawn one changes nothing now)."""
    if change.status not in OPEN_STATUSES:
        return ImpactView()
    try:
        return ImpactView(types=tuple(impact(conn, change)))
    except ServiceError as exc:  # a proposed definition that does not decode
        return ImpactView(problem=exc)


def _steps(reader: Principal, change: ChangeRequest) -> Steps:
    status = change.status
    author = change.created_by == reader.username
    configures = reader.has_permission(CONFIGURE)
    approves = reader.has_permission(APPROVE_CONFIGURATION)
    signed = any(a.signer == reader.username for a in change.valid_approvals)
    return Steps(
        edit=author and configures and status in (Status.DRAFT, Status.APPROVED),
        withdraw=author and configures and status in OPEN_STATUSES,
        approve=approves
        and not author
        and not signed
        and status == Status.DRAFT
        and bool(change.items),
        reject=approves and status in OPEN_STATUSES,
        activate=configures and status in (Status.APPROVED, Status.SCHEDULED),
        export=configures and status in PROMOTABLE,
        own_request=approves and author and status == Status.DRAFT,
    )
