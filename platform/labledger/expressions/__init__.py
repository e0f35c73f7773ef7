"""The platform's one sandboxed expression language.

Administrators write small expressions in metadata: computed fields
(``value < spec_low or value > spec_high``), workflow guards
(``status == 'done' and len(actions) > 0``) and conditional visibility or
requiredness (``review_required == False``).  Those strings come from JSON that
an administrator edits, so they are *untrusted code*.  Python's ``eval`` is
not a sandbox: ``().__class__.__bases__[0].__subclasses__()`` and friends
reach every object in the process, and ``9 ** 9 ** 9`` freezes it.

So this package never hands user text to ``eval``, ``exec`` or ``compile``
and never calls ``getattr`` on values.  Instead it:

1. parses the text with ``ast.parse(mode="eval")`` (parsing runs no code);
2. checks size limits (characters, nodes, nesting) so hostile input cannot
   exhaust the stack or the CPU before we even start;
3. translates a *whitelisted* subset of the tree into a tree of small Python
   closures, refusing everything else with an :class:`ExpressionError` that
   names the construct and its position;
4. runs the closures against a ``Mapping`` context.  Every operator is
   implemented here, with SQL-like null rules and limits on the size of
   numbers, texts and lists, and every failure surfaces as an
   :class:`EvaluationError`.

Translation happens once per distinct expression (results are cached), so
evaluating a compiled expression costs a handful of function calls.

The language is documented for administrators in ``docs/expressions.md``.

Where things are: :mod:`.parser` (text → checked tree, size limits),
:mod:`.translator` (the whitelist: tree → closures), :mod:`.operators` and
:mod:`.values` (operator semantics), :mod:`.functions` and :mod:`.dates`
(built-in functions), :mod:`.compiler` (``compile_expression``,
``Expression``), :mod:`.errors` and :mod:`.limits`.
"""

from labledger.expressions.compiler import Expression, compile_expression, evaluate
from labledger.expressions.errors import EvaluationError, ExpressionError
from labledger.expressions.functions import BUILTIN_FUNCTIONS

__all__ = [
    "BUILTIN_FUNCTIONS",
    "EvaluationError",
    "Expression",
    "ExpressionError",
    "compile_expression",
    "evaluate",
]
