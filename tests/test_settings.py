"""Settings reach the code that needs them through the database's connections."""

from __future__ import annotations

import argparse
from dataclasses import replace

import pytest

from labledger.cli_support import command_database
from labledger.db.engine import Database, open_database, settings_of
from labledger.settings import (
    BUNDLE_MAX_BYTES_ENV,
    DB_POOL_SIZE_ENV,
    IMPORT_MAX_BYTES_ENV,
    TOKEN_ENV,
    WEBHOOK_ALLOWLIST_ENV,
    Settings,
)
from tests.definitions import database_url


def test_every_transaction_carries_the_settings_of_its_database(db: Database):
    limited = replace(db, settings=replace(db.settings, attachment_max_bytes=50))
    with limited.write() as conn:
        assert settings_of(conn) is limited.settings
    with limited.read() as conn:
        assert settings_of(conn) is limited.settings
    with limited.snapshot() as conn:
        assert settings_of(conn) is limited.settings
    assert limited.write_unless_busy(settings_of) is limited.settings
    # The same engine opened by another Database keeps its own settings.
    with db.read() as conn:
        assert settings_of(conn) is db.settings


def test_a_bare_connection_has_the_default_settings(db: Database):
    with db.engine.connect() as conn:
        assert settings_of(conn) == Settings()


def test_a_command_opens_its_database_with_its_settings(monkeypatch, tmp_path):
    monkeypatch.setenv(IMPORT_MAX_BYTES_ENV, "2048")
    url = f"sqlite:///{tmp_path / 'command.db'}"
    with command_database(argparse.Namespace(database=url)) as db:
        assert db.settings.database_url == url
        assert db.settings.import_max_bytes == 2048


def test_limits_allowlist_and_token_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv(BUNDLE_MAX_BYTES_ENV, "4096")
    monkeypatch.setenv(IMPORT_MAX_BYTES_ENV, " 2048 ")
    monkeypatch.setenv(WEBHOOK_ALLOWLIST_ENV, "erp.example.com")
    monkeypatch.setenv(TOKEN_ENV, " llt_secret ")
    settings = Settings.from_env()
    assert settings.bundle_max_bytes == 4096
    assert settings.import_max_bytes == 2048
    assert settings.webhook_allowlist == "erp.example.com"
    assert settings.api_token == "llt_secret"
    assert "llt_secret" not in repr(settings)
    for name in (BUNDLE_MAX_BYTES_ENV, IMPORT_MAX_BYTES_ENV, WEBHOOK_ALLOWLIST_ENV, TOKEN_ENV):
        monkeypatch.setenv(name, "")
    unset = Settings.from_env()
    assert unset.bundle_max_bytes == Settings.bundle_max_bytes
    assert unset.import_max_bytes == Settings.import_max_bytes
    assert (unset.webhook_allowlist, unset.api_token) == ("", None)


@pytest.mark.parametrize("raw", ["ten", "0", "-5", "1.5"])
def test_a_size_limit_that_is_no_positive_number_stops_the_program(monkeypatch, raw):
    monkeypatch.setenv(IMPORT_MAX_BYTES_ENV, raw)
    expected = f"{IMPORT_MAX_BYTES_ENV} must be a positive whole number of bytes, not {raw!r}"
    with pytest.raises(SystemExit) as stopped:
        Settings.from_env()
    assert str(stopped.value) == expected


def test_the_pool_size_sizes_both_postgresql_pools(monkeypatch, db: Database):
    """Operators keep four times the pool size per worker under max_connections."""
    monkeypatch.setenv(DB_POOL_SIZE_ENV, "3")
    settings = Settings.from_env()
    assert settings.db_pool_size == 3
    opened = open_database(database_url(db), settings=settings)
    try:
        with opened.write() as conn:  # the database answers through the sized pools
            assert settings_of(conn).db_pool_size == 3
        if db.dialect == "postgresql":
            pools = [engine.pool for engine in opened.engines]
            assert [pool.size() for pool in pools] == [3, 3]
    finally:
        opened.dispose()


@pytest.mark.parametrize("raw", ["ten", "0", "-1"])
def test_a_pool_size_that_is_no_positive_number_stops_the_program(monkeypatch, raw):
    monkeypatch.setenv(DB_POOL_SIZE_ENV, raw)
    with pytest.raises(SystemExit) as stopped:
        Settings.from_env()
    assert (
        str(stopped.value)
        == f"{DB_POOL_SIZE_ENV} must be a positive whole number of connections, not {raw!r}"
    )
