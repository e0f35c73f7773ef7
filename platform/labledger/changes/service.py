"""The change-control procedure: propose, edit, approve by signature, reject, activate.

Every step is one service call that checks who may take it, writes the
change request and records an audit event carrying the request's status and
content hash (``audit verify`` holds the stored request to them). The
browser, the API and the command line call these and nothing else.

- *Propose*: an author with 'configure' opens a draft with a title and a
  reason and puts definitions into it (each checked at once by a rehearsal of
  the whole request, so problems are reported with their JSON paths).
- *Approve*: someone other than the author, holding 'approve_configuration',
  signs the request's content hash with password (21 CFR 11.200); an edit
  after a signature voids it. With enough approvals (a setting, default 1)
  the request is approved.
- *Reject*: a reviewer sends it back to draft with a reason.
- *Activate*: an approved request's definitions come into force in one
  transaction, now or at a chosen time; a request proposed against
  definitions that changed since is refused until rebased.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from labledger.audit.results import change_approval_result, change_request_result
from labledger.audit.trail import AuditEntry, append
from labledger.bundles.format import Bundle
from labledger.bundles.resolve import ROLE_KIND
from labledger.change_gate import APPROVE_ACTION, control_setting
from labledger.changes.activation import (
    CHANGE_KINDS,
    KIND_NOUN,
    SECTION_OF_KIND,
    StaleItem,
    active_definition,
    apply_items,
    stale_items,
)
from labledger.changes.promotion import promoted_definitions, promoted_from
from labledger.changes.review import overtaken
from labledger.changes.store import (
    BUNDLE_ITEM,
    ChangeItem,
    ChangeRequest,
    Status,
    insert_approval,
    insert_request,
    load,
    set_fields,
    write_content,
)
from labledger.db.engine import Database
from labledger.db.jsonfields import NUL_MESSAGE
from labledger.db.tables import change_request
from labledger.db.types import utc_now
from labledger.errors import Conflict, FieldError, Forbidden, ValidationFailed
from labledger.identity.principal import (
    APPROVE_CONFIGURATION,
    CONFIGURE,
    READ_AUDIT,
    SYSTEM,
    Principal,
)
from labledger.integration.subscriptions import WEBHOOK_KIND
from labledger.metadata import versions
from labledger.metadata.diff import diff_definitions
from labledger.workflows.signing import SignatureInput, SigningSession, verify_signer

#: What an approver's signature means (21 CFR 11.50(a)(3)).
APPROVAL_MEANING = "Configuration approval"
TITLE_MAX = 200
REASON_MAX = 4000


@dataclass(frozen=True)
class ProposedItem:
    """A definition to put into a change request."""

    kind: str
    key: str
    body: dict[str, Any]


# --- proposing and editing ---------------------------------------------------


def propose(
    conn: Connection,
    actor: Principal,
    *,
    title: str,
    reason: str,
    items: Sequence[ProposedItem] = (),
    bundles: Sequence[Bundle] = (),
    origin: dict[str, Any] | None = None,
) -> ChangeRequest:
    """Open a draft change request holding ``items`` and importing ``bundles`` whole
    (checked now by a rehearsal, so problems come back with their JSON paths)."""
    _require(actor, CONFIGURE, "Proposing a configuration change")
    title, reason = _checked_text(title, reason)
    items, bundles, origin = _unfold_promotion(items, bundles, origin)
    now = utc_now()
    change_id = insert_request(
        conn, title=title, reason=reason, origin=origin, actor=actor.username, now=now
    )
    change = load(conn, change_id)
    if items or bundles:
        proposed = [*_bundle_items(bundles), *_with_items(conn, change, items)]
        change = _write_items(conn, actor, change, proposed, now=now)
    return _recorded(
        conn,
        actor,
        change.id,
        "change.propose",
        reason=reason,
        changes=_diffs(conn, change) or None,
    )


def _unfold_promotion(
    items: Sequence[ProposedItem], bundles: Sequence[Bundle], origin: dict[str, Any] | None
) -> tuple[Sequence[ProposedItem], Sequence[Bundle], dict[str, Any] | None]:
    """A promotion bundle's definitions proposed one by one, its provenance the origin.

    Its definitions are compared with what is active here, not imported as a
    bundle: the reviewers here see their own differences and impact.
    """
    promotions = [(b, promoted_from(b)) for b in bundles]
    promoted = [(b, found) for b, found in promotions if found is not None]
    if not promoted:
        return items, bundles, origin
    if len(bundles) != 1 or promoted[0][0].section("records"):
        raise ValidationFailed(
            "A promoted change request is proposed on its own, without records.",
            [FieldError("bundles", "propose the promotion bundle alone")],
        )
    bundle, provenance = promoted[0]
    unfolded = [ProposedItem(kind, key, body) for kind, key, body in promoted_definitions(bundle)]
    return [*items, *unfolded], (), origin or provenance


def propose_bundles(
    conn: Connection,
    actor: Principal,
    bundles: Sequence[Bundle],
    *,
    title: str,
    reason: str,
    origin: dict[str, Any] | None = None,
) -> ChangeRequest:
    """Open a change request importing each of ``bundles`` whole."""
    return propose(conn, actor, title=title, reason=reason, bundles=bundles, origin=origin)


def install(
    conn: Connection,
    roles: Sequence[dict[str, Any]],
    bundles: Sequence[Bundle],
    *,
    title: str,
    reason: str,
) -> ChangeRequest:
    """Record what ``labledger init`` installs as an active change request, by the system.

    The first configuration of an installation has nothing to be compared
    with and nobody to approve it yet: it is recorded, not approved, as the
    initial configuration (change request 1). Only ``labledger init`` calls
    this, for a database without configuration.
    """
    now = utc_now()
    change_id = insert_request(
        conn, title=title, reason=reason, origin={"installed": True}, actor=SYSTEM.username, now=now
    )
    items = [ChangeItem(ROLE_KIND, r["key"], 0, None, None, r) for r in roles]
    items += _bundle_items(bundles)
    write_content(conn, load(conn, change_id), items, actor=SYSTEM.username, now=now)
    apply_items(conn, SYSTEM, load(conn, change_id), rehearsal=False)
    set_fields(
        conn,
        change_id,
        actor=SYSTEM.username,
        now=now,
        status=str(Status.ACTIVE),
        activated_at=now,
        activated_by=SYSTEM.username,
    )
    return _recorded(conn, SYSTEM, change_id, "change.install", reason=reason)


def _bundle_items(bundles: Sequence[Bundle]) -> list[ChangeItem]:
    return [
        ChangeItem(BUNDLE_ITEM, b.name, n, None, None, {"document": b.body, "sha256": b.sha256})
        for n, b in enumerate(bundles)
    ]


def propose_revert(
    conn: Connection, actor: Principal, *, kind: str, key: str, version: int, reason: str
) -> ChangeRequest:
    """A change request that brings back an earlier version of an item (a rollback)."""
    known = kind in SECTION_OF_KIND and "\x00" not in key  # the database stores no NUL
    body = versions.body_at(conn, kind, key, version) if known else None
    if body is None:
        raise ValidationFailed(
            "There is no such version to go back to.",
            [FieldError("version", f"{_noun(kind, key)} has no version {version}")],
        )
    return propose(
        conn,
        actor,
        title=f"Roll back {_noun(kind, key)} to version {version}",
        reason=reason,
        items=[ProposedItem(kind, key, body)],
    )


def put_item(
    conn: Connection, actor: Principal, change_id: int, item: ProposedItem
) -> ChangeRequest:
    """Add or replace one definition in the author's draft."""
    change = _editable(conn, actor, change_id)
    items = _with_items(conn, change, [item])
    before = change.item(item.kind, item.key)
    old = before.body if before else active_definition(conn, item.kind, item.key).body
    _write_items(conn, actor, change, items)
    return _recorded(
        conn,
        actor,
        change.id,
        "change.edit",
        changes={f"{item.kind}:{item.key}": diff_definitions(old, _body_of(items, item))},
    )


def remove_item(
    conn: Connection, actor: Principal, change_id: int, kind: str, key: str
) -> ChangeRequest:
    """Take one definition out of the author's draft."""
    change = _editable(conn, actor, change_id)
    if change.item(kind, key) is None:
        raise ValidationFailed(
            f"{change.label} does not propose {_noun(kind, key)}.",
            [FieldError("item", f"{_noun(kind, key)} is not in it")],
        )
    remaining = [i for i in change.items if (i.kind, i.key) != (kind, key)]
    _write_items(conn, actor, change, remaining)
    return _recorded(conn, actor, change.id, "change.edit", details={"removed": f"{kind}:{key}"})


def retitle(
    conn: Connection, actor: Principal, change_id: int, *, title: str, reason: str
) -> ChangeRequest:
    """Change the title and reason of the author's draft (approvals of it are void)."""
    change = _editable(conn, actor, change_id)
    title, reason = _checked_text(title, reason)
    write_content(
        conn, change, change.items, actor=actor.username, now=utc_now(), title=title, reason=reason
    )
    return _recorded(conn, actor, change.id, "change.edit", reason=reason)


def rebase(conn: Connection, actor: Principal, change_id: int) -> ChangeRequest:
    """Propose the same definitions against what is active now (after another change).

    The request's differences are then shown against the new active
    definitions, and approvals of the old base no longer count.
    """
    change = _editable(conn, actor, change_id)
    stale = stale_items(conn, change)
    if not stale:
        raise Conflict(f"{change.label} is based on the active definitions already.")
    rebased = [_based_on_active(conn, item) for item in change.items]
    _write_items(conn, actor, change, rebased)
    return _recorded(
        conn, actor, change.id, "change.rebase", details={"rebased": [s.describe() for s in stale]}
    )


def withdraw(conn: Connection, actor: Principal, change_id: int, reason: str) -> ChangeRequest:
    """The author gives the request up; it stays on record, withdrawn."""
    change = _editable(conn, actor, change_id, allow_approved=True)
    reason = _given_reason(reason, "Say why the change is withdrawn.")
    set_fields(conn, change.id, actor=actor.username, now=utc_now(), status=str(Status.WITHDRAWN))
    return _recorded(conn, actor, change.id, "change.withdraw", reason=reason)


# --- review -------------------------------------------------------------------


def approve(
    db: Database,
    actor: Principal,
    change_id: int,
    *,
    content_hash: str,
    credentials: SignatureInput | None,
    session: SigningSession | None,
    throttled: bool = False,
) -> ChangeRequest:
    """Sign ``content_hash`` of the request as its approver ("Configuration approval").

    ``content_hash`` is the content the approver reviewed: a request edited
    since is refused, so nobody signs what they did not see. The password is
    checked (and a wrong one audited) before anything else is written.
    """
    _require(actor, APPROVE_CONFIGURATION, "Approving a configuration change")
    with db.read() as conn:
        _approvable(conn, actor, load(conn, change_id), content_hash)
    signer = verify_signer(db, actor, credentials, session=session, throttled=throttled)
    with db.write() as conn:
        change = load(conn, change_id, for_update=True)
        _approvable(conn, signer, change, content_hash)
        apply_items(conn, SYSTEM, change, rehearsal=True)  # the definitions, not the signer
        now = utc_now()
        manifest = {
            "change_request_id": change.id,
            "signer": signer.username,
            "printed_name": signer.full_name,
            "meaning": APPROVAL_MEANING,
            "content_hash": change.content_hash,
            "signed_at": now,
        }
        approvals = len(change.valid_approvals) + 1
        status = (
            Status.APPROVED
            if approvals >= control_setting(conn).approvals_required
            else Status.DRAFT
        )
        set_fields(
            conn, change.id, actor=signer.username, now=now, status=str(status), rejection=None
        )
        row = _row(conn, change.id)
        seq = append(
            conn,
            [
                AuditEntry(
                    actor=signer.username,
                    action=APPROVE_ACTION,
                    details={
                        **_state_details(row),
                        "meaning": APPROVAL_MEANING,
                        "printed_name": signer.full_name,
                        "approvals": approvals,
                    },
                    result_hash=change_approval_result(manifest),
                )
            ],
        )[-1]
        insert_approval(conn, manifest, audit_seq=seq)
        return load(conn, change.id)


def _approvable(
    conn: Connection, signer: Principal, change: ChangeRequest, content_hash: str
) -> None:
    """Refuse an approval that the procedure does not allow, saying why."""
    if change.status != Status.DRAFT:
        raise Conflict(f"{change.label} is {change.status}: only a draft under review is approved.")
    if not change.items:
        raise Conflict(f"{change.label} proposes nothing yet.")
    if content_hash != change.content_hash:
        raise Conflict(
            f"{change.label} changed after you reviewed it: review it again before signing.",
            extra={"content_hash": change.content_hash},
        )
    if signer.username == change.created_by:
        raise Forbidden(f"You proposed {change.label}: its approval must come from someone else.")
    if any(a.signer == signer.username for a in change.valid_approvals):
        raise Conflict(f"You have approved {change.label} already.")
    _refuse_stale(conn, change, stale_items(conn, change))


def reject(conn: Connection, actor: Principal, change_id: int, reason: str) -> ChangeRequest:
    """Send the request back to its author with ``reason``."""
    _require(actor, APPROVE_CONFIGURATION, "Rejecting a configuration change")
    change = load(conn, change_id, for_update=True)
    if change.status not in (Status.DRAFT, Status.APPROVED, Status.SCHEDULED):
        raise Conflict(f"{change.label} is {change.status}: it cannot be rejected.")
    reason = _given_reason(reason, "A rejection needs a reason for the author.")
    set_fields(
        conn,
        change.id,
        actor=actor.username,
        now=utc_now(),
        status=str(Status.DRAFT),
        rejection=reason,
        activate_at=None,
    )
    return _recorded(conn, actor, change.id, "change.reject", reason=reason)


# --- activation ------------------------------------------------------------------


def activate(
    conn: Connection, actor: Principal, change_id: int, *, at: datetime | None = None
) -> ChangeRequest:
    """Bring an approved request into force now, or schedule it for ``at``.

    Activation is the caller's one transaction: every item or none.
    """
    _require(actor, CONFIGURE, "Activating a configuration change")
    change = load(conn, change_id, for_update=True)
    if change.status not in (Status.APPROVED, Status.SCHEDULED):
        raise Conflict(f"{change.label} is {change.status}: only an approved change is activated.")
    needed = control_setting(conn).approvals_required
    if len(change.valid_approvals) < needed:
        raise Conflict(
            f"{change.label} has {len(change.valid_approvals)} valid approval(s) of {needed}."
        )
    now = utc_now()
    if at is not None and at > now:
        values: dict[str, Any] = {"status": str(Status.SCHEDULED), "activate_at": at}
        action = "change.schedule"
    else:
        _refuse_stale(conn, change, stale_items(conn, change))
        apply_items(conn, actor, change, rehearsal=False)
        values = {"status": str(Status.ACTIVE), "activated_at": now, "activated_by": actor.username}
        action = "change.activate"
    set_fields(conn, change.id, actor=actor.username, now=now, **values)
    return _recorded(conn, actor, change.id, action)


@dataclass(frozen=True)
class DueActivations:
    """What ``activate_due`` did: the requests activated, and why others could not be."""

    activated: list[ChangeRequest]
    refused: list[tuple[int, str]]


def activate_due(db: Database, actor: Principal, now: datetime | None = None) -> DueActivations:
    """Activate every scheduled request whose time has come, each in its own transaction.

    One that cannot be activated (its definitions changed meanwhile: it needs
    a rebase) stays scheduled and is reported; another worker that activated
    one first is not an error.
    """
    with db.read() as conn:
        due = due_for_activation(conn, now or utc_now())
    done = DueActivations([], [])
    for change_id in due:
        try:
            with db.write() as conn:
                done.activated.append(activate(conn, actor, change_id))
        except Conflict as exc:
            done.refused.append((change_id, exc.detail))
    return done


def due_for_activation(conn: Connection, now: datetime) -> list[int]:
    """Scheduled requests whose time has come, oldest first."""
    return list(
        conn.execute(
            select(change_request.c.id)
            .where(
                change_request.c.status == str(Status.SCHEDULED),
                change_request.c.activate_at <= now,
            )
            .order_by(change_request.c.activate_at, change_request.c.id)
        ).scalars()
    )


# --- shared steps -------------------------------------------------------------------

#: Who may read change requests: whoever proposes, approves or audits configuration.
READERS = (CONFIGURE, APPROVE_CONFIGURATION, READ_AUDIT)


def require_reader(actor: Principal) -> None:
    """Refuse reading change requests to a user who takes no part in change control."""
    if not any(actor.has_permission(p) for p in READERS):
        raise Forbidden(
            "Change requests are for those who configure, approve configuration or read the "
            "audit trail."
        )


def _require(actor: Principal, permission: str, what: str) -> None:
    if not actor.has_permission(permission):
        raise Forbidden(f"{what} needs the '{permission}' permission.")


def _checked_text(title: str, reason: str) -> tuple[str, str]:
    title, reason = title.strip(), reason.strip()
    problems = {
        "title": _text_problem(title, TITLE_MAX) if title else "give the change a title",
        "reason": _text_problem(reason, REASON_MAX)
        if reason
        else "say why the configuration changes",
    }
    if errors := [FieldError(name, problem) for name, problem in problems.items() if problem]:
        raise ValidationFailed("The change request is not valid.", errors)
    return title, reason


def _given_reason(reason: str, missing: str) -> str:
    """``reason`` without surrounding space; refused (``missing`` says why it is needed)
    when empty, too long, or holding what the database cannot store."""
    reason = reason.strip()
    if problem := _text_problem(reason, REASON_MAX) if reason else "required":
        raise ValidationFailed(missing, [FieldError("reason", problem)])
    return reason


def _text_problem(text: str, limit: int) -> str | None:
    """What is wrong with ``text`` a user typed, if anything: its length or a NUL."""
    if len(text) > limit:
        return f"at most {limit} characters"
    return NUL_MESSAGE if "\x00" in text else None


def _noun(kind: str, key: str) -> str:
    return f"{KIND_NOUN.get(kind, kind)} '{key}'"


def _editable(
    conn: Connection, actor: Principal, change_id: int, *, allow_approved: bool = False
) -> ChangeRequest:
    """The author's request, in a status that may still change."""
    _require(actor, CONFIGURE, "Editing a configuration change")
    change = load(conn, change_id, for_update=True)
    allowed = (
        (Status.DRAFT, Status.APPROVED, Status.SCHEDULED)
        if allow_approved
        else (
            Status.DRAFT,
            Status.APPROVED,
        )
    )
    if change.status not in allowed:
        raise Conflict(f"{change.label} is {change.status}: it can no longer be changed.")
    if change.created_by != actor.username:
        raise Forbidden(f"Only {change.created_by}, who proposed {change.label}, can change it.")
    return change


def _with_items(
    conn: Connection, change: ChangeRequest, proposed: Sequence[ProposedItem]
) -> list[ChangeItem]:
    """The request's items with ``proposed`` added or replacing theirs (keeping their base)."""
    items = list(change.items)
    for new in proposed:
        body = _keyed_body(new)
        found = change.item(new.kind, new.key)
        if found is not None:
            items[items.index(found)] = replace(found, body=body)
            continue
        active = active_definition(conn, new.kind, new.key)
        items.append(ChangeItem(new.kind, new.key, len(items), active.version, active.hash, body))
    return items


def _keyed_body(item: ProposedItem) -> dict[str, Any]:
    if item.kind not in CHANGE_KINDS:
        raise ValidationFailed(
            "A change request holds object types, workflows, roles, import mappings, "
            "print templates, dashboards and webhooks.",
            [FieldError("kind", f"'{item.kind}' is not a configuration kind")],
        )
    identity = "name" if item.kind == WEBHOOK_KIND else "key"
    if item.body.get(identity, item.key) != item.key:
        raise ValidationFailed(
            f"The definition's {identity} differs from the item's.",
            [FieldError(f"body.{identity}", f"must be '{item.key}'")],
        )
    return {**item.body, identity: item.key}


def _body_of(items: Sequence[ChangeItem], wanted: ProposedItem) -> dict[str, Any]:
    return next(i.body for i in items if (i.kind, i.key) == (wanted.kind, wanted.key))


def _based_on_active(conn: Connection, item: ChangeItem) -> ChangeItem:
    if item.kind == BUNDLE_ITEM:
        return item
    active = active_definition(conn, item.kind, item.key)
    return replace(item, base_version=active.version, base_hash=active.hash)


def _write_items(
    conn: Connection,
    actor: Principal,
    change: ChangeRequest,
    items: Sequence[ChangeItem],
    *,
    now: datetime | None = None,
) -> ChangeRequest:
    """Check ``items`` by a rehearsal of the request holding them, then store them,
    numbered in the order given (problems name an item by its position)."""
    items = [replace(item, position=position) for position, item in enumerate(items)]
    proposed = replace(change, items=tuple(items))
    apply_items(conn, actor, proposed, rehearsal=True)
    write_content(conn, change, items, actor=actor.username, now=now or utc_now())
    return load(conn, change.id)


def _refuse_stale(conn: Connection, change: ChangeRequest, stale: list[StaleItem]) -> None:
    """Refuse a request proposed against definitions another change has changed since,
    showing both: what changed meanwhile, and what this request changes."""
    if stale:
        raise Conflict(
            f"{change.label} was proposed against definitions that changed since: "
            + "; ".join(s.describe() for s in stale)
            + ". Its author must rebase it (and review the new differences) first.",
            extra={"stale": [_both_changes(conn, change, s) for s in stale]},
        )


def _both_changes(conn: Connection, change: ChangeRequest, stale: StaleItem) -> dict[str, Any]:
    both = overtaken(conn, change, stale)
    return {
        "kind": stale.kind,
        "key": stale.key,
        "changed_meanwhile": [s.text for s in both.meanwhile],
        "this_request": [s.text for s in both.proposed],
    }


def _diffs(conn: Connection, change: ChangeRequest) -> dict[str, Any]:
    """What each proposed definition changes against the active one, for the audit trail."""
    return {
        f"{i.kind}:{i.key}": diff_definitions(active_definition(conn, i.kind, i.key).body, i.body)
        for i in change.items
        if i.kind != BUNDLE_ITEM
    }


def _row(conn: Connection, change_id: int) -> Any:
    return (
        conn.execute(select(change_request).where(change_request.c.id == change_id))
        .mappings()
        .one()
    )


def _state_details(row: Any) -> dict[str, Any]:
    """What every change-control event says of the request after it."""
    return {
        "change_request": row["id"],
        "status": row["status"],
        "content_hash": row["content_hash"],
    }


def _recorded(
    conn: Connection,
    actor: Principal,
    change_id: int,
    action: str,
    *,
    reason: str | None = None,
    changes: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> ChangeRequest:
    """Audit ``action`` on the request, with its stored state as the event's result."""
    row = _row(conn, change_id)
    append(
        conn,
        [
            AuditEntry(
                actor=actor.username,
                action=action,
                reason=reason,
                changes=changes,
                details={**_state_details(row), **(details or {})},
                result_hash=change_request_result(row),
            )
        ],
    )
    return load(conn, change_id)
