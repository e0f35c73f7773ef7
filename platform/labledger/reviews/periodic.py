"""The periodic review: what happened in a period that the quality unit reviews.

Every section is read from the audit trail, the one record an inspector may
rely on, and states facts (it does not judge what is normal). Each query
reads the events of the period through the index on ``occurred_at`` and
either counts in SQL (``GROUP BY``) or lists at most ``tables.MAX_ROWS``
rows with the total, so a period of a million events never comes into
memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, or_, select

from labledger.db.tables import app_user, audit_event
from labledger.db.types import utc_now
from labledger.reviews import actions
from labledger.reviews.period import Period
from labledger.reviews.tables import MAX_ROWS, Table, moment_text

_EVENT = (
    audit_event.c.seq,
    audit_event.c.occurred_at,
    audit_event.c.actor,
    audit_event.c.action,
    audit_event.c.record_number,
    audit_event.c.config_version,
    audit_event.c.changes,
    audit_event.c.reason,
    audit_event.c.details,
)
_LISTED_COLUMNS = ("When (UTC)", "Who", "Action", "What", "Details")


@dataclass(frozen=True)
class Heading:
    """A section's key (its anchor on the page), title and what it states."""

    key: str
    title: str
    note: str


@dataclass(frozen=True)
class PeriodicReview:
    period: Period
    made_at: datetime
    events: int
    tables: list[Table]

    @property
    def title(self) -> str:
        return "Periodic review"

    @property
    def facts(self) -> list[tuple[str, str]]:
        return [
            ("Period", self.period.text),
            ("Made", f"{moment_text(self.made_at)} UTC"),
            ("Audit events in the period", f"{self.events:,}"),
        ]


def periodic_review(conn: Connection, period: Period) -> PeriodicReview:
    """The review of ``period``: every section, each bounded."""
    within = (audit_event.c.occurred_at >= period.start, audit_event.c.occurred_at < period.end)
    events = conn.execute(select(func.count()).select_from(audit_event).where(*within)).scalar_one()
    configuration = or_(
        audit_event.c.action.like(actions.CHANGE_ACTION_PREFIX + "%"),
        audit_event.c.action.in_(actions.CONFIGURATION),
    )
    return PeriodicReview(
        period=period,
        made_at=utc_now(),
        events=events,
        tables=[
            _listed(
                conn,
                within,
                configuration,
                Heading(
                    "configuration",
                    "Configuration changes and their approvals",
                    "Change requests proposed, edited, approved (signed), rejected, withdrawn, "
                    "scheduled and activated; definitions published or imported; roles saved; "
                    "the change-control setting.",
                ),
            ),
            _listed(
                conn,
                within,
                audit_event.c.action.in_(actions.REFUSALS),
                Heading(
                    "refusals",
                    "Refused attempts, failed sign-ins and lockouts",
                    "Workflow steps and signatures refused, sign-ins and signing attempts with a "
                    "wrong password or on a locked or deactivated account, rate limits reached, "
                    "accounts locked.",
                ),
            ),
            _listed(
                conn,
                within,
                audit_event.c.action == actions.VERIFY_ACTION,
                Heading(
                    "verifications",
                    "Verifications of the audit trail",
                    "Each 'labledger audit verify' and its outcome; 'AUDIT TRAIL NOT INTACT' is a "
                    "failed verification, with the first discrepancies it found.",
                ),
            ),
            _signatures(conn, within),
            _listed(
                conn,
                within,
                audit_event.c.action.in_(actions.ACCOUNTS),
                Heading(
                    "accounts",
                    "Users, role grants and API tokens",
                    "Users created, activated or deactivated, unlocked, given a password by an "
                    "administrator; roles granted and removed; API tokens created and revoked.",
                ),
            ),
            _counted(
                conn,
                within,
                audit_event.c.action,
                Heading("by_action", "Audit events per action", "Every event of the period."),
                ("Action", "Events"),
            ),
            _counted(
                conn,
                within,
                audit_event.c.actor,
                Heading("by_person", "Audit events per person", "Every event of the period."),
                ("Who", "Events"),
            ),
        ],
    )


def _listed(
    conn: Connection,
    within: tuple[ColumnElement[bool], ...],
    condition: ColumnElement[bool],
    heading: Heading,
) -> Table:
    """The events of the period matching ``condition``, oldest first, at most MAX_ROWS."""
    total = conn.execute(
        select(func.count()).select_from(audit_event).where(*within, condition)
    ).scalar_one()
    rows = conn.execute(
        select(*_EVENT)
        .where(*within, condition)
        .order_by(audit_event.c.occurred_at, audit_event.c.seq)
        .limit(MAX_ROWS)
    ).mappings()
    return Table(
        heading.key,
        heading.title,
        heading.note,
        _LISTED_COLUMNS,
        [
            (moment_text(r["occurred_at"]), r["actor"], r["action"], what(r), details_text(r))
            for r in rows
        ],
        total,
    )


def _counted(
    conn: Connection,
    within: tuple[ColumnElement[bool], ...],
    column: ColumnElement[Any],
    heading: Heading,
    columns: tuple[str, str],
) -> Table:
    """Events of the period per value of ``column``, most first (at most MAX_ROWS values)."""
    count = func.count().label("n")
    total = conn.execute(select(func.count(func.distinct(column))).where(*within)).scalar_one()
    rows = conn.execute(
        select(column, count)
        .where(*within)
        .group_by(column)
        .order_by(count.desc(), column)
        .limit(MAX_ROWS)
    ).all()
    return Table(
        heading.key, heading.title, heading.note, columns, [(v, str(n)) for v, n in rows], total
    )


def _signatures(conn: Connection, within: tuple[ColumnElement[bool], ...]) -> Table:
    """Signatures of the period per meaning and signer (record signatures and approvals)."""
    meaning = audit_event.c.details["meaning"].as_string().label("meaning")
    count = func.count().label("n")
    where = (*within, audit_event.c.action.in_(actions.SIGNATURES))
    grouped = (
        select(meaning, audit_event.c.actor, count)
        .where(*where)
        .group_by(meaning, audit_event.c.actor)
        .subquery()
    )
    total = conn.execute(select(func.count()).select_from(grouped)).scalar_one()
    rows = conn.execute(
        select(grouped.c.meaning, grouped.c.actor, app_user.c.full_name, grouped.c.n)
        .outerjoin(app_user, app_user.c.username == grouped.c.actor)
        .order_by(grouped.c.meaning, grouped.c.actor)
        .limit(MAX_ROWS)
    ).all()
    return Table(
        "signatures",
        "Electronic signatures by meaning and by person",
        "Signatures on records and approvals of change requests, counted.",
        ("Meaning", "Signer", "Printed name", "Signatures"),
        [(m or "", a, name or "", str(n)) for m, a, name, n in rows],
        total,
    )


def _as_dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


#: What an event is about, from the first of these it names.
_SUBJECTS: tuple[tuple[str, Callable[[Mapping[str, Any]], str]], ...] = (
    ("kind", lambda d: f"{d['kind']} {d.get('key', '')}".strip()),
    ("change_request", lambda d: f"CR-{d['change_request']}"),
    ("role", lambda d: f"role {d['role']}"),
    ("bundle", lambda d: f"bundle {d['bundle']}"),
    ("user", lambda d: f"user {d['user']}"),
    ("token", lambda d: f"token {d['token']}"),
    ("setting", lambda d: "change-control setting"),
    ("counter", lambda d: f"rate limit {d['counter']}"),
)


def what(event: Mapping[Any, Any]) -> str:
    """The thing an event is about: a record's number, a change request, a user, ..."""
    details = _as_dict(event["details"])
    if event["record_number"]:
        return str(event["record_number"])
    for key, described in _SUBJECTS:
        if details.get(key) is not None:
            text = described(details)
            if event["config_version"] and key == "kind":
                text += f" v{event['config_version']}"
            return text
    return ""


def details_text(event: Mapping[Any, Any]) -> str:
    """What an event says beyond who, what and when, in one line."""
    details = _as_dict(event["details"])
    said = []
    if details.get("kind") and details.get("change_request") is not None:
        said.append(f"change request CR-{details['change_request']}")
    if details.get("status"):
        said.append(f"status {details['status']}")
    if details.get("meaning"):
        said.append(f'meaning "{details["meaning"]}", signed by {details.get("printed_name", "")}')
    if details.get("transition"):
        said.append(f"step {details['transition']}")
    if details.get("refused_for"):
        said.append("refused for " + ", ".join(map(str, details["refused_for"])))
    if details.get("message"):
        said.append(str(details["message"]))
    if details.get("summary"):
        said.append(str(details["summary"]))
    said += [str(message) for message in details.get("first") or ()]
    roles = _as_dict(_as_dict(event["changes"]).get("roles"))
    if roles:
        old, new = set(roles.get("old") or ()), set(roles.get("new") or ())
        if new - old:
            said.append("roles granted: " + ", ".join(sorted(new - old)))
        if old - new:
            said.append("roles removed: " + ", ".join(sorted(old - new)))
    if event["reason"]:
        said.append(f"reason: {event['reason']}")
    return "; ".join(said)
