"""Publishing a configuration item: a new immutable version and its audit event.

Object types, workflows, print templates and import mappings are all
published the same way; what differs is how each is validated beforehand and
what each sets up afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from labledger.audit.results import config_result
from labledger.audit.trail import AuditEntry, append
from labledger.change_gate import activating
from labledger.errors import FieldError, Forbidden, ValidationFailed
from labledger.identity.principal import CONFIGURE, Principal
from labledger.metadata import versions
from labledger.metadata.diff import diff_definitions

#: The audit action of a published configuration version.
PUBLISH_ACTION = "config.publish"


def publish_version(
    conn: Connection,
    actor: str,
    kind: str,
    definition: dict[str, Any],
    *,
    type_key: str | None = None,
    details: dict[str, Any] | None = None,
) -> versions.Published:
    """Store ``definition`` as the next version of its item unless unchanged, audited.

    The audit event carries what changed (field by field), the hash of the new
    definition and any ``details`` the kind adds; its outbox event lets
    integrations follow configuration.
    """
    key = definition["key"]
    published = versions.store(conn, kind, key, definition, actor)
    if published.changed:
        change = activating(conn)
        append(
            conn,
            [
                AuditEntry(
                    actor=actor,
                    action=PUBLISH_ACTION,
                    type_key=type_key,
                    config_version=published.version,
                    changes=diff_definitions(published.previous, definition),
                    details={
                        "kind": kind,
                        "key": key,
                        **(details or {}),
                        **({"change_request": change} if change is not None else {}),
                        "hash": published.body_hash,
                    },
                    outbox_kind="config.published",
                    outbox_payload={"kind": kind, "key": key, "version": published.version},
                    result_hash=config_result(kind, key, published.version, definition),
                )
            ],
        )
    return published


def publish_checked(
    conn: Connection,
    actor: Principal,
    kind: str,
    definition: dict[str, Any],
    problems: Callable[[], list[FieldError]],
    *,
    noun: str,
    plural: str,
) -> versions.Published:
    """Publish ``definition`` for a person with the ``configure`` permission once the
    kind's own checks (``problems``, run after the permission) find nothing.

    Publishing an unchanged definition changes nothing and writes no audit event.
    """
    if not actor.has_permission(CONFIGURE):
        raise Forbidden(f"Publishing {plural} needs the 'configure' permission.")
    errors = problems()
    if errors:
        raise ValidationFailed(f"The {noun} is not valid.", errors)
    return publish_version(conn, actor.username, kind, definition)
