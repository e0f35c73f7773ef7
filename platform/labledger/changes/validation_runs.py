"""The qualification runs of a change request's proposed configuration, for its page.

``labledger validate --change N --record`` keeps a run as a record of the
``validation_run`` type (the shipped ``validation`` bundle) naming the request;
the request's reviewers see those runs before they sign. Without that type,
or for a reader who may not read it, there are none to show.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from labledger.identity.principal import Principal
from labledger.metadata import versions
from labledger.metadata.types import KIND, type_model
from labledger.records.query import ListQuery, list_records

#: The type that holds the runs (seeds/validation).
RUN_TYPE = "validation_run"
#: Runs a request's page lists, newest first.
SHOWN = 20


def runs_of(conn: Connection, reader: Principal, change_label: str) -> list[dict[str, Any]]:
    """The recorded runs of the request labelled ``change_label`` that ``reader`` may read."""
    if versions.current(conn, KIND, RUN_TYPE) is None:
        return []
    model = type_model(conn, RUN_TYPE)
    if not model.allows(reader, "read"):
        return []
    query = ListQuery(filters={"change_request": change_label}, limit=SHOWN)
    return list(list_records(conn, model, query, actor=reader)["items"])
