"""Query parameters that several API operations share, declared once with their description."""

from __future__ import annotations

from typing import Annotated

from litestar.params import QueryParameter

from labledger.limits import INT32_MAX

#: Object type keys, comma-separated (``?types=sample,test``).
TypeKeys = Annotated[str | None, QueryParameter(description="comma-separated type keys")]
#: The size of a newest-first page of up to 500 items (the services refuse more, and say so).
PageLimit = Annotated[int, QueryParameter(ge=0, le=INT32_MAX, description="1 to 500")]
