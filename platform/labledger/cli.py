"""The ``labledger`` command: set up, serve and administer an installation.

Every failure prints one readable line (and field details) to stderr and
exits non-zero; no traceback reaches the operator for an expected problem.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import uvicorn
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError, ProgrammingError

from labledger.archive.cli import add_archive_commands
from labledger.audit.checkpoints import create_checkpoint, parse_checkpoint
from labledger.audit.verify import record_outcome, verify
from labledger.bootstrap import initialise
from labledger.bundles.cli import add_config_commands
from labledger.changes.cli import add_change_commands
from labledger.cli_support import (
    EXIT_FAILED,
    CliError,
    command_database,
    command_group,
    command_settings,
    publish_from_file,
)
from labledger.dashboards.cli import add_dashboard_commands
from labledger.database_roles import OWNER_DEFAULT, RUNTIME_DEFAULT, RolePlan, set_up_roles
from labledger.dossier.cli import add_dossier_commands
from labledger.errors import ServiceError, WritesSuspended
from labledger.identity import users
from labledger.identity.principal import SYSTEM
from labledger.identity.roles import list_roles, save_role
from labledger.identity.tokens import create_token, list_tokens, revoke_token
from labledger.integration.cli import add_integration_commands
from labledger.metadata.types import list_types, publish_type
from labledger.reviews.cli import add_report_commands
from labledger.validation.cli import add_validate_command

#: The exit status argparse gives a command line it cannot parse.
EXIT_USAGE = 2
#: A shell's status for a command whose output pipe closed (128 + SIGPIPE).
EXIT_BROKEN_PIPE = 141
#: PostgreSQL's SQLSTATE for "permission denied" (a role lacks a privilege).
INSUFFICIENT_PRIVILEGE = "42501"


def cmd_init(args: argparse.Namespace) -> int:
    with command_database(args) as db:
        report = initialise(db, with_seeds=not args.empty, demo=args.demo)
    print(f"Database ready: {db.engine.url.render_as_string(hide_password=True)}")
    for bundle in report.bundles:
        print(f"Configuration loaded: {bundle}")
    if report.proposed is not None:
        print(
            f"The shipped configuration changed: proposed as change request CR-{report.proposed}; "
            "it takes effect once approved and activated (labledger changes show "
            f"{report.proposed})."
        )
    if report.admin_password:
        print()
        print("Created user 'admin' with this one-time password (shown only now):")
        print(f"    {report.admin_password}")
        print("Sign in and choose a new password before signing anything.")
    if report.demo_users:
        print()
        print("Demo users and their passwords (demo installations only):")
        for username, password in sorted(report.demo_users.items()):
            print(f"    {username:<16} {password}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    settings = command_settings(args)
    if args.database:
        # uvicorn calls the app factory with no arguments, in each worker process:
        # the environment is the one way to hand the servers the --database choice.
        os.environ["LABLEDGER_DATABASE_URL"] = settings.database_url
    uvicorn.run(
        "labledger.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=True,
        forwarded_allow_ips=settings.trusted_proxies,
        log_level="info",
    )
    return 0


def _read_password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        return None
    first = getpass.getpass("Password (empty: generate a one-time password): ")
    if not first:
        return None
    if getpass.getpass("Repeat the password: ") != first:
        raise CliError("The passwords differ; nothing was changed.")
    return first


def cmd_user_add(args: argparse.Namespace) -> int:
    password = _read_password(args)
    with command_database(args) as db, db.write() as conn:
        chosen = users.create_user(
            conn,
            SYSTEM,
            username=args.username,
            full_name=args.full_name,
            email=args.email,
            roles=args.role,
            password=password,
            min_password_length=command_settings(args).password_min_length,
        )
    print(f"Created user '{args.username}'.")
    if password is None:
        print(f"One-time password (shown only now): {chosen}")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    with command_database(args) as db, db.read() as conn:
        listed = users.list_users(conn)
    for user in listed:
        status = "active" if user["active"] else "inactive"
        if user["locked"]:
            status += ", locked"
        print(
            f"{user['username']:<20} {user['full_name']:<30} {status:<18} {','.join(user['roles'])}"
        )
    return 0


def _user_action(action: Callable[..., Any], *extra: Any) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        with command_database(args) as db, db.write() as conn:
            result = action(conn, SYSTEM, args.username, *extra)
        if isinstance(result, str):
            print(f"One-time password for '{args.username}' (shown only now): {result}")
        else:
            print(f"Done: {args.command} {args.username}.")
        return 0

    return run


def cmd_token_create(args: argparse.Namespace) -> int:
    with command_database(args) as db, db.write() as conn:
        token = create_token(conn, SYSTEM, args.username, args.name)
    print(token)
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    with command_database(args) as db, db.read() as conn:
        tokens = list_tokens(conn, SYSTEM, args.username)
    for token in tokens:
        status = f"revoked {token['revoked_at']:%Y-%m-%d}" if token["revoked_at"] else "active"
        used = token["last_used_at"]
        last_use = f"last used {used:%Y-%m-%d %H:%M} UTC" if used else "never used"
        print(
            f"{token['prefix']:<12} {token['name']:<24} {token['created_at']:%Y-%m-%d}  "
            f"{status:<18} {last_use}"
        )
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    with command_database(args) as db, db.write() as conn:
        revoke_token(conn, SYSTEM, args.prefix)
    print(f"Revoked token {args.prefix}.")
    return 0


def cmd_role_save(args: argparse.Namespace) -> int:
    definition = {
        "key": args.key,
        "label": args.label,
        "description": args.description,
        "permissions": args.permission,
    }
    with command_database(args) as db, db.write() as conn:
        changed = save_role(conn, SYSTEM, definition)
    print(f"Role '{args.key}' {'saved' if changed else 'unchanged'}.")
    return 0


def cmd_role_list(args: argparse.Namespace) -> int:
    with command_database(args) as db, db.read() as conn:
        for item in list_roles(conn):
            print(f"{item['key']:<20} {item['label']:<30} {','.join(item['permissions'])}")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Verify, print the outcome, and keep it in the audit trail (``audit.verify``) where the
    trail can still take events, so a periodic review states every failed verification."""
    checkpoint = parse_checkpoint(args.checkpoint) if args.checkpoint else None
    with command_database(args) as db:
        with db.snapshot() as conn:
            report = verify(conn, checkpoint=checkpoint)
        print(report.summary(), file=sys.stdout if report.ok else sys.stderr)
        for problem in report.discrepancies:
            print(f"  - {problem.message}", file=sys.stderr)
        if report.unlisted:
            print(f"  ... and {report.unlisted} more", file=sys.stderr)
        try:
            with db.write() as conn:
                record_outcome(conn, SYSTEM.username, report)
        except (WritesSuspended, IntegrityError) as exc:
            # A damaged trail may refuse the event (its tip, or a forged event holding the
            # next number): the verification's own outcome, printed above, still stands.
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            print(f"  (the outcome was not recorded in the audit trail: {reason})", file=sys.stderr)
    return 0 if report.ok else EXIT_FAILED


def cmd_audit_checkpoint(args: argparse.Namespace) -> int:
    with command_database(args) as db, db.write() as conn:
        checkpoint = create_checkpoint(conn, SYSTEM.username)
    print(checkpoint.text)
    print(
        "Keep this line outside labledger; 'labledger audit verify --checkpoint LINE' "
        "proves the audit trail still contains it.",
        file=sys.stderr,
    )
    return 0


def _role_password(role: str, from_env: str | None, prompt: bool) -> str | None:
    """A role's new password: from the environment, else asked for (twice), else none."""
    if from_env is not None or not prompt:
        return from_env
    first = getpass.getpass(f"Password for role {role} (empty: leave unchanged): ")
    if first and getpass.getpass("Repeat the password: ") != first:
        raise CliError("The passwords differ; nothing was changed.")
    return first or None


def cmd_db_roles(args: argparse.Namespace) -> int:
    settings = command_settings(args)
    plan = RolePlan(
        owner=args.owner,
        runtime=args.runtime,
        owner_password=_role_password(args.owner, settings.db_owner_password, args.passwords),
        runtime_password=_role_password(args.runtime, settings.db_runtime_password, args.passwords),
    )
    with command_database(args) as db:
        report = set_up_roles(db, plan, SYSTEM)
    print(f"Database roles ready in schema {report.schema}:")
    for step in report.steps:
        print(f"    {step}")
    print(f"Run 'labledger init' and migrations as {plan.owner}; serve as {plan.runtime}.")
    return 0


def cmd_type_publish(args: argparse.Namespace) -> int:
    return publish_from_file(args, publish_type, SYSTEM)


def cmd_type_list(args: argparse.Namespace) -> int:
    with command_database(args) as db, db.read() as conn:
        for item in list_types(conn, SYSTEM):
            print(f"{item['key']:<24} v{item['version']:<4} {item['label']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labledger", description="labledger LIMS/QMS platform")
    parser.add_argument(
        "--database",
        help="database URL (default: $LABLEDGER_DATABASE_URL or sqlite:///labledger.db)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = commands.add_parser(
        "init", help="create or upgrade the database and load configurations"
    )
    init.add_argument("--empty", action="store_true", help="do not load the shipped bundles")
    init.add_argument("--demo", action="store_true", help="also create demo users and data")
    init.set_defaults(handler=cmd_init)

    serve = commands.add_parser("serve", help="serve the application")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="worker processes")
    serve.set_defaults(handler=cmd_serve)

    user = command_group(commands, "user", "manage users")
    add = user.add_parser("add", help="create a user (password from a prompt or --password-stdin)")
    add.add_argument("username")
    add.add_argument("--full-name", required=True)
    add.add_argument("--email", default="")
    add.add_argument("--role", action="append", default=[], help="a role (repeat for several)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(handler=cmd_user_add)
    user.add_parser("list", help="list users").set_defaults(handler=cmd_user_list)
    for name, action, helptext in (
        ("deactivate", lambda c, a, u: users.set_active(c, a, u, False), "deactivate a user"),
        ("activate", lambda c, a, u: users.set_active(c, a, u, True), "reactivate a user"),
        ("unlock", users.unlock, "unlock a user locked by failed attempts"),
        ("reset-password", users.reset_password, "set a new one-time password"),
    ):
        sub = user.add_parser(name, help=helptext)
        sub.add_argument("username")
        sub.set_defaults(handler=_user_action(action), command=f"user {name}")

    token = command_group(commands, "token", "API tokens")
    create = token.add_parser("create", help="create an API token (printed once)")
    create.add_argument("username")
    create.add_argument("--name", default="api", help="what the token is for")
    create.set_defaults(handler=cmd_token_create)
    listing = token.add_parser("list", help="a user's tokens (prefix, name, status)")
    listing.add_argument("username")
    listing.set_defaults(handler=cmd_token_list)
    revoke = token.add_parser("revoke", help="revoke a token by its prefix (see token list)")
    revoke.add_argument("prefix")
    revoke.set_defaults(handler=cmd_token_revoke)

    roles = command_group(commands, "role", "roles")
    save = roles.add_parser("save", help="create or update a role")
    save.add_argument("key")
    save.add_argument("--label", required=True)
    save.add_argument("--description", default="")
    save.add_argument(
        "--permission",
        action="append",
        default=[],
        help="a system permission: configure, manage_users, read_audit (repeat for several)",
    )
    save.set_defaults(handler=cmd_role_save)
    roles.add_parser("list", help="list roles").set_defaults(handler=cmd_role_list)

    audit = command_group(commands, "audit", "audit trail")
    verify = audit.add_parser(
        "verify", help="verify the hash chain and every record, signature and definition"
    )
    verify.add_argument(
        "--checkpoint", metavar="LINE", help="a line printed by 'audit checkpoint' to prove"
    )
    verify.set_defaults(handler=cmd_audit_verify)
    audit.add_parser(
        "checkpoint", help="record and print the chain tip, to keep outside the system"
    ).set_defaults(handler=cmd_audit_checkpoint)

    database = command_group(commands, "db", "database administration")
    db_roles = database.add_parser(
        "roles",
        help="PostgreSQL: set up the owner role and the runtime role (run as a superuser)",
    )
    db_roles.add_argument("--owner", default=OWNER_DEFAULT, help="owns the schema, runs migrations")
    db_roles.add_argument(
        "--runtime", default=RUNTIME_DEFAULT, help="owns nothing; the application runs as it"
    )
    db_roles.add_argument(
        "--passwords",
        action="store_true",
        help="ask for the roles' passwords ($LABLEDGER_DB_OWNER_PASSWORD and "
        "$LABLEDGER_DB_RUNTIME_PASSWORD are used when set)",
    )
    db_roles.set_defaults(handler=cmd_db_roles)

    types = command_group(commands, "type", "object types")
    publish = types.add_parser(
        "publish", help="publish a definition from a JSON file (- for stdin)"
    )
    publish.add_argument("file")
    publish.set_defaults(handler=cmd_type_publish)
    types.add_parser("list", help="list object types").set_defaults(handler=cmd_type_list)

    add_config_commands(commands)
    add_integration_commands(commands)
    add_change_commands(commands)
    add_dashboard_commands(commands)
    add_validate_command(commands)
    add_archive_commands(commands)
    add_report_commands(commands)
    add_dossier_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ProgrammingError as exc:
        if getattr(exc.orig, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
            raise
        reason = str(exc.orig).splitlines()[0]
        print(f"error: the database refused: {reason}", file=sys.stderr)
        return EXIT_FAILED
    except (ArgumentError, OperationalError) as exc:  # a bad URL, a database out of reach
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        print(f"error: cannot use the database: {reason}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Whoever read the output stopped early (``| head``): nothing is wrong, but
        # Python would still print a traceback flushing stdout at exit, so it goes nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
