"""The two exceptions the expression language raises, and the sentence it
gives an administrator when a stray Python exception escapes a computation.

Callers catch :class:`ExpressionError` when metadata is saved and
:class:`EvaluationError` when a record is evaluated; nothing else leaves the
package, so each caller needs exactly one ``except``.
"""

from __future__ import annotations

import decimal


class ExpressionError(ValueError):
    """The expression text is unusable: it does not parse, uses a construct
    the language does not offer, or names an unknown name or function.

    Raised when compiling, so metadata can be rejected when it is saved rather
    than when a record happens to trigger it.  ``offset`` is the 0-based
    character position in the source (when known) so an editor can point at it.
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class EvaluationError(ValueError):
    """Evaluating a valid expression failed for this particular context:
    division by zero, wrong operand types, a result that is too large...

    It is the only exception :meth:`Expression.evaluate` lets out (besides
    :class:`ExpressionError`/:class:`EvaluationError` raised on purpose by
    caller-provided functions), so callers need exactly one ``except``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def describe(exc: BaseException) -> str:
    """Turn a stray Python exception into a sentence for the administrator."""
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, OverflowError | decimal.Overflow):
        return "number is too large"
    if isinstance(exc, decimal.DecimalException):
        return f"invalid decimal arithmetic ({type(exc).__name__})"
    text = str(exc) or type(exc).__name__
    return f"evaluation failed: {text}"
