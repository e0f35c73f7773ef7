"""Regular expressions written by administrators, run in time linear in the text.

A field's ``pattern`` is checked against every value people type. Python's
``re`` backtracks: ``^(a+)+$`` against 27 characters takes seconds and holds
the worker all along. RE2 (the ``google-re2`` binding) never backtracks, so
every search takes time proportional to the text, whatever the pattern. The
price is a slightly smaller syntax: backreferences (``\\1``) and lookarounds
(``(?=``, ``(?!``, ``(?<=``, ``(?<!``) do not exist, and ``\\d``, ``\\w``,
``\\s`` match ASCII only (as in JavaScript, whose syntax JSON Schema's
``pattern`` follows). Such patterns are refused when published.

:data:`PatternValidator` is jsonschema's 2020-12 validator with its
``pattern`` keyword run by RE2; every schema holding admin-written patterns
is checked by it (and by the compiled quick checks, which use
:func:`compile_pattern` too).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import re2
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

#: Errors are returned to the caller, not written to the process's standard error.
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False


class PatternError(ValueError):
    """A pattern RE2 cannot run; the message says why, for the person who wrote it."""


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> Any:
    """``pattern`` compiled by RE2 (cached: a type's patterns are checked on every save).

    Raises :class:`PatternError` for syntax RE2 does not have.
    """
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternError(
            f"is not a regular expression this platform can run ({reason}); backreferences and "
            "lookarounds are not supported"
        ) from None


def _pattern_keyword(
    validator: Any, pattern: str, instance: Any, _schema: dict[str, Any]
) -> Iterator[ValidationError]:
    """jsonschema's ``pattern`` keyword (search, not full match), run by RE2."""
    if not validator.is_type(instance, "string"):
        return
    try:
        search = compile_pattern(pattern).search
    except PatternError as exc:  # published before patterns were checked with RE2
        yield ValidationError(f"cannot be checked: the field's pattern {exc}", validator="regex")
        return
    if search(instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _properties_keyword(
    validator: Any, properties: dict[str, Any], instance: Any, _schema: dict[str, Any]
) -> Iterator[ValidationError]:
    """jsonschema's ``properties``, with an attribute its schema forbids (``false``, as
    a field kind forbids another kind's attributes) reported at its own path and
    named for what it is; jsonschema would report it at its parent's path as
    "False schema does not allow ...", which leaves a person guessing."""
    if not validator.is_type(instance, "object"):
        return
    tag = instance.get("type")
    for name, subschema in properties.items():
        if name not in instance:
            continue
        if subschema is False:
            message = (
                f"does not apply to type '{tag}'" if isinstance(tag, str) else "is not allowed"
            )
            yield ValidationError(message, path=[name], validator="false", instance=instance[name])
        else:
            yield from validator.descend(instance[name], subschema, path=name, schema_path=name)


#: jsonschema's 2020-12 validator whose ``pattern`` keyword cannot backtrack (and
#: whose ``properties`` says which attribute is forbidden: see _properties_keyword).
#: (jsonschema's ``extend`` has no annotations, so the call is untyped by nature.)
PatternValidator: Any = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"pattern": _pattern_keyword, "properties": _properties_keyword}
)
