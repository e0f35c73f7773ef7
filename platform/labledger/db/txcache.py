"""Facts worth remembering until the end of the current transaction.

A transition that creates ten results would otherwise ask the database ten
times which version of the result type is current and ten times what the
sample's number is. Inside one transaction those answers cannot change
except by this transaction's own writes, so the services remember them here.

The cache hangs off the connection and is emptied whenever a transaction
begins, commits or rolls back (including rolling back to a savepoint), so a
value never outlives the transaction that read it and never survives the
undoing of a write it depended on. Code that writes something a cached
answer depends on (publishing a configuration version) updates the answer or
calls ``forget``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, event

_KEY = "labledger.transaction_cache"


def transaction_cache(conn: Connection, section: str) -> dict[Any, Any]:
    """The current transaction's dictionary for ``section`` (created empty)."""
    sections: dict[str, dict[Any, Any]] = conn.info.setdefault(_KEY, {})
    return sections.setdefault(section, {})


def forget(conn: Connection, section: str | None = None) -> None:
    """Drop what the current transaction remembered (one section, or all)."""
    sections = conn.info.get(_KEY)
    if sections is None:
        return
    if section is None:
        sections.clear()
    else:
        sections.pop(section, None)


def _forget_all(conn: Connection, *_args: Any) -> None:
    forget(conn)


def install_transaction_cache(engine: Engine) -> None:
    """Empty the cache at every transaction boundary of ``engine``'s connections."""
    for name in ("begin", "commit", "rollback", "rollback_savepoint"):
        event.listen(engine, name, _forget_all)
