"""Webhook subscriptions as data, and what the delivery monitor shows about them.

A subscription names a URL, a filter (types, kinds, states), the secret its
deliveries are signed with, an active flag and how many attempts a delivery
gets before it is parked as dead. Creating and changing one needs the
``configure`` permission and is audited like every configuration change; the
secret never appears in the audit trail or in a read, only once in the answer
that set it.

A new subscription receives the events committed after it was created.
Deactivating one pauses it: nothing is sent, nothing is skipped, and on
reactivation the worker catches up.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from labledger.audit.trail import AuditEntry, append
from labledger.change_gate import require_change
from labledger.db.integration_tables import webhook_attempt, webhook_delivery, webhook_subscription
from labledger.db.types import utc_now
from labledger.errors import FieldError, Forbidden, NotFound, ValidationFailed
from labledger.identity.principal import CONFIGURE, Principal
from labledger.integration.allowlist import Allowlist
from labledger.integration.feed import EventFilter, feed_head
from labledger.integration.positions import assign
from labledger.metadata import versions
from labledger.metadata.messages import field_errors
from labledger.metadata.patterns import PatternValidator
from labledger.metadata.types import KIND as TYPE_KIND

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
DEFAULT_MAX_ATTEMPTS = 10
#: How much of a receiver's answer is kept for the monitor (characters).
RESPONSE_EXCERPT = 2000

_KEY = "^[a-z][a-z0-9_]{0,63}$"
_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]{0,63}$"},
        "url": {"type": "string", "minLength": 1, "maxLength": 2000},
        "types": {"type": "array", "uniqueItems": True, "items": {"type": "string"}},
        "kinds": {
            "type": "array",
            "uniqueItems": True,
            "items": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?$"},
        },
        "states": {
            "type": "array",
            "uniqueItems": True,
            "items": {"type": "string", "pattern": _KEY},
        },
        "secret": {"type": "string", "minLength": 16, "maxLength": 200},
        "rotate_secret": {"type": "boolean"},
        "active": {"type": "boolean"},
        "max_attempts": {"type": "integer", "minimum": 1, "maximum": 100},
    },
}
_VALIDATOR = PatternValidator(_SCHEMA)
#: What a change may touch (the name is the subscription's identity).
_CHANGEABLE = ("url", "types", "kinds", "states", "active", "max_attempts")
#: A subscription as configuration, in a change request: what it sends, where, how often.
WEBHOOK_KIND = "webhook"


def require_configure(actor: Principal) -> None:
    if not actor.has_permission(CONFIGURE):
        raise Forbidden("Managing webhooks needs the 'configure' permission.")


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _check(conn: Connection, body: Any, allowlist: Allowlist, *, creating: bool) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValidationFailed(
            "The webhook is not valid.", [FieldError("(document)", "must be an object")]
        )
    errors = field_errors(_VALIDATOR.iter_errors(body))
    if creating:
        errors += [FieldError(k, "is required") for k in ("name", "url") if k not in body]
    elif "name" in body:
        errors.append(FieldError("name", "cannot change; create a new webhook instead"))
    if not errors and "url" in body:
        problem = allowlist.problem(body["url"])
        if problem:
            errors.append(FieldError("url", problem))
    if not errors and body.get("types"):
        known = set(versions.keys(conn, TYPE_KIND))
        errors += [
            FieldError(f"types[{i}]", f"there is no object type '{key}'")
            for i, key in enumerate(body["types"])
            if key not in known
        ]
    if errors:
        raise ValidationFailed("The webhook is not valid.", errors)
    return body


def _row(conn: Connection, name: str) -> dict[str, Any]:
    found = (
        conn.execute(select(webhook_subscription).where(webhook_subscription.c.name == name))
        .mappings()
        .first()
    )
    if found is None:
        raise NotFound(f"There is no webhook '{name}'.")
    return dict(found)


def subscription_view(row: Any) -> dict[str, Any]:
    """A subscription as the API shows it: everything but the secret."""
    return {
        "name": row["name"],
        "url": row["url"],
        "filter": event_filter(row).as_dict(),
        "active": row["active"],
        "max_attempts": row["max_attempts"],
        "created_at": row["created_at"],
        "created_by": row["created_by"],
        "updated_at": row["updated_at"],
        "updated_by": row["updated_by"],
    }


def event_filter(row: Any) -> EventFilter:
    return EventFilter.of(row["types"], row["kinds"], row["states"])


def _audit(conn: Connection, actor: Principal, action: str, name: str, changes: Any) -> None:
    append(
        conn,
        [
            AuditEntry(
                actor=actor.username,
                action=action,
                changes=changes,
                details={"webhook": name},
                outbox_kind="config.webhook",
                outbox_payload={"webhook": name, "action": action},
            )
        ],
    )


def _audited_value(key: str, value: Any) -> Any:
    return "(set)" if key == "secret" else value


def create_subscription(
    conn: Connection, actor: Principal, body: Any, allowlist: Allowlist
) -> dict[str, Any]:
    """Create a subscription; the answer carries its secret, shown this once.

    Body: ``name``, ``url``, optional ``types``, ``kinds``, ``states`` (filters,
    empty lists match everything), ``secret`` (generated when absent),
    ``active`` (default true) and ``max_attempts`` (default 10).
    """
    require_configure(actor)
    body = _check(conn, body, allowlist, creating=True)
    require_change(conn, f"webhook '{body['name']}'")
    if conn.execute(
        select(webhook_subscription.c.id).where(webhook_subscription.c.name == body["name"])
    ).first():
        raise ValidationFailed(
            "The webhook is not valid.",
            [FieldError("name", f"a webhook named '{body['name']}' exists already")],
        )
    assign(conn)  # events committed before now take positions before its start
    now = utc_now()
    row = {
        "name": body["name"],
        "url": body["url"],
        "types": sorted(body.get("types", [])),
        "kinds": sorted(body.get("kinds", [])),
        "states": sorted(body.get("states", [])),
        "secret": body.get("secret") or new_secret(),
        "active": body.get("active", True),
        "max_attempts": body.get("max_attempts", DEFAULT_MAX_ATTEMPTS),
        # Events committed from now on; earlier ones are history, read them from the feed.
        "last_event_id": feed_head(conn),
        "created_at": now,
        "created_by": actor.username,
        "updated_at": now,
        "updated_by": actor.username,
    }
    conn.execute(insert(webhook_subscription).values(row))
    audited = ("url", "types", "kinds", "states", "active", "max_attempts", "secret")
    _audit(
        conn,
        actor,
        "webhook.create",
        row["name"],
        {k: {"old": None, "new": _audited_value(k, row[k])} for k in audited},
    )
    return {**subscription_view(row), "secret": row["secret"]}


def update_subscription(
    conn: Connection, actor: Principal, name: str, body: Any, allowlist: Allowlist
) -> dict[str, Any]:
    """Change a subscription: any of ``url``, ``types``, ``kinds``, ``states``,
    ``active``, ``max_attempts``, and a new ``secret`` (or ``rotate_secret``:
    true to have one generated). The answer shows a new secret once."""
    require_configure(actor)
    body = _check(conn, body, allowlist, creating=False)
    current = _row(conn, name)
    values = {
        k: (sorted(body[k]) if isinstance(body[k], list) else body[k])
        for k in _CHANGEABLE
        if k in body
    }
    secret = body.get("secret") or (new_secret() if body.get("rotate_secret") else None)
    if secret is not None:
        values["secret"] = secret
    changes = {
        k: {"old": _audited_value(k, current[k]), "new": _audited_value(k, v)}
        for k, v in values.items()
        if current[k] != v
    }
    if not changes:
        return subscription_view(current)
    if set(changes) - {"secret"}:  # a new secret is a credential, not configuration
        require_change(conn, f"webhook '{name}'")
    stamp = {"updated_at": utc_now(), "updated_by": actor.username}
    conn.execute(
        update(webhook_subscription)
        .where(webhook_subscription.c.id == current["id"])
        .values(**values, **stamp)
    )
    _audit(conn, actor, "webhook.update", name, changes)
    view = subscription_view({**current, **values, **stamp})
    return {**view, "secret": secret} if secret is not None else view


def subscription_definition(conn: Connection, name: str) -> dict[str, Any] | None:
    """A subscription as configuration (no secret), as a change request proposes it."""
    found = (
        conn.execute(select(webhook_subscription).where(webhook_subscription.c.name == name))
        .mappings()
        .first()
    )
    if found is None:
        return None
    return {"name": name, **{key: found[key] for key in _CHANGEABLE}}


def save_subscription_definition(
    conn: Connection, actor: Principal, definition: dict[str, Any], allowlist: Allowlist
) -> None:
    """Create or change the subscription ``definition`` names (a new one gets a new
    secret, which its operator then sets or rotates: a credential is not configuration)."""
    name = definition.get("name")
    if isinstance(name, str) and subscription_definition(conn, name) is not None:
        changes = {key: value for key, value in definition.items() if key != "name"}
        update_subscription(conn, actor, name, changes, allowlist)
    else:
        create_subscription(conn, actor, definition, allowlist)


def _attempt_view(row: Any) -> dict[str, Any]:
    return {
        "delivery": row["delivery_id"],
        "event_id": row["event_id"],
        "attempted_at": row["attempted_at"],
        "duration_ms": row["duration_ms"],
        "status_code": row["status_code"],
        "error": row["error"],
        "response": row["response"],
    }


def _counts(conn: Connection, subscription_ids: list[int]) -> dict[int, dict[str, int]]:
    rows = conn.execute(
        select(webhook_delivery.c.subscription_id, webhook_delivery.c.status, func.count())
        .where(webhook_delivery.c.subscription_id.in_(subscription_ids))
        .group_by(webhook_delivery.c.subscription_id, webhook_delivery.c.status)
    ).all()
    result = {i: {PENDING: 0, DELIVERED: 0, DEAD: 0} for i in subscription_ids}
    for subscription_id, status, count in rows:
        result[subscription_id][status] = count
    return result


def list_subscriptions(conn: Connection, actor: Principal) -> list[dict[str, Any]]:
    """Every subscription with its queue depth, dead and delivered counts."""
    require_configure(actor)
    rows = list(
        conn.execute(select(webhook_subscription).order_by(webhook_subscription.c.name)).mappings()
    )
    counts = _counts(conn, [r["id"] for r in rows])
    return [
        {
            **subscription_view(r),
            "queue": counts[r["id"]][PENDING],
            "dead": counts[r["id"]][DEAD],
            "delivered": counts[r["id"]][DELIVERED],
        }
        for r in rows
    ]


def subscription_status(
    conn: Connection, actor: Principal, name: str, *, failures: int = 20
) -> dict[str, Any]:
    """What the delivery monitor shows for one subscription.

    The subscription, ``queue`` (deliveries waiting, including retries),
    ``dead`` and ``delivered`` counts, ``last_success`` (time of the latest
    delivered event), ``backlog`` (outbox events not yet looked at) and
    ``failures``: the latest failed attempts, newest first, each with the
    HTTP status and the start of the answer received, or the network error.
    """
    require_configure(actor)
    row = _row(conn, name)
    counts = _counts(conn, [row["id"]])[row["id"]]
    last_success = conn.execute(
        select(func.max(webhook_delivery.c.delivered_at)).where(
            webhook_delivery.c.subscription_id == row["id"]
        )
    ).scalar()
    failed = conn.execute(
        select(webhook_attempt, webhook_delivery.c.event_id)
        .join(webhook_delivery, webhook_delivery.c.id == webhook_attempt.c.delivery_id)
        .where(
            webhook_delivery.c.subscription_id == row["id"],
            (webhook_attempt.c.status_code.is_(None))
            | (webhook_attempt.c.status_code < 200)
            | (webhook_attempt.c.status_code >= 300),
        )
        .order_by(webhook_attempt.c.id.desc())
        .limit(failures)
    ).mappings()
    return {
        **subscription_view(row),
        "queue": counts[PENDING],
        "dead": counts[DEAD],
        "delivered": counts[DELIVERED],
        "last_success": last_success,
        "backlog": max(0, feed_head(conn) - row["last_event_id"]),
        "failures": [_attempt_view(r) for r in failed],
    }


def list_deliveries(
    conn: Connection,
    actor: Principal,
    name: str,
    *,
    status: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """Deliveries of one subscription, newest first (``status``: pending, delivered, dead).

    Returns ``{"items": [...], "next": <before for the next page> or None}``.
    """
    require_configure(actor)
    row = _row(conn, name)
    if status is not None and status not in (PENDING, DELIVERED, DEAD):
        raise ValidationFailed(
            "Bad delivery filter.", [FieldError("status", "must be pending, delivered or dead")]
        )
    if not 1 <= limit <= 500:
        raise ValidationFailed("Bad paging.", [FieldError("limit", "must be 1 to 500")])
    conditions = [webhook_delivery.c.subscription_id == row["id"]]
    if status:
        conditions.append(webhook_delivery.c.status == status)
    if before:
        conditions.append(webhook_delivery.c.id < before)
    rows = list(
        conn.execute(
            select(webhook_delivery)
            .where(*conditions)
            .order_by(webhook_delivery.c.id.desc())
            .limit(limit + 1)
        ).mappings()
    )
    items = [delivery_view(r) for r in rows[:limit]]
    return {"items": items, "next": items[-1]["id"] if len(rows) > limit else None}


def delivery_view(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "event_id": row["event_id"],
        "status": row["status"],
        "attempts": row["attempts"],
        "next_attempt_at": row["next_attempt_at"] if row["status"] == PENDING else None,
        "last_attempt_at": row["last_attempt_at"],
        "last_status": row["last_status"],
        "last_error": row["last_error"],
        "delivered_at": row["delivered_at"],
        "created_at": row["created_at"],
    }


def replay_dead(
    conn: Connection,
    actor: Principal,
    name: str,
    *,
    delivery_ids: list[int] | None = None,
    now: datetime | None = None,
) -> int:
    """Send dead deliveries again (all of them, or those in ``delivery_ids``).

    Each gets a fresh set of attempts, due at once. Audited as
    ``webhook.replay`` with the deliveries' ids; returns how many were revived.
    """
    require_configure(actor)
    row = _row(conn, name)
    conditions = [
        webhook_delivery.c.subscription_id == row["id"],
        webhook_delivery.c.status == DEAD,
    ]
    if delivery_ids is not None:
        conditions.append(webhook_delivery.c.id.in_(delivery_ids))
    ids = sorted(conn.execute(select(webhook_delivery.c.id).where(*conditions)).scalars())
    if delivery_ids is not None and set(delivery_ids) - set(ids):
        missing = sorted(set(delivery_ids) - set(ids))
        raise ValidationFailed(
            "Only dead deliveries of this webhook can be replayed.",
            [FieldError("ids", f"not dead deliveries of '{name}': {missing}")],
        )
    if not ids:
        return 0
    conn.execute(
        update(webhook_delivery)
        .where(webhook_delivery.c.id.in_(ids))
        .values(
            status=PENDING,
            attempts=0,
            next_attempt_at=now or utc_now(),
            claimed_until=None,
            claim_token=None,
        )
    )
    append(
        conn,
        [
            AuditEntry(
                actor=actor.username,
                action="webhook.replay",
                details={"webhook": name, "deliveries": ids},
            )
        ],
    )
    return len(ids)
