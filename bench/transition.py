"""Transitions per second: records taken through a 4-step workflow, signed last step.

Each record goes draft -> submitted -> checked -> reviewed -> approved; the
last step needs an electronic signature (password re-entered, argon2id
verified). The same run measures a plain record update (one field changed,
If-Match version) as the yardstick, both in-process through the services and
over HTTP against the real app served by uvicorn on a loopback port.

    python bench/transition.py [--database URL] [-n N]
"""

from __future__ import annotations

import logging
import socket
import threading
from time import perf_counter
from typing import Any

import httpx
import uvicorn

from common import (
    bench_database,
    describe,
    parse_args,
    print_table,
    statements_of_one_request,
)
from labledger.app import create_app
from labledger.db.engine import Database
from labledger.identity.principal import SYSTEM
from labledger.identity.roles import save_role
from labledger.identity.tokens import create_token
from labledger.identity.users import create_user, load_principal
from labledger.metadata.types import publish_type
from labledger.records.service import create_record, update_record
from labledger.workflows.definitions import publish_workflow
from labledger.workflows.engine import SignatureInput, run_transition

PASSWORD = "signing secret 1"
STEPS = ("submit", "check", "review", "approve")

FLOW = {
    "key": "bench_flow",
    "label": "Bench flow",
    "states": [
        {"key": "draft", "label": "Draft", "initial": True},
        {"key": "submitted", "label": "Submitted"},
        {"key": "checked", "label": "Checked"},
        {"key": "reviewed", "label": "Reviewed"},
        {"key": "approved", "label": "Approved", "final": True},
    ],
    "transitions": [
        {"key": "submit", "label": "Submit", "from": ["draft"], "to": "submitted", "roles": ["*"]},
        {"key": "check", "label": "Check", "from": ["submitted"], "to": "checked", "roles": ["*"]},
        {"key": "review", "label": "Review", "from": ["checked"], "to": "reviewed", "roles": ["*"]},
        {
            "key": "approve",
            "label": "Approve",
            "from": ["reviewed"],
            "to": "approved",
            "roles": ["approver"],
            "signature": {"meaning": "Approved"},
        },
    ],
}

TYPE = {
    "key": "bench_doc",
    "label": "Document",
    "plural": "Documents",
    "numbering": "DOC-{######}",
    "workflow": "bench_flow",
    "permissions": {"read": ["*"], "create": ["*"], "edit": ["*"]},
    "fields": [
        {"key": "title", "label": "Title", "type": "text"},
        {"key": "amount", "label": "Amount", "type": "decimal", "precision": 2},
    ],
}


def set_up(db: Database) -> tuple[Any, str]:
    """The workflow, the type and a user who may sign; returns (principal, token)."""
    with db.write() as conn:
        save_role(conn, SYSTEM, {"key": "approver", "label": "Approver"})
        publish_workflow(conn, SYSTEM, FLOW)
        publish_type(conn, SYSTEM, TYPE)
        create_user(
            conn,
            SYSTEM,
            username="bench",
            full_name="Bench Signer",
            roles=["approver"],
            password=PASSWORD,
            one_time=False,
        )
        token = create_token(conn, SYSTEM, "bench")
        principal = load_principal(conn, 2)
    return principal, token


def create(db: Database, actor: Any, i: int) -> dict[str, Any]:
    with db.write() as conn:
        return create_record(conn, actor, "bench_doc", {"title": f"doc {i}", "amount": i})


def in_process(db: Database, actor: Any, n: int) -> tuple[float, float, float]:
    """(seconds for 3n unsigned steps, for n signed steps, for n plain updates)."""
    records = [create(db, actor, i) for i in range(n)]
    started = perf_counter()
    for rec in records:
        with db.write() as conn:
            update_record(
                conn,
                actor,
                "bench_doc",
                rec["id"],
                {"amount": 1},
                expected_version=1,
            )
    updates = perf_counter() - started
    spent = {False: 0.0, True: 0.0}
    for rec in records:
        for step in STEPS:
            signed = step == "approve"
            started = perf_counter()
            run_transition(
                db,
                actor,
                "bench_doc",
                rec["id"],
                step,
                signature=SignatureInput("bench", PASSWORD) if signed else None,
            )
            spent[signed] += perf_counter() - started
    return spent[False], spent[True], updates


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def over_http(db: Database, actor: Any, token: str, n: int) -> tuple[float, float, float]:
    """The same through the REST API of the real app on a loopback port."""
    records = [create(db, actor, i) for i in range(n)]
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(db), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.01)
    headers = {"Authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{port}/api/v1/records/bench_doc"
    try:
        with httpx.Client(headers=headers, timeout=30) as client:
            started = perf_counter()
            for rec in records:
                response = client.patch(
                    f"{base}/{rec['id']}", json={"data": {"amount": 1}}, headers={"If-Match": "1"}
                )
                response.raise_for_status()
            updates = perf_counter() - started
            spent = {False: 0.0, True: 0.0}
            for rec in records:
                for step in STEPS:
                    signed = step == "approve"
                    body: dict[str, Any] = {}
                    if signed:
                        body["signature"] = {"username": "bench", "password": PASSWORD}
                    started = perf_counter()
                    response = client.post(f"{base}/{rec['id']}/transitions/{step}", json=body)
                    response.raise_for_status()
                    spent[signed] += perf_counter() - started
            return spent[False], spent[True], updates
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def statements_of_one_step(db: Database, actor: Any, token: str) -> None:
    """Print the statements and transactions of one unsigned step over the API."""
    first, second = create(db, actor, -1), create(db, actor, -2)
    path = "/api/v1/records/bench_doc/{}/transitions/submit"
    statements, transactions, sql = statements_of_one_request(
        db, token, "POST", (path.format(second["id"]), {}), warm_up=(path.format(first["id"]), {})
    )
    print(f"one unsigned API step: {statements} statements in {transactions} transaction(s)")
    for statement in sql:
        print("   ", " ".join(statement.split())[:110])


def main() -> None:
    args = parse_args(__doc__.split("\n\n")[0], default_n=200).parse_args()
    n = args.n
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    with bench_database(args.database) as db:
        actor, token = set_up(db)
        statements_of_one_step(db, actor, token)
        rows = []
        for name, run in (
            ("in-process", lambda: in_process(db, actor, n)),
            ("over HTTP", lambda: over_http(db, actor, token, n)),
        ):
            unsigned, signed, updates = run()
            per_update = updates / n * 1000
            per_unsigned = unsigned / (3 * n) * 1000
            per_signed = signed / n * 1000
            rows.append(
                [
                    name,
                    f"{4 * n / (unsigned + signed):,.0f}",
                    f"{per_unsigned:.2f} ({per_unsigned / per_update:.1f}x)",
                    f"{per_signed:.2f} ({per_signed / per_update:.1f}x)",
                    f"{per_update:.2f}",
                ]
            )
        print(f"{n} records through 4 steps (the last signed), {describe(db)}")
        print_table(
            "Figures",
            [
                "path",
                "transitions/s",
                "ms/step (x update)",
                "ms/signed step (x update)",
                "ms/plain update",
            ],
            rows,
        )
        print("The signed step verifies an argon2id password hash: most of its cost is that.")


if __name__ == "__main__":
    main()
