"""Settings reach the code that needs them through the database's connections."""

from __future__ import annotations

from dataclasses import replace

from labledger.app import create_app
from labledger.db.engine import Database, settings_of
from labledger.settings import Settings


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


def test_the_app_writes_with_its_own_settings(db: Database, settings: Settings):
    chosen = replace(settings, attachment_max_bytes=50)
    app = create_app(chosen, db)
    assert app.state.db.settings is chosen
    assert app.state.db.engine is db.engine
