"""Alembic environment: runs on the connection handed over by labledger.db.migrate.

The caller owns the connection and its transaction, so migrations can run
inside a larger change (``labledger db roles`` runs them as the owner role).
"""

from __future__ import annotations

from alembic import context

from labledger.db.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
