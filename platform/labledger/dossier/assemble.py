"""The record dossier: one record, complete and readable, for one reader (21 CFR 11.10(b)).

An inspector must be able to take a complete copy of any record. The
dossier holds the record's fields as people read them (marked where a value
was changed after its first entry), its files with their SHA-256, every
signature's manifest and whether it still holds, its whole audit trail, the
records around it to a bounded depth, and what proves it: the record's
content hash, when and by whom the copy was made, the platform version and
the configuration in force. The reader must be allowed to read the record
(404/403 as everywhere) and each related record shown; the others are named
as withheld.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from labledger import __version__
from labledger.db.types import utc_now
from labledger.dossier.copies import RecordCopier
from labledger.dossier.model import Dossier, DossierRelated, DossierWithheld
from labledger.dossier.related import related_rows
from labledger.errors import FieldError, ValidationFailed
from labledger.identity.principal import Principal
from labledger.metadata.types import readable_model
from labledger.metadata.versions import configuration_hash
from labledger.records.service import load_row

#: Related records are followed this many references away unless the reader asks otherwise.
DEFAULT_DEPTH = 1
#: The farthest a dossier follows references (each level can multiply the records shown).
MAX_DEPTH = 3


def check_depth(depth: int) -> int:
    """``depth`` if it is within bounds; a field error otherwise."""
    if isinstance(depth, bool) or not 0 <= depth <= MAX_DEPTH:
        raise ValidationFailed(
            "Bad depth of related records.",
            [FieldError("depth", f"must be a whole number from 0 to {MAX_DEPTH}")],
        )
    return depth


def record_dossier(
    conn: Connection,
    actor: Principal,
    type_key: str,
    record_id: int,
    *,
    depth: int = DEFAULT_DEPTH,
    now: datetime | None = None,
) -> Dossier:
    """The dossier of one record as ``actor`` may read it, made at ``now`` (default: now)."""
    check_depth(depth)
    model = readable_model(conn, actor, type_key)
    row = load_row(conn, type_key, record_id)
    made_at = now or utc_now()
    copier = RecordCopier(conn, actor, made_at)
    found = related_rows(conn, actor, row, depth)
    copies = copier.copy([row, *(link.row for link in found.links)])
    return Dossier(
        record=copies[0],
        related=[
            DossierRelated(
                relation=link.relation,
                of=link.of["number"],
                field=link.field,
                field_label=link.field_label,
                depth=link.depth,
                record=copy,
            )
            for link, copy in zip(found.links, copies[1:], strict=True)
        ],
        withheld=[
            DossierWithheld(
                relation=relation,
                of=of,
                type=withheld_type,
                field=field,
                count=count,
                reason="you may not read records of this type",
            )
            for (relation, of, withheld_type, field), count in found.withheld.items()
        ],
        not_shown=found.not_shown,
        depth=depth,
        made_at=made_at,
        made_by=actor.username,
        made_by_name=actor.full_name,
        platform_version=__version__,
        configuration_hash=configuration_hash(conn),
        type_version=model.version,
    )
