"""Electronic signatures (21 CFR Part 11 §11.50, §11.70).

A signature records the signer's printed name, the UTC time, the meaning, the
record version it created and the SHA-256 of the signed content: the record's
id, type, number and data. Because the id is part of what is hashed, a
signature copied or moved to another record no longer verifies; because the
data is, an edit after signing shows the signature as belonging to an earlier
version. Each signature is also cross-checked with its audit event, which is
protected by the hash chain.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select

from labledger.audit.results import signature_result
from labledger.canonical import content_hash
from labledger.db.tables import audit_event, signature
from labledger.db.types import utc_now
from labledger.identity.principal import Principal

#: The audit action that records a signature.
SIGN_ACTION = "record.sign"
#: The signature applies to the record as it is now.
CURRENT = "current"
#: The signed content was changed later: the signature belongs to an earlier version.
EARLIER_VERSION = "earlier_version"
#: The signature does not match what was signed or its audit event: tampered or moved.
INVALID = "invalid"


#: What people read for each status.
_STATUS_TEXTS = {
    CURRENT: "Valid: applies to the record as it is now",
    EARLIER_VERSION: "Belongs to an earlier version: the record changed after signing",
}


def status_text(status: str) -> str:
    """A signature's status in words, as the record page, printouts and dossiers say it."""
    return _STATUS_TEXTS.get(status, "INVALID: does not match what was signed or its audit event")


def signed_content(row: dict[str, Any]) -> dict[str, Any]:
    """What a signature covers: the record's identity and its data."""
    return {
        "record_id": row["id"],
        "type": row["type_key"],
        "number": row["number"],
        "data": row["data"],
    }


def signature_row(
    signer: Principal, row: dict[str, Any], *, transition: str, meaning: str
) -> dict[str, Any]:
    """The signature of ``row`` (the record as it stands after the transition), unstored.

    Built before the audit event is written, so that the event can carry the
    hash of this very manifest (``audit.results.signature_result``).
    """
    content = signed_content(row)
    return {
        "record_id": row["id"],
        "type_key": row["type_key"],
        "record_version": row["version"],
        "transition": transition,
        "meaning": meaning,
        "signer": signer.username,
        "printed_name": signer.full_name,
        "signed_at": utc_now(),
        "content_hash": content_hash(content),
        "content": content,
    }


def add_signature(conn: Connection, sig: dict[str, Any], *, audit_seq: int) -> None:
    """Store a signature built by ``signature_row``, linked to the event that records it."""
    conn.execute(insert(signature).values(**sig, audit_seq=audit_seq))


def matches_event(sig: Any, event: Any) -> bool:
    """Whether a signature row is the one its chained audit event recorded.

    Events written since result hashes exist prove the whole manifest (signer,
    printed name, meaning, time, record, version, content hash); older ones
    prove the signer and the content hash.
    """
    if event is None or event.action != SIGN_ACTION or event.record_id != sig["record_id"]:
        return False
    if event.result_hash is not None:
        return bool(event.result_hash == signature_result(sig))
    details = event.details if isinstance(event.details, dict) else {}
    return bool(
        details.get("content_hash") == sig["content_hash"]
        and details.get("signer") == sig["signer"]
    )


def signature_status(conn: Connection, sig: Any, record_row: dict[str, Any]) -> str:
    content = sig["content"]
    if content_hash(content) != sig["content_hash"] or content.get("record_id") != sig["record_id"]:
        return INVALID
    event = conn.execute(
        select(
            audit_event.c.action,
            audit_event.c.record_id,
            audit_event.c.details,
            audit_event.c.result_hash,
        ).where(audit_event.c.seq == sig["audit_seq"])
    ).first()
    if not matches_event(sig, event):
        return INVALID
    if content_hash(signed_content(record_row)) == sig["content_hash"]:
        return CURRENT
    return EARLIER_VERSION


def signatures_of(conn: Connection, record_row: dict[str, Any]) -> list[dict[str, Any]]:
    """Every signature of a record, oldest first, each with its verification status."""
    rows = conn.execute(
        select(signature).where(signature.c.record_id == record_row["id"]).order_by(signature.c.id)
    ).mappings()
    return [
        {
            "signer": sig["signer"],
            "printed_name": sig["printed_name"],
            "meaning": sig["meaning"],
            "signed_at": sig["signed_at"],
            "transition": sig["transition"],
            "record_version": sig["record_version"],
            "content_hash": sig["content_hash"],
            "status": signature_status(conn, sig, record_row),
        }
        for sig in rows
    ]
