"""Request and response bodies of the JSON API, one module per area.

Each response is a msgspec struct, so the OpenAPI document describes every
body the API sends; the services keep returning plain data, which a handler
turns into its struct with :func:`labledger.api.schemas.base.shaped`.
"""
