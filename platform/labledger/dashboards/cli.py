"""``labledger dashboard``: publish a dashboard from a JSON file, list the dashboards.

Like ``labledger mapping``, these act as the system (whoever runs them has
the database in hand); with change control on, publishing is refused and the
definition goes into a change request instead (``labledger changes propose
--item dashboard FILE``).
"""

from __future__ import annotations

import argparse
from typing import Any

from labledger.cli_support import command_database, command_group, publish_from_file
from labledger.dashboards.definitions import list_dashboards, publish_dashboard
from labledger.identity.principal import SYSTEM


def add_dashboard_commands(commands: Any) -> None:
    """Add ``labledger dashboard ...`` to the ``labledger`` subcommands."""
    dashboard = command_group(commands, "dashboard", "dashboards")
    publish = dashboard.add_parser("publish", help="publish a dashboard from a JSON file")
    publish.add_argument("file")
    publish.set_defaults(handler=cmd_dashboard_publish)
    dashboard.add_parser("list", help="list dashboards").set_defaults(handler=cmd_dashboard_list)


def cmd_dashboard_publish(args: argparse.Namespace) -> int:
    return publish_from_file(args, publish_dashboard, SYSTEM)


def cmd_dashboard_list(args: argparse.Namespace) -> int:
    with command_database(args) as db, db.read() as conn:
        for item in list_dashboards(conn, SYSTEM):
            panels = f"{item['panels']} panels"
            print(f"{item['key']:<24} v{item['version']:<4} {panels:<10} {item['label']}")
    return 0
