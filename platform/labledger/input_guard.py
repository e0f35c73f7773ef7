"""Refuse input no handler can take, for every route, before any handler runs.

Two kinds of input fail below the handlers, where no service can give a
clear message:

- a NUL character in the address (path or query string) or in a submitted
  form: PostgreSQL text cannot hold one, so the query fails with a server
  error (JSON bodies are checked field by field by the services, see
  ``db.jsonfields.nul_paths``);
- a JSON body nested thousands deep: decoding it exhausts Python's recursion
  limit before validation could refuse it.

Both are refused here as problem JSON (or an error page) with status 422 and
a field error naming the parameter, on both databases alike.

A body for an endpoint that decodes JSON must also say it is JSON
(``application/json`` or ``application/*+json``): the framework would decode
JSON sent as ``text/plain`` just the same, which the OpenAPI document does not
describe. Anything else is refused with 415 (an empty body is left to the
handler, which reports the missing data itself).
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.enums import RequestEncodingType, ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.params import BodyKwarg
from litestar.types import ASGIApp, Receive, Scope, Send

from labledger.db.jsonfields import NUL_MESSAGE
from labledger.errors import FieldError, UnsupportedMediaType, ValidationFailed
from labledger.limits import check_json_depth


def _nul_errors(request: Request[Any, Any, Any]) -> list[FieldError]:
    """A field error for the path and for each query parameter holding a NUL."""
    errors = [FieldError("path", NUL_MESSAGE)] if "\x00" in request.scope["path"] else []
    return errors + [
        FieldError(name, NUL_MESSAGE)
        for name, value in request.query_params.multi_items()
        if "\x00" in name or "\x00" in value
    ]


async def _form_nul_errors(request: Request[Any, Any, Any]) -> list[FieldError]:
    """A field error for each field of a URL-encoded form holding a NUL.

    Multipart forms are left alone: their files may hold any byte.
    """
    if request.content_type[0] != RequestEncodingType.URL_ENCODED:
        return []
    form = await request.form()  # kept by the request: the handler reads it again
    return [
        FieldError(name, NUL_MESSAGE)
        for name, value in form.multi_items()
        if "\x00" in name or (isinstance(value, str) and "\x00" in value)
    ]


SHOWN_MEDIA_TYPE_CHARS = 100
"""How much of a refused media type the 415 message repeats (the header may be long)."""


def _takes_json_body(request: Request[Any, Any, Any]) -> bool:
    """Whether this request's handler takes ``data`` that the framework decodes as JSON."""
    data = request.route_handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        return False
    body = data.kwarg_definition
    return not isinstance(body, BodyKwarg) or body.media_type == RequestEncodingType.JSON


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _refuse_media_type(media_type: str) -> UnsupportedMediaType:
    shown = media_type[:SHOWN_MEDIA_TYPE_CHARS] or "missing"
    return UnsupportedMediaType(
        "The request body must be JSON sent with 'Content-Type: application/json'.",
        [FieldError("Content-Type", f"is {shown}; send application/json")],
    )


async def refuse_hostile_input(request: Request[Any, Any, Any]) -> None:
    """Raise for a NUL in the address or a form, a JSON body not sent as JSON, or over-deep JSON."""
    if errors := _nul_errors(request) + await _form_nul_errors(request):
        raise ValidationFailed("The request contains a NUL character.", errors)
    if not _takes_json_body(request):
        return
    body = await request.body()  # kept by the request for the decoder
    if not body:
        return
    media_type = request.content_type[0]
    if not _is_json(media_type):
        raise _refuse_media_type(media_type)
    check_json_depth(body)


class InputGuard(ASGIMiddleware):
    """Runs ``refuse_hostile_input`` for every HTTP request that reached a route."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        await refuse_hostile_input(Request(scope, receive, send))
        await next_app(scope, receive, send)
