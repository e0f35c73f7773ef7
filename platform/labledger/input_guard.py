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
"""

from __future__ import annotations

from litestar import Request
from litestar.enums import RequestEncodingType, ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from labledger.db.jsonfields import NUL_MESSAGE
from labledger.errors import FieldError, ValidationFailed
from labledger.limits import check_json_depth


def _nul_errors(request: Request) -> list[FieldError]:
    """A field error for the path and for each query parameter holding a NUL."""
    errors = [FieldError("path", NUL_MESSAGE)] if "\x00" in request.scope["path"] else []
    return errors + [
        FieldError(name, NUL_MESSAGE)
        for name, value in request.query_params.multi_items()
        if "\x00" in name or "\x00" in value
    ]


async def _form_nul_errors(request: Request) -> list[FieldError]:
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


def _decodes_json_body(request: Request) -> bool:
    """Whether the framework decodes this request's body (its handler takes ``data``)."""
    media_type = request.content_type[0]
    takes_data = "data" in request.route_handler.parsed_fn_signature.parameters
    return takes_data and (media_type == "application/json" or media_type.endswith("+json"))


async def refuse_hostile_input(request: Request) -> None:
    """Raise ValidationFailed for a NUL in the address or a form, or over-deep JSON."""
    if errors := _nul_errors(request) + await _form_nul_errors(request):
        raise ValidationFailed("The request contains a NUL character.", errors)
    if _decodes_json_body(request):
        check_json_depth(await request.body())  # kept by the request for the decoder


class InputGuard(ASGIMiddleware):
    """Runs ``refuse_hostile_input`` for every HTTP request that reached a route."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        await refuse_hostile_input(Request(scope, receive, send))
        await next_app(scope, receive, send)
