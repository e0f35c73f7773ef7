"""The integration commands of ``labledger``: worker, import, mapping, watch, webhook,
deliveries.

Administration commands act as the system, like every ``labledger`` command
(whoever runs them has the database in hand). Imports are different: the
records they write carry an actor in their audit trail. ``import run`` and
``watch`` act in a person's name only with that person's credentials: one of
their API tokens in ``LABLEDGER_TOKEN``, or their password typed at a
terminal prompt (``--user NAME``); the person's permissions on the target
type then apply. Without credentials they act as the command line itself,
which the audit trail names ``system:command-line``.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from labledger.cli_support import (
    EXIT_FAILED,
    CliError,
    command_database,
    command_group,
    command_settings,
    publish_from_file,
    read_input,
)
from labledger.identity.command_line import acting_user
from labledger.identity.principal import SYSTEM
from labledger.integration.allowlist import Allowlist
from labledger.integration.delivery import DeliveryPolicy
from labledger.integration.importer import apply_import, preview_import
from labledger.integration.mappings import list_mappings, load_mapping, publish_mapping
from labledger.integration.subscriptions import (
    create_subscription,
    list_subscriptions,
    replay_dead,
    subscription_status,
    update_subscription,
)
from labledger.integration.watch import FAILED, watch_folder, watch_pass
from labledger.integration.worker import run_worker
from labledger.settings import TOKEN_ENV

#: Row errors printed by ``import run`` (all of them are in ``--json``).
SHOWN_ERRORS = 50
#: What ``--user`` means, for the help of both commands.
USER_HELP = (
    f"act as this person, proven by one of their API tokens in {TOKEN_ENV} or by their "
    "password typed at the prompt (default: the token's owner, or the command line itself)"
)


def add_integration_commands(commands: Any) -> None:
    """Add the integration commands to the ``labledger`` subcommands."""
    worker = commands.add_parser("worker", help="deliver webhook events until stopped")
    worker.add_argument("--once", action="store_true", help="deliver what is due now, then exit")
    worker.add_argument("--poll", type=float, default=1.0, help="seconds between idle rounds")
    worker.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for a receiver"
    )
    worker.add_argument("--batch", type=int, default=20, help="deliveries claimed per round")
    worker.add_argument(
        "--base-delay", type=float, default=30.0, help="seconds before the first retry (doubles)"
    )
    worker.add_argument("--max-delay", type=float, default=6 * 3600.0, help="longest retry delay")
    worker.add_argument(
        "--lease",
        type=float,
        help="seconds a claimed delivery stays reserved (default: batch x timeout + 30)",
    )
    worker.set_defaults(handler=cmd_worker)

    imports = command_group(commands, "import", "import files through mappings")
    run = imports.add_parser("run", help="import FILE through MAPPING (- reads stdin)")
    run.add_argument("mapping")
    run.add_argument("file")
    run.add_argument("--user", help=USER_HELP)
    run.add_argument("--dry-run", action="store_true", help="report row by row, write nothing")
    run.add_argument("--reason", help="reason for change given to updated records")
    run.add_argument("--json", action="store_true", help="print the whole report as JSON")
    run.set_defaults(handler=cmd_import_run)

    mapping = command_group(commands, "mapping", "import mappings")
    publish = mapping.add_parser("publish", help="publish a mapping from a JSON file")
    publish.add_argument("file")
    publish.set_defaults(handler=cmd_mapping_publish)
    mapping.add_parser("list", help="list mappings").set_defaults(handler=cmd_mapping_list)

    watch = commands.add_parser("watch", help="import the files dropped into DIR")
    watch.add_argument("dir")
    watch.add_argument("--mapping", required=True, help="the mapping the files go through")
    watch.add_argument("--user", help=USER_HELP)
    watch.add_argument("--once", action="store_true", help="import what is there, then exit")
    watch.add_argument("--interval", type=float, default=5.0, help="seconds between passes")
    watch.set_defaults(handler=cmd_watch)

    webhook = command_group(commands, "webhook", "webhook subscriptions")
    add = webhook.add_parser("add", help="subscribe URL to events (the secret is printed once)")
    add.add_argument("name")
    add.add_argument("url")
    add.add_argument("--type", action="append", default=[], help="a type key (repeatable)")
    add.add_argument("--kind", action="append", default=[], help="an event kind (repeatable)")
    add.add_argument("--state", action="append", default=[], help="a record state (repeatable)")
    add.add_argument("--max-attempts", type=int, help="attempts before a delivery is dead")
    add.add_argument("--secret-stdin", action="store_true", help="read the secret from stdin")
    add.add_argument("--inactive", action="store_true", help="create it paused")
    add.set_defaults(handler=cmd_webhook_add)
    webhook.add_parser("list", help="subscriptions and their queues").set_defaults(
        handler=cmd_webhook_list
    )
    show = webhook.add_parser("show", help="a subscription's delivery monitor")
    show.add_argument("name")
    show.set_defaults(handler=cmd_webhook_show)
    for name, active in (("enable", True), ("disable", False)):
        toggle = webhook.add_parser(name, help=f"{name} a subscription")
        toggle.add_argument("name")
        toggle.set_defaults(handler=cmd_webhook_active, active=active)

    deliveries = command_group(commands, "deliveries", "webhook deliveries")
    replay = deliveries.add_parser("replay", help="send a subscription's dead deliveries again")
    replay.add_argument("name")
    replay.add_argument("--id", type=int, action="append", help="only this delivery (repeatable)")
    replay.set_defaults(handler=cmd_deliveries_replay)


@contextmanager
def _until_signalled() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT; the previous handlers come back afterwards."""
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")


def cmd_worker(args: argparse.Namespace) -> int:
    policy = DeliveryPolicy(
        timeout=args.timeout,
        batch=args.batch,
        base_delay=args.base_delay,
        max_delay=args.max_delay,
        lease=args.lease,
    )
    allowlist = Allowlist.from_settings(command_settings(args))
    _log_to_stderr()
    with command_database(args) as db, _until_signalled() as stop:
        run_worker(
            db, policy=policy, allowlist=allowlist, poll=args.poll, once=args.once, stop=stop
        )
    return 0


def cmd_import_run(args: argparse.Namespace) -> int:
    raw = read_input(args.file)
    filename = "stdin" if args.file == "-" else Path(args.file).name
    with command_database(args) as db:
        actor = acting_user(db, args.user)
        if args.dry_run:
            report = preview_import(db, actor, args.mapping, raw, filename)
        else:
            report = apply_import(db, actor, args.mapping, raw, filename, reason=args.reason)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, default=str, ensure_ascii=False))
    else:
        print("\n".join(report.lines(SHOWN_ERRORS)))
    return EXIT_FAILED if report.errors else 0


def cmd_mapping_publish(args: argparse.Namespace) -> int:
    return publish_from_file(args, publish_mapping, SYSTEM)


def cmd_mapping_list(args: argparse.Namespace) -> int:
    with command_database(args) as db, db.read() as conn:
        for item in list_mappings(conn, SYSTEM):
            print(
                f"{item['key']:<24} v{item['version']:<4} {item['target']:<20} "
                f"{item['format']:<5} {item['mode']:<7} {item['label']}"
            )
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    if not folder.is_dir():
        raise CliError(f"{args.dir} is not a folder.")
    _log_to_stderr()
    with command_database(args) as db:
        actor = acting_user(db, args.user)
        with db.read() as conn:
            load_mapping(conn, args.mapping)
        if args.once:
            results = watch_pass(db, folder, args.mapping, actor)
            for result in results:
                print(f"{result.outcome}/{result.moved_to.name}: {result.lines[0]}")
            return EXIT_FAILED if any(r.outcome == FAILED for r in results) else 0
        with _until_signalled() as stop:
            watch_folder(db, folder, args.mapping, actor, interval=args.interval, stop=stop)
    return 0


def cmd_webhook_add(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        "name": args.name,
        "url": args.url,
        "types": args.type,
        "kinds": args.kind,
        "states": args.state,
        "active": not args.inactive,
    }
    if args.max_attempts is not None:
        body["max_attempts"] = args.max_attempts
    if args.secret_stdin:
        body["secret"] = sys.stdin.readline().rstrip("\n")
    with command_database(args) as db, db.write() as conn:
        created = create_subscription(conn, SYSTEM, body, Allowlist.from_settings(db.settings))
    print(f"Created webhook '{created['name']}' to {created['url']}.")
    if not args.secret_stdin:
        print(f"Signing secret (shown only now): {created['secret']}")
    return 0


def cmd_webhook_list(args: argparse.Namespace) -> int:
    with command_database(args) as db, db.read() as conn:
        for item in list_subscriptions(conn, SYSTEM):
            state = "active" if item["active"] else "paused"
            print(
                f"{item['name']:<20} {state:<7} queue {item['queue']:<6} dead {item['dead']:<6} "
                f"delivered {item['delivered']:<8} {item['url']}"
            )
    return 0


def cmd_webhook_show(args: argparse.Namespace) -> int:
    with command_database(args) as db, db.read() as conn:
        status = subscription_status(conn, SYSTEM, args.name)
    print(json.dumps(status, indent=2, default=str, ensure_ascii=False))
    return 0


def cmd_webhook_active(args: argparse.Namespace) -> int:
    with command_database(args) as db, db.write() as conn:
        allowlist = Allowlist.from_settings(db.settings)
        update_subscription(conn, SYSTEM, args.name, {"active": args.active}, allowlist)
    print(f"Webhook '{args.name}' is {'active' if args.active else 'paused'}.")
    return 0


def cmd_deliveries_replay(args: argparse.Namespace) -> int:
    with command_database(args) as db, db.write() as conn:
        count = replay_dead(conn, SYSTEM, args.name, delivery_ids=args.id)
    print(f"{count} dead deliveries of '{args.name}' will be sent again.")
    return 0
