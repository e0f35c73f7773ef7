"""``labledger audit verify``: prove the stored data is what the audit trail says.

Three passes, each a single streaming read:

1. **The chain.** Every event in sequence order: its own hash recomputed from
   its stored fields, its link to the event before it in its lane, no
   position missing in any lane; then every lane's tip in ``audit_head``
   (one row per lane), every checkpoint event's record of the lanes' tips
   and, if given, a checkpoint kept outside the system. An edited event
   fails its own hash, a removed one leaves a gap in its lane, one inserted
   or reordered by hand breaks a link, a rewrite of the whole chain no longer
   contains the checkpoint.
2. **What the events produced.** While walking, the last result hash of every
   record, role and configuration version, and every signature event, are
   remembered (see ``audit.results``).
3. **The live rows.** Every record, signature, configuration version and
   role is hashed as it is stored now and compared with the event that
   produced it. A row changed, added or removed outside the platform is
   named with the event and the column or field that differs.

Rows written before events carried result hashes cannot be proved this way;
they are counted as *not provable*, not reported as tampered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Connection, Select, select

from labledger.audit.checkpoints import CHECKPOINT_ACTION, Checkpoint
from labledger.audit.results import (
    StoredRow,
    change_approval_result,
    change_content,
    change_request_result,
    config_result,
    control_setting_result,
    record_result,
    role_result,
)
from labledger.audit.trail import GENESIS_HASH, LANES, AuditEntry, append, event_intact
from labledger.bundles.importer import BUNDLE_KIND, IMPORT_ACTION
from labledger.canonical import content_hash, iso_utc
from labledger.change_gate import APPROVE_ACTION, CHANGE_ACTION_PREFIX, CONTROL_ACTION
from labledger.db.tables import (
    audit_event,
    audit_head,
    change_approval,
    change_control_setting,
    change_request,
    change_request_item,
    config_item,
    config_version,
    record,
    role,
)
from labledger.db.tables import signature as signature_table
from labledger.identity.roles import ROLE_SAVE_ACTION
from labledger.metadata.publishing import PUBLISH_ACTION
from labledger.workflows.signatures import SIGN_ACTION, matches_event

#: More discrepancies than this are counted, not listed (a wholesale edit names thousands).
MAX_LISTED = 200
#: The signature columns an audit event's details name, for saying which one differs.
_SIGNED_DETAILS = ("transition", "meaning", "signer", "printed_name", "record_version")


@dataclass(frozen=True)
class Discrepancy:
    """One thing that is not as the audit trail says, named so a person can find it."""

    kind: str  # chain, head, checkpoint, record, signature, configuration, role, change
    message: str
    seq: int | None = None
    record_number: str | None = None
    field: str | None = None


@dataclass
class VerifyReport:
    """What was checked and every discrepancy found (the first ``MAX_LISTED``)."""

    events: int = 0
    records: int = 0
    signatures: int = 0
    config_versions: int = 0
    roles: int = 0
    #: Change requests, their approvals and changes of the change-control setting.
    changes: int = 0
    #: Rows written before events carried result hashes: checked by the chain only.
    not_provable: int = 0
    checkpoint: Checkpoint | None = None
    discrepancies: list[Discrepancy] = field(default_factory=list)
    unlisted: int = 0

    @property
    def ok(self) -> bool:
        return not self.discrepancies

    @property
    def problem_count(self) -> int:
        return len(self.discrepancies) + self.unlisted

    def summary(self) -> str:
        """One line saying what was proved, or how much is wrong."""
        checked = (
            f"{_counted(self.events, 'event')}, {_counted(self.records, 'record')}, "
            f"{_counted(self.signatures, 'signature')}, "
            f"{_counted(self.config_versions, 'configuration version')}, "
            f"{_counted(self.roles, 'role')} "
            f"and {_counted(self.changes, 'change-control row')}"
        )
        unproved = (
            f" ({self.not_provable:,} rows written before result hashes: chain only)"
            if self.not_provable
            else ""
        )
        at = f" up to checkpoint {self.checkpoint.seq}" if self.checkpoint else ""
        if self.ok:
            return f"Audit trail intact{at}: {checked} verified{unproved}."
        found = _counted(self.problem_count, "discrepancy", "discrepancies")
        return f"AUDIT TRAIL NOT INTACT: {found} in {checked}."

    @property
    def full(self) -> bool:
        """True once further discrepancies are only counted, not listed."""
        return len(self.discrepancies) >= MAX_LISTED

    def add(self, *args: Any, **kwargs: Any) -> None:
        if not self.full:
            self.discrepancies.append(Discrepancy(*args, **kwargs))
        else:
            self.unlisted += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "records": self.records,
            "signatures": self.signatures,
            "config_versions": self.config_versions,
            "roles": self.roles,
            "changes": self.changes,
            "not_provable": self.not_provable,
            "checkpoint": self.checkpoint.text if self.checkpoint else None,
            "summary": self.summary(),
            "problem_count": self.problem_count,
            "discrepancies": [d.__dict__ for d in self.discrepancies],
        }


def _counted(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


class _SignEvent(NamedTuple):
    """What ``signatures.matches_event`` reads of a signature's event."""

    action: str
    record_id: int | None
    type_key: str | None
    details: dict[str, Any] | None
    result_hash: str | None


#: (kind, key, version) of a configuration version as its event names it: the
#: parts the event's details lack are None.
_ConfigTarget = tuple[str | None, str | None, int | None]


@dataclass
class _Produced:
    """What the chain says it produced, gathered while walking it."""

    #: record id -> (seq, result hash) of its last event with a result.
    records: dict[int, tuple[int, str]] = field(default_factory=dict)
    #: record ids with any event at all (also those written before result hashes).
    touched_records: set[int] = field(default_factory=set)
    numbers: dict[int, str] = field(default_factory=dict)
    #: seq -> the signature event.
    signs: dict[int, _SignEvent] = field(default_factory=dict)
    #: (kind, key, version) -> (seq, result hash or None, v1 body hash or None).
    configs: dict[_ConfigTarget, tuple[int, str | None, str | None]] = field(default_factory=dict)
    #: role key -> (seq, result hash or None).
    roles: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    #: change request id -> its last event: (seq, action, details, result hash).
    changes: dict[int, tuple[int, str, dict[str, Any], str | None]] = field(default_factory=dict)
    #: seq -> result hash of each approval's event.
    approvals: dict[int, str | None] = field(default_factory=dict)
    #: change-control setting id -> (seq, result hash).
    settings: dict[int, tuple[int, str | None]] = field(default_factory=dict)

    def remember(self, row: Any) -> None:
        action, record_id, result = row.action, row.record_id, row.result_hash
        details = row.details if isinstance(row.details, dict) else {}
        if action == SIGN_ACTION:
            self.signs[row.seq] = _SignEvent(action, record_id, row.type_key, row.details, result)
        elif record_id is not None:
            self.touched_records.add(record_id)
            self.numbers[record_id] = row.record_number
            if result is not None:
                self.records[record_id] = (row.seq, result)
        elif action == PUBLISH_ACTION and (result or details.get("hash")):
            target = (details.get("kind"), details.get("key"), row.config_version)
            self.configs[target] = (row.seq, result, details.get("hash"))
        elif action == IMPORT_ACTION and details.get("bundle"):
            target = (BUNDLE_KIND, details.get("bundle"), row.config_version)
            self.configs[target] = (row.seq, result, None)
        elif action == ROLE_SAVE_ACTION and details.get("role"):
            self.roles[details["role"]] = (row.seq, result)
        elif action == CONTROL_ACTION and isinstance(details.get("setting"), int):
            self.settings[details["setting"]] = (row.seq, result)
        elif action.startswith(CHANGE_ACTION_PREFIX) and isinstance(
            details.get("change_request"), int
        ):
            self.changes[details["change_request"]] = (row.seq, action, details, result)
            if action == APPROVE_ACTION:
                self.approvals[row.seq] = result

    def number_of(self, record_id: int | None) -> str | None:
        """The number of a record the chain wrote (None for none, or an unknown one)."""
        return None if record_id is None else self.numbers.get(record_id)


def _stream(conn: Connection, statement: Select[Any], batch_size: int) -> Iterator[Any]:
    yield from conn.execution_options(yield_per=batch_size).execute(statement)


def verify(
    conn: Connection, *, checkpoint: Checkpoint | None = None, batch_size: int = 5000
) -> VerifyReport:
    """Check the chain and every row it vouches for; never raises on bad data."""
    report = VerifyReport(checkpoint=checkpoint)
    produced = _walk_chain(conn, report, batch_size)
    _check_records(conn, report, produced, batch_size)
    _check_signatures(conn, report, produced, batch_size)
    _check_configuration(conn, report, produced, batch_size)
    _check_roles(conn, report, produced)
    _check_change_requests(conn, report, produced)
    _check_approvals(conn, report, produced)
    _check_control_settings(conn, report, produced)
    return report


@dataclass
class _Lane:
    """Where the walk has got to in one lane: its last position and hash, and that
    event's sequence number (0 before the lane's first event)."""

    position: int = 0
    hash: str = GENESIS_HASH
    seq: int = 0


def _walk_chain(conn: Connection, report: VerifyReport, batch_size: int) -> _Produced:
    produced = _Produced()
    lanes = {lane: _Lane() for lane in range(1, LANES + 1)}
    wanted = report.checkpoint
    last_seq = 0
    for row in _stream(conn, select(audit_event).order_by(audit_event.c.seq), batch_size):
        seq = row.seq
        # Events written before lanes are lane 1, at their sequence number.
        lane_number, position = (1, seq) if row.lane is None else (row.lane, row.lane_seq)
        lane = lanes.get(lane_number)
        if lane is None:
            report.add(
                "chain", f"event {seq} names lane {lane_number}, which does not exist", seq=seq
            )
            lane = lanes[lane_number] = _Lane()
        if position != lane.position + 1:
            _report_gap(report, lane_number, lane, position, seq)
        elif row.prev_hash != lane.hash:
            report.add("chain", f"event {seq} does not link to event {lane.seq}", seq=seq)
        if not event_intact(row._mapping):
            report.add(
                "chain", f"event {seq} was altered", seq=seq, record_number=row.record_number
            )
        if row.action == CHECKPOINT_ACTION:
            _check_lanes_named(report, row, lanes)
        if wanted is not None and seq == wanted.seq and row.hash != wanted.hash:
            report.add(
                "checkpoint",
                f"event {seq} is not the event of the checkpoint: the chain was rewritten",
                seq=seq,
            )
        produced.remember(row)
        lane.position, lane.hash, lane.seq = position, row.hash, seq
        last_seq = seq
        report.events += 1
    if wanted is not None and wanted.seq > last_seq:
        report.add(
            "checkpoint",
            f"the checkpoint names event {wanted.seq}, but the chain ends at {last_seq}",
            seq=wanted.seq,
        )
    _check_heads(conn, report, lanes)
    return produced


def _report_gap(report: VerifyReport, number: int, lane: _Lane, position: int, seq: int) -> None:
    """An event whose position does not follow the last one of its lane."""
    first = lane.position + 1
    if position > first:
        missing = f"{first}" if position == first + 1 else f"{first}..{position - 1}"
        report.add(
            "chain",
            f"lane {number} is missing its event {missing}: event {seq} follows event {lane.seq}",
            seq=seq,
        )
    else:
        report.add(
            "chain",
            f"event {seq} takes position {position} of lane {number}, which event "
            f"{lane.seq} holds: it was added outside the platform",
            seq=seq,
        )


def _check_lanes_named(report: VerifyReport, row: Any, lanes: dict[int, _Lane]) -> None:
    """A checkpoint event names every lane's tip when it was taken; the walk must agree.

    Its own lane is not named (its link covers it). A lane rewritten before the
    checkpoint no longer ends where the checkpoint says.
    """
    details = row.details if isinstance(row.details, dict) else {}
    for number, position, tip_hash in details.get("lanes", ()):
        lane = lanes.get(number, _Lane())
        if (lane.position, lane.hash) != (position, tip_hash):
            report.add(
                "checkpoint",
                f"checkpoint event {row.seq} says lane {number} ended at position "
                f"{position}; the chain holds another history there",
                seq=row.seq,
            )


def _check_heads(conn: Connection, report: VerifyReport, lanes: dict[int, _Lane]) -> None:
    heads = {row.id: row for row in conn.execute(select(audit_head))}
    for extra in sorted(heads.keys() - range(1, LANES + 1)):
        report.add(
            "head", f"the chain tips (audit_head) hold a row for lane {extra}, which does not exist"
        )
    for number in range(1, LANES + 1):
        head, lane = heads.get(number), lanes[number]
        if head is None:
            report.add("head", f"the chain tip of lane {number} (audit_head) is missing")
        elif head.seq > lane.position:
            report.add(
                "head",
                f"lane {number} is missing its events {lane.position + 1}..{head.seq} "
                f"(after event {lane.seq})",
                seq=lane.seq,
            )
        elif head.seq < lane.position:
            report.add(
                "head",
                f"lane {number} holds events after its tip: event {lane.seq} was added "
                "outside the platform",
                seq=lane.seq,
            )
        elif head.hash != lane.hash:
            report.add(
                "head", f"event {lane.seq} does not match the tip of lane {number}", seq=lane.seq
            )


def _check_records(
    conn: Connection, report: VerifyReport, produced: _Produced, batch_size: int
) -> None:
    seen: set[int] = set()
    for row in _stream(conn, select(record), batch_size):
        report.records += 1
        seen.add(row.id)
        found = produced.records.get(row.id)
        if found is None:
            if row.id in produced.touched_records:
                report.not_provable += 1
            else:
                report.add(
                    "record",
                    f"record {row.number} has no audit event: it was written outside the platform",
                    record_number=row.number,
                )
            continue
        seq, expected = found
        if record_result(row._mapping) != expected:
            # Naming the field costs a query: only while the report still lists.
            names = _differing_fields(conn, row._mapping) if not report.full else []
            for name in names or ["row"]:
                report.add(
                    "record",
                    f"record {row.number} differs from event {seq} that wrote it last ({name})",
                    seq=seq,
                    record_number=row.number,
                    field=name,
                )
    for record_id in produced.records.keys() - seen:
        seq, _ = produced.records[record_id]
        number = produced.numbers.get(record_id)
        report.add(
            "record",
            f"record {number} was removed outside the platform (last event {seq})",
            seq=seq,
            record_number=number,
        )


def _differing_fields(conn: Connection, row: StoredRow) -> list[str]:
    """Which fields of a record that fails its hash differ from its audit history.

    The events' field-level new values are replayed to rebuild the data and
    state the trail says the record has; the columns no event lists by value
    (version, title, authors, times) are named together when only they differ.
    """
    data: dict[str, Any] = {}
    state = None  # a record's creation records the state it starts in, if any
    stored = row["data"] if isinstance(row["data"], dict) else {}
    changes = conn.execute(
        select(audit_event.c.changes)
        .where(audit_event.c.record_id == row["id"], audit_event.c.action != SIGN_ACTION)
        .order_by(audit_event.c.seq)
    ).scalars()
    for change in changes:
        for key, value in (change if isinstance(change, dict) else {}).items():
            if not isinstance(value, dict) or "new" not in value:
                continue
            if key == "state":
                state = value["new"]
            elif value["new"] is None:
                data.pop(key, None)
            else:
                data[key] = value["new"]
    names = [
        f"data.{key}"
        for key in sorted(set(data) | set(stored))
        if content_hash(data.get(key)) != content_hash(stored.get(key))
    ]
    if row["state"] != state:
        names.append("state")
    return names


def _check_signatures(
    conn: Connection, report: VerifyReport, produced: _Produced, batch_size: int
) -> None:
    matched: set[int] = set()
    for sig in _stream(conn, select(signature_table), batch_size):
        report.signatures += 1
        number = produced.number_of(sig.record_id)
        event = produced.signs.get(sig.audit_seq)
        content = sig.content if isinstance(sig.content, dict) else {}
        if content_hash(content) != sig.content_hash or content.get("record_id") != sig.record_id:
            report.add(
                "signature",
                f"signature {sig.id} on record {number}: the signed content was altered",
                seq=sig.audit_seq,
                record_number=number,
                field="content",
            )
        if not matches_event(sig._mapping, event):
            for name in _differing_signature_columns(sig._mapping, event):
                report.add(
                    "signature",
                    f"signature {sig.id} on record {number} differs from event "
                    f"{sig.audit_seq} that recorded it ({name})",
                    seq=sig.audit_seq,
                    record_number=number,
                    field=name,
                )
        elif sig.audit_seq in matched:
            report.add(
                "signature",
                f"signature {sig.id} on record {number} is a copy of another signature",
                seq=sig.audit_seq,
                record_number=number,
            )
        matched.add(sig.audit_seq)
    for seq in sorted(produced.signs.keys() - matched):
        number = produced.number_of(produced.signs[seq].record_id)
        report.add(
            "signature",
            f"the signature recorded by event {seq} on record {number} was removed",
            seq=seq,
            record_number=number,
        )


def _differing_signature_columns(sig: StoredRow, event: _SignEvent | None) -> list[str]:
    if event is None:
        return ["audit_seq"]
    details = event.details if isinstance(event.details, dict) else {}
    names = [name for name in _SIGNED_DETAILS if details.get(name) != sig[name]]
    if event.record_id != sig["record_id"]:
        names.append("record_id")
    if event.type_key != sig["type_key"]:
        names.append("type_key")
    if details.get("content_hash") != sig["content_hash"]:
        names.append("content_hash")
    if "signed_at" in details and details["signed_at"] != iso_utc(sig["signed_at"]):
        names.append("signed_at")
    return names or ["row"]


def _check_configuration(
    conn: Connection, report: VerifyReport, produced: _Produced, batch_size: int
) -> None:
    seen: set[tuple[str, str, int]] = set()
    latest: dict[tuple[str, str], int] = {}
    statement = select(
        config_version.c.kind, config_version.c.key, config_version.c.version, config_version.c.body
    )
    for row in _stream(conn, statement, batch_size):
        report.config_versions += 1
        target = (row.kind, row.key, row.version)
        seen.add(target)
        latest[row.kind, row.key] = max(latest.get((row.kind, row.key), 0), row.version)
        found = produced.configs.get(target)
        name = f"{row.kind} '{row.key}' version {row.version}"
        if found is None:
            report.add("configuration", f"{name} was not published through the platform")
            continue
        seq, result, legacy_hash = found
        if result is not None:
            intact = config_result(*target, row.body) == result
        elif legacy_hash is not None:
            intact = content_hash(row.body, 1) == legacy_hash
        else:
            report.not_provable += 1
            continue
        if not intact:
            report.add(
                "configuration",
                f"{name} differs from event {seq} that published it",
                seq=seq,
                field="body",
            )
    for kind, key, version in sorted(produced.configs.keys() - seen, key=repr):
        seq = produced.configs[kind, key, version][0]
        report.add(
            "configuration",
            f"{kind} '{key}' version {version} was removed (published by event {seq})",
            seq=seq,
        )
    items = select(config_item.c.kind, config_item.c.key, config_item.c.current_version)
    for item in conn.execute(items):
        last = latest.get((item.kind, item.key))
        if last is not None and item.current_version != last:
            report.add(
                "configuration",
                f"{item.kind} '{item.key}' is set to version {item.current_version}, "
                f"but version {last} was published last",
                field="current_version",
            )


def _check_roles(conn: Connection, report: VerifyReport, produced: _Produced) -> None:
    seen: set[str] = set()
    for row in conn.execute(select(role)):
        report.roles += 1
        seen.add(row.key)
        found = produced.roles.get(row.key)
        if found is None:
            report.add("role", f"role '{row.key}' was not saved through the platform")
        elif found[1] is None:
            report.not_provable += 1
        elif role_result(row._mapping) != found[1]:
            report.add(
                "role",
                f"role '{row.key}' differs from event {found[0]} that saved it",
                seq=found[0],
            )
    for key in sorted(produced.roles.keys() - seen):
        report.add("role", f"role '{key}' was removed (saved by event {produced.roles[key][0]})")


def _check_change_requests(conn: Connection, report: VerifyReport, produced: _Produced) -> None:
    """Each change request holds what its last event says: status and signed content."""
    items: dict[int, list[Any]] = {}
    for item in conn.execute(
        select(change_request_item).order_by(
            change_request_item.c.change_request_id, change_request_item.c.position
        )
    ):
        items.setdefault(item.change_request_id, []).append(item)
    seen = set()
    for row in conn.execute(select(change_request)):
        report.changes += 1
        seen.add(row.id)
        name = f"change request CR-{row.id}"
        parts = [
            (i.kind, i.key, i.base_version, i.base_hash, i.body) for i in items.get(row.id, [])
        ]
        if change_content(row.title, row.reason, row.origin, parts) != row.content_hash:
            report.add("change", f"{name}: its title, reason or items differ from its content hash")
        found = produced.changes.get(row.id)
        if found is None:
            report.add("change", f"{name} was not proposed through the platform")
            continue
        seq, action, details, result = found
        stated = (details.get("status"), details.get("content_hash"))
        if stated != (row.status, row.content_hash) or (
            action != APPROVE_ACTION
            and result is not None
            and change_request_result(row._mapping) != result
        ):
            report.add("change", f"{name} differs from event {seq} that last changed it", seq=seq)
    for change_id in sorted(produced.changes.keys() - seen):
        seq = produced.changes[change_id][0]
        report.add("change", f"change request CR-{change_id} was removed (event {seq})", seq=seq)


def _check_approvals(conn: Connection, report: VerifyReport, produced: _Produced) -> None:
    """Each approval is the signature its event recorded (like a record signature)."""
    _check_recorded(
        report,
        conn.execute(select(change_approval)),
        {seq: (seq, result) for seq, result in produced.approvals.items()},
        lambda row: row.audit_seq,
        lambda row: f"approval of CR-{row.change_request_id} by {row.signer}",
        change_approval_result,
    )


def _check_control_settings(conn: Connection, report: VerifyReport, produced: _Produced) -> None:
    """Each change of the change-control setting is the one its event recorded."""
    _check_recorded(
        report,
        conn.execute(select(change_control_setting)),
        produced.settings,
        lambda row: row.id,
        lambda row: f"change-control setting {row.id} ({'on' if row.enabled else 'off'})",
        control_setting_result,
    )


def _check_recorded(
    report: VerifyReport,
    rows: Iterable[Any],
    events: dict[int, tuple[int, str | None]],
    identity: Callable[[Any], int],
    name: Callable[[Any], str],
    result: Callable[[StoredRow], str],
) -> None:
    """Rows each written with one event ((seq, result hash) by the row's ``identity``):
    every row has its event and hashes as the event says; no event's row is gone."""
    seen = set()
    for row in rows:
        report.changes += 1
        seen.add(identity(row))
        found = events.get(identity(row))
        if found is None:
            report.add("change", f"{name(row)} was not written through the platform")
        elif result(row._mapping) != found[1]:
            report.add(
                "change", f"{name(row)} differs from event {found[0]} that wrote it", seq=found[0]
            )
    for key in sorted(events.keys() - seen):
        seq = events[key][0]
        report.add("change", f"the change-control row written by event {seq} was removed", seq=seq)


#: The audit action of a verification's outcome (``record_outcome``).
VERIFY_ACTION = "audit.verify"
#: Discrepancies an outcome event names (it always counts them all).
RECORDED_DISCREPANCIES = 20
#: Characters of a discrepancy an outcome event keeps.
RECORDED_MESSAGE_LENGTH = 300


def record_outcome(conn: Connection, actor: str, report: VerifyReport) -> None:
    """Keep what a verification found as an audit event, so a periodic review can state
    every failed verification (and how many passed) from the trail itself.

    The event names the outcome, the counts and the first discrepancies; it is
    written after the verification's own snapshot, so it is never part of
    what it verified.
    """
    append(
        conn,
        [
            AuditEntry(
                actor=actor,
                action=VERIFY_ACTION,
                details={
                    "ok": report.ok,
                    "summary": report.summary(),
                    "events": report.events,
                    "discrepancies": report.problem_count,
                    "checkpoint": report.checkpoint.seq if report.checkpoint else None,
                    "first": [
                        d.message[:RECORDED_MESSAGE_LENGTH]
                        for d in report.discrepancies[:RECORDED_DISCREPANCIES]
                    ],
                },
            )
        ],
    )
