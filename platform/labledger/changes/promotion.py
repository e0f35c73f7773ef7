"""Promoting an approved change request to another installation (development →
validation → production), as a bundle that says where it came from.

The exported bundle holds the request's definitions and, under
``change_request``, its number, title, reason, content hash, approvals and
its changes in words, as the source installation's reviewers read them.
Proposing that bundle elsewhere opens a change request whose origin shows all
of it; its definitions are proposed one by one against what is active there
(so the target's reviewers see their own differences and impact), and it
needs local approval like any other.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from labledger.bundles.format import FORMAT, KEYED_SECTIONS, Bundle
from labledger.changes.activation import SECTION_OF_KIND
from labledger.changes.readable import describe_change
from labledger.changes.store import BUNDLE_ITEM, ChangeRequest, Status, load
from labledger.errors import Conflict, Forbidden
from labledger.identity.principal import CONFIGURE, Principal
from labledger.identity.sessions import instance_secret
from labledger.metadata import versions

#: Statuses a change request can be promoted from: approved here.
PROMOTABLE = (Status.APPROVED, Status.SCHEDULED, Status.ACTIVE)
#: How many characters of the installation's random identity a bundle names.
_INSTALLATION_ID_LENGTH = 16


def installation_id(conn: Connection) -> str:
    """This installation's identity: random, made once, shared by every worker."""
    return instance_secret(conn, "installation_id")[:_INSTALLATION_ID_LENGTH]


def export_change(conn: Connection, actor: Principal, change_id: int) -> dict[str, Any]:
    """The bundle promoting approved change request ``change_id`` (a write transaction:
    the installation's identity is made on first use)."""
    if not actor.has_permission(CONFIGURE):
        raise Forbidden("Exporting a change request needs the 'configure' permission.")
    change = load(conn, change_id)
    if change.status not in PROMOTABLE:
        raise Conflict(
            f"{change.label} is {change.status}: only an approved change request is promoted."
        )
    sections: dict[str, list[Any]] = {}
    for item in change.items:
        if item.kind == BUNDLE_ITEM:
            for section in KEYED_SECTIONS:
                sections.setdefault(section, []).extend(item.body["document"].get(section, []))
        elif item.kind in SECTION_OF_KIND:  # a webhook's address belongs to its installation
            sections.setdefault(SECTION_OF_KIND[item.kind], []).append(item.body)
    return {
        "format": FORMAT,
        "name": f"change-request-{change.id}",
        "version": change.content_hash[:12],
        "description": change.title,
        "change_request": _provenance(conn, change),
        **{section: items for section, items in sections.items() if items},
    }


def _provenance(conn: Connection, change: ChangeRequest) -> dict[str, Any]:
    return {
        "installation": installation_id(conn),
        "number": change.id,
        "title": change.title,
        "reason": change.reason,
        "status": str(change.status),
        "content_hash": change.content_hash,
        "approvals": [
            {
                "signer": a.signer,
                "printed_name": a.printed_name,
                "meaning": a.meaning,
                "signed_at": a.signed_at.isoformat(),
                "content_hash": a.content_hash,
            }
            for a in change.valid_approvals
        ],
        "changes": [
            {"subject": s.subject, "text": s.text, "weakens": s.weakens}
            for item in change.items
            if item.kind != BUNDLE_ITEM
            for s in describe_change(
                item.kind,
                None
                if item.base_version is None
                else versions.body_at(conn, item.kind, item.key, item.base_version),
                item.body,
            )
        ],
    }


def promoted_from(bundle: Bundle) -> dict[str, Any] | None:
    """The origin a change request proposing ``bundle`` records (None: not a promotion)."""
    provenance = bundle.body.get("change_request")
    if provenance is None:
        return None
    return {"promoted_from": {**provenance, "bundle_sha256": bundle.sha256}}


def promoted_definitions(bundle: Bundle) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, key, definition) of every definition a promotion bundle carries."""
    kinds = {section: kind for kind, section in SECTION_OF_KIND.items()}
    return [
        (kinds[section], body["key"], body)
        for section in KEYED_SECTIONS
        for body in bundle.section(section)
        if isinstance(body, dict) and isinstance(body.get("key"), str)
    ]
