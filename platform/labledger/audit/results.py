"""What an audit event proves it produced: the hashes of live rows.

An event's ``result_hash`` is computed by one of these functions when the
change is written, and ``audit verify`` computes it again from the row as it
is stored now. Each function takes exactly the columns a person relies on, so
an edit of any of them made outside the platform (SQL, a restored backup, a
bad migration) shows as a discrepancy that names the row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labledger.canonical import iso_utc, plain_content_hash

#: The record columns a record's result hash covers.
RECORD_COLUMNS = (
    "id",
    "type_key",
    "type_version",
    "number",
    "title",
    "state",
    "data",
    "version",
    "created_by",
    "updated_by",
)
#: The signature columns a signature's manifest hash covers (all but its id and audit link).
SIGNATURE_COLUMNS = (
    "record_id",
    "type_key",
    "record_version",
    "transition",
    "meaning",
    "signer",
    "printed_name",
    "content_hash",
)
#: The role columns a role's hash covers.
ROLE_COLUMNS = ("key", "label", "description", "permissions")

#: A stored row by column name: SQLAlchemy's ``RowMapping`` (whose keys may also be
#: column objects) or a plain dict built by the service that writes the row.
StoredRow = Mapping[Any, Any]


def _stamped(row: StoredRow, columns: tuple[str, ...], *times: str) -> str:
    """The hash of ``columns`` of ``row`` and its ``times`` as UTC text."""
    body = {name: row[name] for name in columns}
    body.update((name, iso_utc(row[name])) for name in times)
    return plain_content_hash(body)


def record_result(row: StoredRow) -> str:
    """A record row as stored: identity, state, data, versions and who wrote it, with times."""
    return _stamped(row, RECORD_COLUMNS, "created_at", "updated_at")


def signature_result(row: StoredRow) -> str:
    """A signature's manifest: who signed what, meaning what, when, under which name."""
    return _stamped(row, SIGNATURE_COLUMNS, "signed_at")


def config_result(kind: str, key: str, version: int, body: Any) -> str:
    """One stored version of a configuration item (type, workflow, template, mapping, bundle)."""
    return plain_content_hash({"kind": kind, "key": key, "version": version, "body": body})


def role_result(row: StoredRow) -> str:
    """A role as stored: its label, description and permissions."""
    return plain_content_hash({name: row[name] for name in ROLE_COLUMNS})


#: The change request columns its result hash covers: what a reviewer relies on.
CHANGE_REQUEST_COLUMNS = ("id", "status", "content_hash", "rejection", "created_by")
#: The approval columns its hash covers (all but its id and audit link).
CHANGE_APPROVAL_COLUMNS = (
    "change_request_id",
    "signer",
    "printed_name",
    "meaning",
    "content_hash",
)
#: The change-control setting columns its hash covers.
CONTROL_SETTING_COLUMNS = ("id", "enabled", "approvals_required", "reason", "changed_by")


def change_content(
    title: str, reason: str, origin: Any, items: list[tuple[str, str, int | None, str | None, Any]]
) -> str:
    """What approvers of a change request sign: its title, reason, origin and each item
    as (kind, key, base version, base hash, proposed body), in proposal order."""
    return plain_content_hash(
        {"title": title, "reason": reason, "origin": origin, "items": [list(i) for i in items]}
    )


def change_request_result(row: StoredRow) -> str:
    """A change request as stored: its status, the content it holds, who proposed it."""
    body = {name: row[name] for name in CHANGE_REQUEST_COLUMNS}
    body["activate_at"] = iso_utc(row["activate_at"]) if row["activate_at"] else None
    return plain_content_hash(body)


def change_approval_result(row: StoredRow) -> str:
    """An approval's manifest: who signed which content of which change, meaning what, when."""
    return _stamped(row, CHANGE_APPROVAL_COLUMNS, "signed_at")


def control_setting_result(row: StoredRow) -> str:
    """One change of the change-control setting: on or off, approvals needed, why, by whom."""
    return _stamped(row, CONTROL_SETTING_COLUMNS, "changed_at")
