"""What every ``PUT`` of a definition shares: its body, the key named by the address, publishing.

Definitions (object types, workflows, mappings, print templates) are checked
by the services against the JSON Schemas in ``metadata/``, which are their
published contract, so the API takes them as JSON objects and names that
contract in the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from litestar.params import Body
from sqlalchemy import Connection

from labledger.api.schemas.base import Published
from labledger.db.engine import Database
from labledger.errors import FieldError, ValidationFailed
from labledger.identity.principal import Principal
from labledger.metadata import versions

#: A kind's publishing service (``publish_type``, ``publish_mapping`` ...).
Publisher = Callable[[Connection, Principal, dict[str, Any]], versions.Published]

DefinitionBody = Annotated[
    dict[str, Any],
    Body(
        description="The definition, as the JSON Schema of its kind in metadata/ describes it; "
        "its key may be left out (the address names it)."
    ),
]


def keyed_definition(data: dict[str, Any], key: str, noun: str = "definition") -> dict[str, Any]:
    """The definition with the address's key; a different key in the body is refused."""
    if data.get("key", key) != key:
        raise ValidationFailed(
            f"The {noun}'s key differs from the address.",
            [FieldError("key", f"must be '{key}'")],
        )
    return {"key": key, **data}


def publish_definition(
    db: Database,
    principal: Principal,
    publish: Publisher,
    data: dict[str, Any],
    key: str,
    noun: str = "definition",
) -> Published:
    """Publish the body of ``PUT .../{key}`` with its kind's service, in one write transaction.

    ``noun`` names the kind in the refusal of a body whose key differs from the address.
    """
    definition = keyed_definition(data, key, noun)
    with db.write() as conn:
        published = publish(conn, principal, definition)
    return Published(key=key, version=published.version, changed=published.changed)
