"""``labledger changes``: the change-control procedure from the command line.

The same steps as the browser and the API, each a person's act: the person
proves who they are with an API token in ``LABLEDGER_TOKEN`` or their
password at the prompt (``--user``), and an approval is their electronic
signature, so it always takes their password (typed, or one line of standard
input with ``--password-stdin``). Problems reach the operator as one readable
message and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from labledger.bundles.format import dump_bundle, parse_bundle
from labledger.change_gate import control_setting
from labledger.changes import service
from labledger.changes.control import OFF_NOTICE, set_control
from labledger.changes.promotion import export_change
from labledger.changes.review import Review, impact, review
from labledger.changes.store import ChangeRequest, load, summaries
from labledger.cli_support import (
    EXIT_FAILED,
    CliError,
    command_database,
    command_group,
    load_json,
    read_input,
)
from labledger.db.engine import Database
from labledger.db.tables import app_user
from labledger.identity.command_line import acting_user
from labledger.identity.principal import SYSTEM, Principal
from labledger.identity.users import principal_where
from labledger.workflows.signing import SignatureInput

#: The kinds ``--item`` takes, as the API names them.
ITEM_KINDS = (
    "object_type",
    "workflow",
    "role",
    "mapping",
    "print_template",
    "dashboard",
    "webhook",
)


def add_change_commands(commands: Any) -> None:
    """Add ``labledger changes ...`` to the ``labledger`` subcommands."""
    changes = command_group(commands, "changes", "configuration change requests")
    changes.add_parser("list", help="change requests, newest first").set_defaults(handler=cmd_list)
    show = changes.add_parser("show", help="a change request: its changes in words, its impact")
    show.add_argument("number", type=int)
    show.set_defaults(handler=cmd_show)

    propose = changes.add_parser("propose", help="propose definitions or whole bundles")
    propose.add_argument("--title", required=True)
    propose.add_argument("--reason", required=True)
    propose.add_argument(
        "--item",
        nargs=2,
        action="append",
        default=[],
        metavar=("KIND", "FILE"),
        help=f"a definition to propose; KIND is one of {', '.join(ITEM_KINDS)} (repeatable)",
    )
    propose.add_argument("bundles", nargs="*", metavar="BUNDLE", help="bundle files to import")
    _acting(propose)
    propose.set_defaults(handler=cmd_propose)

    revert = changes.add_parser(
        "revert", help="propose bringing back an earlier version of a definition (a rollback)"
    )
    revert.add_argument("kind", choices=ITEM_KINDS)
    revert.add_argument("key")
    revert.add_argument("version", type=int)
    revert.add_argument("--reason", required=True)
    _acting(revert)
    revert.set_defaults(handler=cmd_revert)

    approve = changes.add_parser("approve", help="approve by electronic signature")
    approve.add_argument("number", type=int)
    approve.add_argument("--user", required=True, help="the approver, who signs")
    approve.add_argument(
        "--content-hash", help="the content hash you reviewed (default: as shown by show)"
    )
    approve.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    approve.set_defaults(handler=cmd_approve)

    for name, help_text, handler in (
        ("reject", "send back to its author, with a reason", cmd_reason_step),
        ("withdraw", "give up your change request, with a reason", cmd_reason_step),
        ("rebase", "propose the same definitions against what is active now", cmd_rebase),
        ("activate", "activate an approved change (or schedule it)", cmd_activate),
        ("export", "write an approved change request as a bundle for elsewhere", cmd_export),
    ):
        step = _step(changes, name, help_text)
        step.set_defaults(handler=handler, step=name)
        if handler is cmd_reason_step:
            step.add_argument("--reason", required=True)
    steps = changes.choices
    steps["activate"].add_argument(
        "--at", type=_aware_time, help="when, e.g. 2027-01-04T06:00:00+01:00"
    )
    steps["export"].add_argument("--out", required=True, help="the bundle file to write")

    due = changes.add_parser(
        "activate-due", help="activate the scheduled changes whose time has come (run it often)"
    )
    due.set_defaults(handler=cmd_activate_due)

    control = changes.add_parser("control", help="switch change control on or off (audited)")
    control.add_argument("state", choices=("on", "off"))
    control.add_argument("--reason", required=True)
    control.add_argument("--approvals", type=int, help="approvals a change request needs")
    _acting(control)
    control.set_defaults(handler=cmd_control)


def _step(changes: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    """A step on one change request: its number, and who takes it."""
    step: argparse.ArgumentParser = changes.add_parser(name, help=help_text)
    step.add_argument("number", type=int)
    _acting(step)
    return step


def _acting(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--user", help="act as this person (their API token in LABLEDGER_TOKEN, or their password)"
    )


def _aware_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date and time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give the time zone too, e.g. +01:00 or Z")
    return moment


def cmd_list(args: argparse.Namespace) -> int:
    with command_database(args) as db, db.read() as conn:
        found = summaries(conn)
        setting = control_setting(conn)
    print(_control_line(setting.enabled, setting.approvals_required))
    for s in found:
        print(
            f"CR-{s.id:<5} {s.status:<10} {s.created_by:<16} {s.items} item(s), "
            f"{s.approvals} approval(s)  {s.title}"
        )
    return 0


def _control_line(enabled: bool, approvals: int) -> str:
    if not enabled:
        return OFF_NOTICE
    return f"Change control is on: each change request needs {approvals} approval(s)."


def cmd_show(args: argparse.Namespace) -> int:
    with command_database(args) as db, db.read() as conn:
        change = load(conn, args.number)
        print("\n".join(_review_lines(review(conn, change))))
        for found in impact(conn, change):
            print(f"\nImpact on {found.label}: {found.records:,} record(s)")
            for state in found.changed_states:
                rules = "; ".join(state.changes)
                print(f"  state {state.label}: {state.records:,} record(s); {rules}")
            for problem in found.problems:
                print(f"  {problem.records:,} open record(s): {problem.summary}")
            for failing in found.listed:
                print(f"    {failing.number}: {'; '.join(failing.problems)}")
    return 0


def _review_lines(found: Review) -> list[str]:
    change = found.change
    lines = [
        f"{change.label}: {change.title} ({change.status})",
        f"Proposed by {change.created_by}: {change.reason}",
        f"Content hash: {change.content_hash}",
    ]
    promoted = (change.origin or {}).get("promoted_from")
    if promoted:
        signers = ", ".join(a["printed_name"] for a in promoted["approvals"]) or "nobody"
        lines.append(
            f"Promoted from installation {promoted['installation']}, CR-{promoted['number']} "
            f'"{promoted["title"]}", approved there by {signers} as '
            f"{promoted['content_hash']}; it needs approval here too."
        )
    if change.rejection:
        lines.append(f"Sent back: {change.rejection}")
    if found.weakening:
        lines.append("Changes that weaken a control:")
        lines += [f"  ! {statement.text}" for _, statement in found.weakening]
    for item in found.items:
        lines.append(f"{item.title}{' (new)' if item.new else ''}:")
        lines += [f"  {'!' if s.weakens else '-'} {s.text}" for s in item.statements] or [
            "  - no change"
        ]
    for stale in found.stale:
        lines.append(f"Needs a rebase: {stale.describe()}")
    for approval in change.approvals:
        valid = "" if approval.content_hash == change.content_hash else " (void: edited since)"
        lines.append(
            f"Approved by {approval.printed_name} ({approval.signer}), {approval.meaning}, "
            f"{approval.signed_at.isoformat()}{valid}"
        )
    lines.append(f"Approvals still needed: {found.approvals_missing}")
    return lines


def cmd_propose(args: argparse.Namespace) -> int:
    items = []
    for kind, path in args.item:
        if kind not in ITEM_KINDS:
            raise CliError(f"--item {kind}: the kind is one of {', '.join(ITEM_KINDS)}")
        body = load_json(path)
        identity = "name" if kind == "webhook" else "key"
        if not isinstance(body, dict) or not isinstance(body.get(identity), str):
            raise CliError(f"{path}: a definition is a JSON object with a {identity}")
        items.append(service.ProposedItem(kind, body[identity], body))
    if not items and not args.bundles:
        raise CliError("Propose at least one --item or bundle file.")
    with command_database(args) as db:
        bundles = [
            parse_bundle(read_input(path), max_bytes=db.settings.bundle_max_bytes)
            for path in args.bundles
        ]
        actor = acting_user(db, args.user)
        with db.write() as conn:
            change = service.propose(
                conn, actor, title=args.title, reason=args.reason, items=items, bundles=bundles
            )
    return _done(change, "proposed")


def cmd_revert(args: argparse.Namespace) -> int:
    with command_database(args) as db:
        actor = acting_user(db, args.user)
        with db.write() as conn:
            change = service.propose_revert(
                conn, actor, kind=args.kind, key=args.key, version=args.version, reason=args.reason
            )
    return _done(change, "proposed")


def cmd_approve(args: argparse.Namespace) -> int:
    with command_database(args) as db:
        signer = _person(db, args.user)
        with db.read() as conn:
            content_hash = args.content_hash or load(conn, args.number).content_hash
        password = _password(args)
        change = service.approve(
            db,
            signer,
            args.number,
            content_hash=content_hash,
            credentials=SignatureInput(args.user, password),
            session=None,
            throttled=True,
        )
    return _done(change, "approved" if change.status == "approved" else "signed")


def cmd_reason_step(args: argparse.Namespace) -> int:
    step = {"reject": service.reject, "withdraw": service.withdraw}[args.step]
    with command_database(args) as db:
        actor = acting_user(db, args.user)
        with db.write() as conn:
            change = step(conn, actor, args.number, args.reason)
    return _done(change, "rejected: back to its author" if args.step == "reject" else "withdrawn")


def cmd_rebase(args: argparse.Namespace) -> int:
    with command_database(args) as db:
        actor = acting_user(db, args.user)
        with db.write() as conn:
            change = service.rebase(conn, actor, args.number)
    return _done(change, "rebased: it needs approval again")


def cmd_activate(args: argparse.Namespace) -> int:
    with command_database(args) as db:
        actor = acting_user(db, args.user)
        with db.write() as conn:
            change = service.activate(conn, actor, args.number, at=args.at)
    when = f"scheduled for {change.activate_at.isoformat()}" if change.activate_at else "active"
    return _done(change, when if change.status != "active" else "active")


def cmd_export(args: argparse.Namespace) -> int:
    with command_database(args) as db:
        actor = acting_user(db, args.user)
        with db.write() as conn:
            bundle = export_change(conn, actor, args.number)
    data = dump_bundle(bundle)
    try:
        Path(args.out).write_bytes(data)
    except OSError as exc:
        raise CliError(f"Cannot write {args.out}: {exc.strerror}") from None
    print(f"Wrote {args.out} ({len(data):,} bytes): CR-{args.number} for another installation.")
    return 0


def cmd_activate_due(args: argparse.Namespace) -> int:
    with command_database(args) as db:
        due = service.activate_due(db, SYSTEM)
    for change in due.activated:
        _done(change, "active (scheduled)")
    for change_id, why in due.refused:
        print(f"CR-{change_id} not activated: {why}", file=sys.stderr)
    if not due.activated and not due.refused:
        print("No scheduled change is due.")
    return EXIT_FAILED if due.refused else 0


def cmd_control(args: argparse.Namespace) -> int:
    with command_database(args) as db:
        actor = acting_user(db, args.user)
        with db.write() as conn:
            setting = set_control(
                conn,
                actor,
                enabled=args.state == "on",
                reason=args.reason,
                approvals_required=args.approvals,
            )
    print(_control_line(setting.enabled, setting.approvals_required))
    return 0


def _done(change: ChangeRequest, what: str) -> int:
    print(f"{change.label} {what}: {change.title}")
    return 0


def _person(db: Database, username: str) -> Principal:
    with db.read() as conn:
        person = principal_where(conn, app_user.c.username == username)
    if person is None:
        raise CliError(f"There is no user '{username}'.")
    return person


def _password(args: argparse.Namespace) -> str:
    """The signer's password: one line of standard input, or typed at the prompt."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise CliError(
            "An approval needs your password: type it in a terminal or use --password-stdin."
        )
    return getpass.getpass(f"Password of {args.user} (electronic signature): ")
