"""Request bodies a handler reads as raw bytes, described in the OpenAPI document.

Uploads, file imports and bundle imports read ``request.body()`` themselves:
the bytes are hashed and recorded as received, so no framework decoder may
touch them. Litestar documents a request body only for a ``data`` parameter;
these operations name theirs through an ``operation_class`` instead, marked
``x-raw-body``: the body is taken as sent, whatever its ``Content-Type``
(so such an operation never answers 415).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from litestar.openapi.spec import OpenAPIMediaType, Operation, Reference, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType

#: The vendor extension marking an operation whose body is read as sent.
RAW_BODY = "x-raw-body"
#: Any bytes: a file as it is.
BINARY = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)


def raw_body(
    media_type: str, description: str, schema: Schema | Reference = BINARY
) -> type[Operation]:
    """An ``operation_class`` documenting a required raw body of ``media_type``."""
    body = RequestBody(
        content={media_type: OpenAPIMediaType(schema=schema)},
        description=description,
        required=True,
    )

    @dataclass
    class RawBodyOperation(Operation):
        raw_body: bool = field(default=True, metadata={"alias": RAW_BODY})

        def __post_init__(self) -> None:
            self.request_body = body

    return RawBodyOperation
