"""Whether an expression in a definition compiles, and the names it may call.

Guards, actions, computed fields and conditions are checked when their
definition is published, against the names they may read and the
related-record functions (implemented by ``labledger.records.relations``,
which needs the database; metadata needs only their names).
"""

from __future__ import annotations

from collections.abc import Collection

from labledger.expressions import ExpressionError, compile_expression

#: The related-record functions an expression may call (see labledger.records.relations).
RELATED_FUNCTIONS = frozenset(
    {"count_referencing", "all_referencing_in", "referenced", "lookup", "referencing_values"}
)


def expression_problem(source: str, names: Collection[str] | None) -> str | None:
    """Why ``source`` does not compile (with where, if known), or None if it does."""
    try:
        compile_expression(source, names=names, functions=RELATED_FUNCTIONS)
    except ExpressionError as exc:
        where = f" (at character {exc.offset + 1})" if exc.offset is not None else ""
        return f"{exc.message}{where}"
    return None
