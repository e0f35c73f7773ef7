"""The Swagger UI page for the OpenAPI document, without inline script.

Litestar's own Swagger page writes the whole document and its start-up code
into an inline ``<script>``, which the Content-Security-Policy of every page
forbids. This page loads the document by URL and starts Swagger UI from a
static file instead, so it runs under the same policy as every other page.
"""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import Request
from litestar.openapi.plugins import SwaggerRenderPlugin

#: Starts Swagger UI on the container, reading the document's URL from it.
START_SCRIPT = "/static/swagger-start.js"


class StaticSwaggerPage(SwaggerRenderPlugin):
    """Swagger UI that reads the document from ``/schema/openapi.json``."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        config = request.app.openapi_config
        base = (config.path if config else None) or "/schema"
        spec_url = escape(base.rstrip("/") + "/openapi.json")
        title = escape(openapi_schema["info"]["title"])
        page = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <link href="{escape(self.css_url)}" rel="stylesheet">
  <script src="{escape(self.js_url)}" defer></script>
  <script src="{escape(self.standalone_preset_js_url)}" defer></script>
  <script src="{START_SCRIPT}" defer></script>
</head>
<body>
  <div id="swagger-container" data-spec-url="{spec_url}"></div>
</body>
</html>
"""
        return page.encode()
