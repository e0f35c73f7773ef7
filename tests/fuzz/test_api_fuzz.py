"""Property-based fuzzing of the JSON API against its own OpenAPI document.

Schemathesis generates valid and invalid requests for every operation the app declares, sends
them in-process to the real app on a real migrated database (SQLite, and
PostgreSQL when configured), as the admin, as a user with one role, and with
no token. No answer may be a server error, and every status and body must
be what the document declares (``STRICT_CONFORMANCE``; set it to False to
only count conformance failures while exploring).

The example budget per operation and caller is small in the normal suite;
``make fuzz`` raises it through ``LABLEDGER_FUZZ_EXAMPLES``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from schemathesis import GenerationMode
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup
from schemathesis.python import asgi

from labledger.app import create_app
from labledger.db.engine import Database
from labledger.identity.principal import SYSTEM
from labledger.integration.mappings import publish_mapping
from labledger.metadata.types import definition_context, publish_type
from labledger.records.service import create_record
from labledger.settings import RateLimits, Settings
from labledger.workflows.definitions import publish_workflow
from tests.conftest import Person
from tests.definitions import acting, add_roles, batch_type, measurement_type
from tests.test_integration_mappings import batch_mapping, results_mapping
from tests.workflow_definitions import JOB_FLOW, TASK_FLOW, job_type, task_type

pytestmark = pytest.mark.fuzz

#: Examples per operation and caller. Small in the suite; `make fuzz` raises it.
EXAMPLES = int(os.environ.get("LABLEDGER_FUZZ_EXAMPLES", "8"))
#: Flip to True once the OpenAPI document declares every status and body the API returns.
STRICT_CONFORMANCE = True
CONFORMANCE_CHECKS = (status_code_conformance, response_schema_conformance)

ANALYST = acting("ann", "analyst")


@dataclass
class Findings:
    """What the run saw: examples sent, statuses, server errors, conformance failures."""

    examples: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    conformance: Counter[str] = field(default_factory=Counter)

    def summary(self, operations: int) -> str:
        kinds = ", ".join(f"{kind}: {n}" for kind, n in sorted(self.conformance.items()))
        statuses = ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses.items()))
        return (
            f"fuzz: {operations} operations, {self.examples} examples, "
            f"{len(self.server_errors)} server errors; conformance failures: {kinds or 'none'}; "
            f"statuses: {statuses}"
        )


def _seed(db: Database) -> None:
    """Published types with every field kind, two workflows, records and mappings."""
    add_roles(db, "analyst", "reviewer", "qa")
    with db.write() as conn:
        publish_type(conn, SYSTEM, batch_type())
        publish_type(conn, SYSTEM, measurement_type())
        publish_workflow(conn, SYSTEM, TASK_FLOW)
        publish_workflow(conn, SYSTEM, JOB_FLOW)
        context = definition_context(conn, "job", extra_types={"task"})
        publish_type(conn, SYSTEM, job_type(), context=context)
        publish_type(conn, SYSTEM, task_type())
        for code in ("B-1", "B-2"):
            batch = create_record(conn, ANALYST, "batch", {"code": code})
        create_record(
            conn,
            ANALYST,
            "measurement",
            {"name": "pH", "batch": batch["id"], "value": 3},
        )
        create_record(conn, ANALYST, "job", {"title": "Calibrate"})
        publish_mapping(conn, SYSTEM, results_mapping())
        publish_mapping(conn, SYSTEM, batch_mapping())


@pytest.fixture
def callers(db: Database, admin: Person, make_person: Callable[..., Person]) -> dict[str, Any]:
    """The headers each kind of caller sends: admin, one-role user, anonymous."""
    _seed(db)
    analyst = make_person("fuzzy", "analyst")
    return {"admin": admin.headers, "analyst": analyst.headers, "anonymous": {}}


@pytest.fixture
def fuzz_client(db: Database, settings: Settings) -> Iterator[Any]:
    """The real app, with rate limits high enough that bad tokens are never throttled."""
    generous = replace(
        settings, rate_limits=RateLimits(per_address=1_000_000, per_account=1_000_000)
    )
    app = create_app(replace(db, settings=generous))
    with asgi.get_client(app) as client:
        client.app = app
        yield client


def _fails(case: Any, response: Any, check: Callable[..., Any]) -> bool:
    """Whether the response fails one schemathesis check."""
    try:
        case.validate_response(response, checks=[check])
    except FailureGroup:
        return True
    return False


def _fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    client: Any,
    callers: Iterable[dict[str, str]],
    findings: Findings,
) -> None:
    """Send EXAMPLES generated requests for one operation, each as every caller, and record
    what failed. (Generation is derandomized, so each caller would be drawn the same
    requests anyway: drawing them once costs a third.)"""

    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        for headers in callers:
            _send(case, client, headers, findings)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # Without a token parameter, an operation taking no input has nothing to make invalid.
        assert mode is GenerationMode.NEGATIVE


def _send(case: Any, client: Any, headers: dict[str, str], findings: Findings) -> None:
    """Send one generated request as one caller and record what failed."""
    findings.examples += 1
    response = case.call(session=client, headers=headers)
    findings.statuses[response.status_code] += 1
    if _fails(case, response, not_a_server_error):
        curl = case.as_curl_command(headers=headers)
        findings.server_errors.append(f"{response.status_code} {curl}")
    for check in CONFORMANCE_CHECKS:
        if _fails(case, response, check):
            findings.conformance[check.__name__] += 1
            assert not STRICT_CONFORMANCE, f"{check.__name__}: {case.as_curl_command()}"


def test_no_operation_answers_with_a_server_error(
    fuzz_client: Any, callers: dict[str, dict[str, str]]
) -> None:
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", fuzz_client.app)
    # Each caller sends its own token; generated (or negated) ones would turn most
    # requests of the admin and the one-role user into a 401 before any handler ran.
    schema.config.generation.update(with_security_parameters=False)
    operations = [result.ok() for result in schema.get_all_operations()]
    findings = Findings()
    for operation in operations:
        for mode in GenerationMode:
            _fuzz_operation(operation, mode, fuzz_client, callers.values(), findings)
    print(findings.summary(len(operations)))
    assert not findings.server_errors, "\n".join(findings.server_errors)
