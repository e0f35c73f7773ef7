"""An access review kept in the installation: a record of the ``access_review`` type (the
shipped ``reviews`` bundle), holding the review's snapshot and its hash, with the
report as its file, for a reviewer to sign ("Access review").

The next review compares itself with the last review that was signed: its
snapshot is read back from the record's file and checked against the hash
the signed record holds, so a snapshot changed afterwards is reported
instead of compared with.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, select

from labledger.canonical import plain_content_hash
from labledger.db.tables import attachment, record, signature
from labledger.errors import NotFound
from labledger.identity.principal import Principal
from labledger.metadata import versions
from labledger.metadata.types import KIND
from labledger.records.attachments import store_attachment
from labledger.records.create import create_record
from labledger.reviews.access import AccessReview
from labledger.reviews.documents import review_html

#: The type that holds access reviews (seeds/reviews).
REVIEW_TYPE = "access_review"


def reviews_configured(conn: Connection) -> bool:
    return versions.current(conn, KIND, REVIEW_TYPE) is not None


def compare_with_last_signed(conn: Connection, review: AccessReview) -> None:
    """Fill ``review``'s changes since the last signed access review, if there is one."""
    if not reviews_configured(conn):
        review.comparison_note = (
            "Access reviews are not kept here (the 'reviews' bundle is not loaded): "
            "nothing to compare with."
        )
        return
    last = conn.execute(
        select(record.c.number, record.c.data)
        .join(signature, signature.c.record_id == record.c.id)
        .where(record.c.type_key == REVIEW_TYPE)
        .order_by(signature.c.signed_at.desc(), signature.c.id.desc())
        .limit(1)
    ).first()
    if last is None:
        review.comparison_note = "No access review has been signed yet: nothing to compare with."
        return
    number, data = last
    content = conn.execute(
        select(attachment.c.content).where(attachment.c.id == data.get("snapshot"))
    ).scalar()
    earlier = _snapshot(content)
    if earlier is None or plain_content_hash(earlier) != data.get("snapshot_hash"):
        review.compared_with = number
        review.comparison_note = (
            f"The snapshot kept with {number} does not match the hash it was signed with: "
            "it was changed after signing, so nothing is compared with it."
        )
        return
    review.compare(number, earlier)


def _snapshot(content: bytes | None) -> dict[str, Any] | None:
    try:
        found = json.loads(content) if content else None
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def record_review(
    conn: Connection, actor: Principal, review: AccessReview, *, max_bytes: int
) -> tuple[int, str]:
    """Keep ``review`` as a new access review record; returns its id and number.

    ``actor`` is who asked for it to be kept (the audit trail names them);
    nobody may create these records by hand, so the type's create permission
    is not asked for.
    """
    if not reviews_configured(conn):
        raise NotFound(
            "Access reviews are not configured here: load the 'reviews' bundle "
            "(seeds/reviews) to keep them."
        )
    snapshot = store_attachment(
        conn,
        actor,
        filename="access-review-snapshot.json",
        content_type="application/json",
        content=json.dumps(review.snapshot, sort_keys=True, indent=1).encode("utf-8"),
        max_bytes=max_bytes,
    )
    report = store_attachment(
        conn,
        actor,
        filename="access-review.html",
        content_type="text/html",
        content=review_html(review).encode("utf-8"),
        max_bytes=max_bytes,
    )
    data = {
        "taken_at": review.made_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "unused_days": review.unused_days,
        "users": len(review.accounts),
        "active_users": sum(a.active for a in review.accounts),
        "unused_accounts": len(review.unused),
        "reset_then_signed": len(review.flags),
        "changes": len(review.changes),
        "compared_with": review.compared_with,
        "snapshot_hash": review.snapshot_hash,
        "snapshot": snapshot["id"],
        "report": report["id"],
    }
    made = create_record(conn, actor, REVIEW_TYPE, data, skip_permission=True, as_system=True)
    return int(made["id"]), str(made["number"])
