"""Shared fixtures: a fresh, migrated database per test on every backend.

Every database test runs on SQLite and, when LABLEDGER_TEST_DATABASE_URL is
set, on PostgreSQL too. SQLite databases are copied from one migrated
template file; PostgreSQL tests each get a schema of their own, built by
replaying the SQL of one real migration (tests/schema_script.py) and, after
the test, put back as that SQL left it for a later test
(tests/schema_reuse.py).
Tests of the shipped LIMS configuration take ``lims_db``: the configuration and
its demo data are loaded once per test process the same way (a template file,
a recorded script) instead of being played again for every test.
PostgreSQL sessions of the tests do not wait for the WAL to reach the disk
(synchronous_commit=off): a test never survives a server crash anyway.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import Engine, create_engine, text

from labledger.app import build_app, serve_database
from labledger.bootstrap import initialise
from labledger.bundles.seeds import load_seed_bundles
from labledger.db.engine import Database, normalise_url, open_database
from labledger.identity import passwords
from labledger.identity.principal import SYSTEM, Principal
from labledger.identity.roles import save_role
from labledger.identity.tokens import create_token
from labledger.identity.users import create_user, load_principal
from labledger.metadata.types import publish_type
from labledger.resources import data_path
from labledger.settings import Settings
from tests.schema_reuse import FreshSchema, may_reuse, put_back
from tests.schema_script import Statement, record, replay

# Tests hash many passwords: use argon2id with the cheapest parameters, so the
# suite measures behaviour, not key stretching. Production keeps the defaults.
passwords._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
passwords._DUMMY_HASH = passwords.hash_password("timing equaliser")

PG_URL = os.environ.get("LABLEDGER_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
#: The trace matrix of catalogued requirements and the tests that prove them.
pytest_plugins = ["tests.trace_matrix"]
TEST_PASSWORD = "correct horse battery"
#: The settings every test database carries: a 1 MiB attachment limit, so a
#: test of the limit needs no large files.
TEST_SETTINGS = Settings(attachment_max_bytes=1024 * 1024)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--screenshots",
        metavar="DIR",
        help="write the browser tests' screenshots into DIR (`make screenshots`: "
        "docs/screenshots) instead of a temporary directory",
    )


#: Markers of tests that run for tens of seconds (a browser, the fuzzer).
_LONG = ("fuzz", "browser")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the long tests first: the two workers then share them at the start
    instead of one worker running the last of them while the other waits."""
    items.sort(key=lambda item: not any(item.get_closest_marker(m) for m in _LONG))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = open_database(f"sqlite:///{path}")
    _migrate(db)
    db.dispose()
    return path


def _migrate(db: Database, _schema: str = "") -> None:
    """What `labledger init --empty` does (the migrations, then the admin role and user), with
    change control off: tests of anything but change control publish definitions directly."""
    initialise(db, with_seeds=False, change_control=False)


def _new_schema(admin: Engine) -> tuple[str, Database]:
    """An empty schema of its own and a database whose sessions work in it."""
    assert PG_URL
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = open_database(
        PG_URL,
        settings=TEST_SETTINGS,
        connect_args={"options": f"-csearch_path={schema} -csynchronous_commit=off"},
        pool_size=5,
        max_overflow=5,
    )
    return schema, db


def _drop(admin: Engine, schema: str, db: Database) -> None:
    db.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def _admin_engine() -> Engine:
    assert PG_URL
    return create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")


def _postgres_database(
    build: Callable[[Database, str], None] = _migrate,
) -> Iterator[Database]:
    """A schema of its own, made by ``build`` (by default the real migrations), dropped after."""
    admin = _admin_engine()
    schema, db = _new_schema(admin)
    try:
        build(db, schema)
        yield db
    finally:
        _drop(admin, schema, db)
        admin.dispose()


class _SchemaPool:
    """PostgreSQL test schemas built from one script, two at a time: a test takes the one
    that is ready while a background thread puts the other back as the script left it
    (``tests/schema_reuse.py``), or builds a fresh one where it cannot be put back.
    """

    def __init__(self, script: list[Statement]) -> None:
        self.script = script
        self.admin = _admin_engine()
        self.reuse = may_reuse(self.admin)
        self.fresh: FreshSchema | None = None
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-schemas")
        self.ready: deque[Future[tuple[str, Database]]] = deque(
            self.worker.submit(self._build) for _ in range(2)
        )

    def _build(self) -> tuple[str, Database]:
        schema, db = _new_schema(self.admin)
        replay(db.engine, self.script)
        if self.fresh is None:
            self.fresh = FreshSchema.read(db.engine, self.script)
        return schema, db

    def _renew(self, schema: str, db: Database) -> tuple[str, Database]:
        db.dispose()
        if self.reuse and self.fresh and put_back(db.engine, self.fresh):
            db.dispose()  # each test starts on new connections, as a fresh schema's would
            return schema, db
        _drop(self.admin, schema, db)
        return self._build()

    def take(self) -> Iterator[Database]:
        schema, db = self.ready.popleft().result()
        try:
            yield db
        finally:
            self.ready.append(self.worker.submit(self._renew, schema, db))

    def close(self) -> None:
        for future in self.ready:
            schema, db = future.result()
            _drop(self.admin, schema, db)
        self.worker.shutdown(wait=True)
        self.admin.dispose()


@pytest.fixture(scope="session")
def schema_pools() -> Iterator[dict[int, _SchemaPool]]:
    """One schema pool per script, closed (its last schema dropped) at the end."""
    pools: dict[int, _SchemaPool] = {}
    yield pools
    for pool in pools.values():
        pool.close()


@pytest.fixture(scope="session")
def postgres_script() -> list[Statement]:
    """The SQL that builds a PostgreSQL test schema, recorded once per test process."""
    return _postgres_script_of(_migrate)


def _database(
    request: pytest.FixtureRequest, tmp_path: Path, template: Path, script: list[Statement]
) -> Iterator[Database]:
    """A database of the test's backend made from a prepared copy: ``template`` (SQLite,
    copied) or ``script`` (PostgreSQL, replayed into a schema of its own)."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(template, path)
        database = open_database(f"sqlite:///{path}", settings=TEST_SETTINGS)
        yield database
        database.dispose()
    else:
        pools = request.getfixturevalue("schema_pools")
        pool = pools.get(id(script)) or pools.setdefault(id(script), _SchemaPool(script))
        yield from pool.take()


def _postgres_script_of(build: Callable[[Database], None]) -> list[Statement]:
    """The SQL that ``build`` sends on a fresh PostgreSQL schema, recorded once."""
    script: list[Statement] = []

    def recorded(db: Database, schema: str) -> None:
        script.extend(record(db.engines, lambda: build(db), schema))

    for _ in _postgres_database(recorded):
        pass
    return script


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    """A migrated database with the admin role and user, on each backend."""
    script = request.getfixturevalue("postgres_script") if request.param != "sqlite" else []
    yield from _database(request, tmp_path, sqlite_template, script)


def _lims_with_demo(db: Database, root: Path) -> None:
    """What `labledger init --demo` loads of the shipped LIMS configuration: the bundle,
    its demo users and their records played through the workflows."""
    _migrate(db)
    loaded, _ = load_seed_bundles(db, demo=True, root=root)
    assert loaded == ["lims 1.0"]


@pytest.fixture(scope="session")
def lims_seed_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeds folder holding only the shipped LIMS configuration."""
    root = tmp_path_factory.mktemp("seeds")
    shutil.copytree(data_path("seeds", "lims"), root / "lims")
    return root


@pytest.fixture(scope="session")
def lims_template(tmp_path_factory: pytest.TempPathFactory, lims_seed_root: Path) -> Path:
    path = tmp_path_factory.mktemp("lims") / "lims.db"
    db = open_database(f"sqlite:///{path}", settings=TEST_SETTINGS)
    _lims_with_demo(db, lims_seed_root)
    db.dispose()
    return path


@pytest.fixture(scope="session")
def lims_script(lims_seed_root: Path) -> list[Statement]:
    return _postgres_script_of(lambda db: _lims_with_demo(db, lims_seed_root))


@pytest.fixture(params=BACKENDS)
def lims_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database holding the shipped LIMS configuration and its demo data, as
    `labledger init --demo` leaves it; loaded once per test process and copied (the
    demo plays dozens of records through their workflows: seconds per test)."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("lims_template")
        yield from _database(request, tmp_path, template, [])
    else:
        yield from _database(request, tmp_path, Path(), request.getfixturevalue("lims_script"))


@pytest.fixture
def settings(db: Database) -> Settings:
    return db.settings


@dataclass
class Person:
    """A test user: their principal and an API token."""

    principal: Principal
    token: str

    @property
    def username(self) -> str:
        return self.principal.username

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_person(db: Database) -> Callable[..., Person]:
    """Create a user with roles (roles are created on the fly) and a token."""

    def make(username: str, *roles: str, permissions: tuple[str, ...] = ()) -> Person:
        with db.write() as conn:
            for role_key in roles:
                save_role(
                    conn,
                    SYSTEM,
                    {
                        "key": role_key,
                        "label": role_key.title(),
                        "permissions": list(permissions) if role_key == roles[0] else [],
                    },
                )
            create_user(
                conn,
                SYSTEM,
                username=username,
                full_name=username.title() + " Tester",
                roles=list(roles),
                password=TEST_PASSWORD,
                one_time=False,
            )
            token = create_token(conn, SYSTEM, username)
            from labledger.identity.tokens import principal_for_token

            principal = principal_for_token(conn, token)
        assert principal is not None
        return Person(principal, token)

    return make


@pytest.fixture
def admin(db: Database) -> Person:
    """The installation's admin (created by init), with a token."""
    with db.write() as conn:
        token = create_token(conn, SYSTEM, "admin")
        principal = load_principal(conn, 1)
    assert principal is not None
    return Person(principal, token)


@pytest.fixture
def publish(db: Database) -> Callable[[dict[str, Any]], int]:
    def run(definition: dict[str, Any]) -> int:
        with db.write() as conn:
            return publish_type(conn, SYSTEM, definition).version

    return run


@pytest.fixture(scope="session")
def app() -> Litestar:
    """The application, built once per test process (building it takes a fifth of a
    second) and given each test's database by ``client``."""
    return build_app(TEST_SETTINGS)


@pytest.fixture
def client(db: Database, app: Litestar) -> Iterator[TestClient[Any]]:
    serve_database(app, db)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
