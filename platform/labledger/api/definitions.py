"""What every ``PUT`` of a definition shares: its body, and the key named by the address.

Definitions (object types, workflows, mappings, print templates) are checked
by the services against the JSON Schemas in ``metadata/``, which are their
published contract, so the API takes them as JSON objects and names that
contract in the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar.params import Body

from labledger.errors import FieldError, ValidationFailed

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
