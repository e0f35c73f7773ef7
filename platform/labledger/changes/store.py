"""Change requests as stored: their rows, items and approvals, and the hash approvers sign.

The service (``changes.service``) decides what may happen to a change
request; this module only reads and writes it, so that every step stores a
request the same way and keeps ``content_hash`` true to its items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from labledger.audit.results import change_content
from labledger.db.tables import change_approval, change_request, change_request_item
from labledger.errors import NotFound

#: The item kind of a whole bundle import, activated through the bundle importer.
BUNDLE_ITEM = "bundle"


class Status(StrEnum):
    """Where a change request is in the procedure."""

    #: Being written by its author, or sent back by a reviewer; not yet enough approvals.
    DRAFT = "draft"
    #: Signed by enough approvers; can be activated.
    APPROVED = "approved"
    #: Approved, and to be activated at ``activate_at``.
    SCHEDULED = "scheduled"
    #: Its definitions are in force.
    ACTIVE = "active"
    #: Given up by its author; kept for the record.
    WITHDRAWN = "withdrawn"


#: Statuses in which a change request still waits for something.
OPEN_STATUSES = (Status.DRAFT, Status.APPROVED, Status.SCHEDULED)


@dataclass(frozen=True)
class ChangeItem:
    """One proposed definition, with the active one it was proposed against."""

    kind: str
    key: str
    position: int
    #: The active version when proposed (None: a new item, a role or a bundle).
    base_version: int | None
    #: Hash of the active definition when proposed (None: none existed).
    base_hash: str | None
    body: dict[str, Any]

    def signed_part(self) -> tuple[str, str, int | None, str | None, Any]:
        return (self.kind, self.key, self.base_version, self.base_hash, self.body)


@dataclass(frozen=True)
class Approval:
    """An approver's electronic signature of one content of a change request."""

    id: int
    signer: str
    printed_name: str
    meaning: str
    signed_at: datetime
    content_hash: str
    audit_seq: int


@dataclass(frozen=True)
class ChangeRequest:
    """A change request with its items and approvals."""

    id: int
    title: str
    reason: str
    status: Status
    content_hash: str
    origin: dict[str, Any] | None
    rejection: str | None
    activate_at: datetime | None
    activated_at: datetime | None
    activated_by: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    items: tuple[ChangeItem, ...]
    approvals: tuple[Approval, ...]

    @property
    def label(self) -> str:
        """How people name it: "CR-12"."""
        return f"CR-{self.id}"

    @property
    def valid_approvals(self) -> tuple[Approval, ...]:
        """Approvals of the content as it is now (an edit after signing voids a signature)."""
        return tuple(a for a in self.approvals if a.content_hash == self.content_hash)

    def item(self, kind: str, key: str) -> ChangeItem | None:
        return next((i for i in self.items if i.kind == kind and i.key == key), None)


@dataclass(frozen=True)
class ChangeSummary:
    """A change request as a list shows it."""

    id: int
    title: str
    status: Status
    created_by: str
    updated_at: datetime
    items: int
    approvals: int


def content_hash_of(
    title: str, reason: str, origin: dict[str, Any] | None, items: Sequence[ChangeItem]
) -> str:
    return change_content(title, reason, origin, [item.signed_part() for item in items])


def load(conn: Connection, change_id: int, *, for_update: bool = False) -> ChangeRequest:
    """The change request numbered ``change_id`` (``for_update``: locked until commit)."""
    query = select(change_request).where(change_request.c.id == change_id)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound(f"There is no change request CR-{change_id}.")
    items = conn.execute(
        select(change_request_item)
        .where(change_request_item.c.change_request_id == change_id)
        .order_by(change_request_item.c.position)
    ).mappings()
    approvals = conn.execute(
        select(change_approval)
        .where(change_approval.c.change_request_id == change_id)
        .order_by(change_approval.c.id)
    ).mappings()
    return ChangeRequest(
        id=row["id"],
        title=row["title"],
        reason=row["reason"],
        status=Status(row["status"]),
        content_hash=row["content_hash"],
        origin=row["origin"],
        rejection=row["rejection"],
        activate_at=row["activate_at"],
        activated_at=row["activated_at"],
        activated_by=row["activated_by"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
        items=tuple(
            ChangeItem(
                i["kind"], i["key"], i["position"], i["base_version"], i["base_hash"], i["body"]
            )
            for i in items
        ),
        approvals=tuple(
            Approval(
                a["id"],
                a["signer"],
                a["printed_name"],
                a["meaning"],
                a["signed_at"],
                a["content_hash"],
                a["audit_seq"],
            )
            for a in approvals
        ),
    )


def summaries(conn: Connection, statuses: Sequence[Status] | None = None) -> list[ChangeSummary]:
    """Change requests, newest first (only those in ``statuses`` when given)."""
    items = (
        select(func.count())
        .where(change_request_item.c.change_request_id == change_request.c.id)
        .scalar_subquery()
    )
    approvals = (
        select(func.count())
        .where(
            change_approval.c.change_request_id == change_request.c.id,
            change_approval.c.content_hash == change_request.c.content_hash,
        )
        .scalar_subquery()
    )
    query = select(
        change_request.c.id,
        change_request.c.title,
        change_request.c.status,
        change_request.c.created_by,
        change_request.c.updated_at,
        items,
        approvals,
    ).order_by(change_request.c.id.desc())
    if statuses is not None:
        query = query.where(change_request.c.status.in_([str(s) for s in statuses]))
    return [
        ChangeSummary(r[0], r[1], Status(r[2]), r[3], r[4], r[5], r[6]) for r in conn.execute(query)
    ]


def open_requests_touching(conn: Connection, kind: str, key: str, *, other_than: int) -> list[int]:
    """Other open change requests that propose the same item."""
    query = (
        select(change_request.c.id)
        .join(change_request_item, change_request_item.c.change_request_id == change_request.c.id)
        .where(
            change_request_item.c.kind == kind,
            change_request_item.c.key == key,
            change_request.c.id != other_than,
            change_request.c.status.in_([str(s) for s in OPEN_STATUSES]),
        )
        .order_by(change_request.c.id)
    )
    return list(conn.execute(query).scalars())


def insert_request(
    conn: Connection,
    *,
    title: str,
    reason: str,
    origin: dict[str, Any] | None,
    actor: str,
    now: datetime,
) -> int:
    """A new draft without items; returns its number."""
    result = conn.execute(
        insert(change_request)
        .values(
            title=title,
            reason=reason,
            status=str(Status.DRAFT),
            content_hash=content_hash_of(title, reason, origin, ()),
            origin=origin,
            created_at=now,
            created_by=actor,
            updated_at=now,
            updated_by=actor,
        )
        .returning(change_request.c.id)
    )
    change_id: int = result.scalar_one()
    return change_id


def write_content(
    conn: Connection,
    change: ChangeRequest,
    items: Sequence[ChangeItem],
    *,
    actor: str,
    now: datetime,
    title: str | None = None,
    reason: str | None = None,
) -> None:
    """Replace the request's items (and title or reason), keeping ``content_hash`` true.

    The request goes back to draft: approvals of the old content no longer count.
    """
    title = change.title if title is None else title
    reason = change.reason if reason is None else reason
    conn.execute(
        delete(change_request_item).where(change_request_item.c.change_request_id == change.id)
    )
    if items:
        conn.execute(
            insert(change_request_item),
            [
                {
                    "change_request_id": change.id,
                    "kind": item.kind,
                    "key": item.key,
                    "position": position,
                    "base_version": item.base_version,
                    "base_hash": item.base_hash,
                    "body": item.body,
                }
                for position, item in enumerate(items)
            ],
        )
    set_fields(
        conn,
        change.id,
        actor=actor,
        now=now,
        title=title,
        reason=reason,
        status=str(Status.DRAFT),
        content_hash=content_hash_of(title, reason, change.origin, items),
        activate_at=None,
    )


def set_fields(
    conn: Connection, change_id: int, *, actor: str, now: datetime, **values: Any
) -> None:
    """Update the request's row, stamping who changed it and when."""
    conn.execute(
        update(change_request)
        .where(change_request.c.id == change_id)
        .values(updated_at=now, updated_by=actor, **values)
    )


def insert_approval(conn: Connection, manifest: dict[str, Any], *, audit_seq: int) -> None:
    """Store an approval; ``manifest`` holds its signed columns and ``signed_at``."""
    conn.execute(insert(change_approval).values(audit_seq=audit_seq, **manifest))
