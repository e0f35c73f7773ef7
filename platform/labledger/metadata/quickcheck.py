"""A fast yes-or-no answer to "does this value match this JSON Schema?".

jsonschema explains each problem with its JSON path, which the messages need,
but it walks a schema slowly: checking a bundle of 50 object types of 40
fields each takes it about a second. Nearly everything published is valid,
so each meta-model schema is also compiled, once per process, into plain
Python checks that only say yes or no; only a value they refuse is walked
again by jsonschema for its messages (see ``schemas.meta_validator``).

The compiler knows the keywords of the JSON Schema 2020-12 subset that the
schemas in ``metadata/`` use and checks them exactly as jsonschema does
(``true`` is not ``1``, ``1.0`` is an integer, patterns are searched, not
matched; by RE2, see ``patterns``). A schema using any other keyword raises ``Unsupported``: such a
schema is then checked by jsonschema alone, slower but never half-checked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from numbers import Number
from typing import Any
from urllib.parse import urldefrag, urljoin

from labledger.metadata.patterns import PatternError, compile_pattern

Check = Callable[[Any], bool]

#: Keywords that never decide validity (annotations, and the identifier of a schema file).
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "default", "examples"}
)


#: The keywords checked, and the method of ``_Compiler`` that compiles each.
_KEYWORDS = {
    "$ref": "ref",
    "$defs": "definitions",
    "type": "type_",
    "enum": "enum",
    "const": "const",
    "pattern": "pattern",
    "minLength": "min_length",
    "maxLength": "max_length",
    "minimum": "minimum",
    "maximum": "maximum",
    "exclusiveMinimum": "exclusive_minimum",
    "minItems": "min_items",
    "maxItems": "max_items",
    "uniqueItems": "unique_items",
    "items": "items",
    "required": "required",
    "properties": "properties",
    "additionalProperties": "additional_properties",
    "propertyNames": "property_names",
    "allOf": "all_of",
    "anyOf": "any_of",
    "if": "if_",
}


class Unsupported(Exception):
    """The schema uses a keyword this compiler does not check."""


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value: Any) -> bool:
    return isinstance(value, Number) and not isinstance(value, bool)


_TYPES: dict[str, Check] = {
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "integer": _is_integer,
    "null": lambda v: v is None,
    "number": _is_number,
    "object": lambda v: isinstance(v, dict),
    "string": lambda v: isinstance(v, str),
}


def equal(one: Any, two: Any) -> bool:
    """JSON equality: ``true`` is not ``1``, ``1`` is ``1.0``, containers compare deeply."""
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(equal(one[k], two[k]) for k in one)
    if isinstance(one, bool) or isinstance(two, bool):
        return one is two
    return bool(one == two)


class _Compiler:
    """Compiles schemas found in ``resources`` (root schemas by their ``$id``)."""

    def __init__(self, resources: Mapping[str, Any]) -> None:
        self.resources = resources
        self.compiled: dict[str, Check] = {}
        self.compiling: set[str] = set()

    def reference(self, uri: str) -> Check:
        """The check of the schema at ``uri`` (``<$id>#<JSON pointer>``), compiled once."""
        if uri in self.compiled:
            return self.compiled[uri]
        compiled = self.compiled
        if uri in self.compiling:  # a schema that refers to itself: look it up when called
            return lambda value: compiled[uri](value)
        self.compiling.add(uri)
        base, fragment = urldefrag(uri)
        if base not in self.resources:
            raise Unsupported(f"$ref to an unknown schema: {uri}")
        node = self.resources[base]
        for part in filter(None, fragment.split("/")):
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        compiled[uri] = self.schema(node, base)
        self.compiling.discard(uri)
        return compiled[uri]

    def schema(self, schema: Any, base: str) -> Check:
        if schema is True or schema == {}:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, dict):
            raise Unsupported(f"not a schema: {schema!r}")
        node: dict[str, Any] = schema
        if "$id" in node and self.resources.get(node["$id"]) is not node:
            raise Unsupported("an $id inside a schema")  # it would change how $refs resolve
        checks = [
            self.keyword(name, value, node, base)
            for name, value in node.items()
            if name not in _ANNOTATIONS and name not in ("then", "else")
        ]
        checks = [c for c in checks if c is not _always]
        if not checks:
            return _always
        if len(checks) == 1:
            return checks[0]
        return _all_of(checks)

    def keyword(self, name: str, value: Any, schema: dict[str, Any], base: str) -> Check:
        method = _KEYWORDS.get(name)
        if method is None:
            raise Unsupported(f"keyword {name!r}")
        check: Check = getattr(self, method)(value, schema, base)
        return check

    def ref(self, ref: str, _schema: Any, base: str) -> Check:
        return self.reference(urljoin(base, ref))

    def definitions(self, *_: Any) -> Check:
        return _always  # definitions are checked where they are referred to

    def type_(self, kinds: str | list[str], *_: Any) -> Check:
        if isinstance(kinds, str):
            return _TYPES[kinds]
        tests = [_TYPES[k] for k in kinds]
        return lambda value: any(test(value) for test in tests)

    def enum(self, options: list[Any], *_: Any) -> Check:
        if all(isinstance(o, str) for o in options):
            strings = frozenset(options)
            return lambda value: isinstance(value, str) and value in strings
        return lambda value: any(equal(value, option) for option in options)

    def const(self, expected: Any, *_: Any) -> Check:
        if isinstance(expected, str):  # JSON equality with text is plain equality
            return lambda value: value == expected
        return lambda value: equal(value, expected)

    def pattern(self, pattern: str, *_: Any) -> Check:
        try:
            search = compile_pattern(pattern).search
        except PatternError:  # jsonschema alone explains a pattern RE2 cannot run
            raise Unsupported(f"pattern {pattern!r}") from None
        return lambda value: not isinstance(value, str) or search(value) is not None

    def min_length(self, limit: int, *_: Any) -> Check:
        return lambda value: not isinstance(value, str) or len(value) >= limit

    def max_length(self, limit: int, *_: Any) -> Check:
        return lambda value: not isinstance(value, str) or len(value) <= limit

    def minimum(self, limit: float, *_: Any) -> Check:
        return lambda value: not _is_number(value) or value >= limit

    def maximum(self, limit: float, *_: Any) -> Check:
        return lambda value: not _is_number(value) or value <= limit

    def exclusive_minimum(self, limit: float, *_: Any) -> Check:
        return lambda value: not _is_number(value) or value > limit

    def min_items(self, limit: int, *_: Any) -> Check:
        return lambda value: not isinstance(value, list) or len(value) >= limit

    def max_items(self, limit: int, *_: Any) -> Check:
        return lambda value: not isinstance(value, list) or len(value) <= limit

    def unique_items(self, unique: bool, *_: Any) -> Check:
        if not unique:
            return _always
        return lambda value: (
            not isinstance(value, list)
            or not any(equal(a, b) for i, a in enumerate(value) for b in value[i + 1 :])
        )

    def items(self, items: Any, _schema: Any, base: str) -> Check:
        check = self.schema(items, base)
        return lambda value: not isinstance(value, list) or all(map(check, value))

    def required(self, names: list[str], *_: Any) -> Check:
        return lambda value: not isinstance(value, dict) or all(n in value for n in names)

    def properties(self, properties: dict[str, Any], _schema: Any, base: str) -> Check:
        checks = {name: self.schema(sub, base) for name, sub in properties.items()}
        checks = {name: check for name, check in checks.items() if check is not _always}
        if not checks:
            return _always
        if len(checks) == 1:  # e.g. the condition of an if: {"properties": {"type": ...}}
            [(name, test)] = checks.items()
            return lambda value: (
                not isinstance(value, dict) or name not in value or test(value[name])
            )

        def check(value: Any) -> bool:
            if not isinstance(value, dict):
                return True
            if len(checks) < len(value):
                return all(test(value[name]) for name, test in checks.items() if name in value)
            # A definition sets a few of its many properties: walk those it has.
            for name, item in value.items():
                test = checks.get(name)
                if test is not None and not test(item):
                    return False
            return True

        return check

    def additional_properties(self, extra: Any, schema: Any, base: str) -> Check:
        if "patternProperties" in schema:
            raise Unsupported("keyword 'patternProperties'")
        known = frozenset(schema.get("properties", {}))
        test = self.schema(extra, base)
        if test is _never:
            return lambda value: not isinstance(value, dict) or known.issuperset(value)
        return lambda value: (
            not isinstance(value, dict)
            or all(test(item) for name, item in value.items() if name not in known)
        )

    def property_names(self, names: Any, _schema: Any, base: str) -> Check:
        test = self.schema(names, base)
        return lambda value: not isinstance(value, dict) or all(map(test, value))

    def all_of(self, schemas: list[Any], _schema: Any, base: str) -> Check:
        return _all_of([self.schema(s, base) for s in schemas])

    def any_of(self, schemas: list[Any], _schema: Any, base: str) -> Check:
        tests = [self.schema(s, base) for s in schemas]
        return lambda value: any(test(value) for test in tests)

    def if_(self, condition: Any, schema: Any, base: str) -> Check:
        test = self.schema(condition, base)
        then = self.schema(schema.get("then", True), base)
        otherwise = self.schema(schema.get("else", True), base)
        return lambda value: then(value) if test(value) else otherwise(value)


def _all_of(checks: list[Check]) -> Check:
    """``checks`` chained with ``and`` (a generator per node would cost more than the checks)."""
    if len(checks) == 1:
        return checks[0]
    first, rest = checks[0], _all_of(checks[1:])
    return lambda value: first(value) and rest(value)


def _always(_value: Any) -> bool:
    return True


def _never(_value: Any) -> bool:
    return False


def compile_check(uri: str, resources: Mapping[str, Any]) -> Check:
    """The yes-or-no check of the schema at ``uri`` among ``resources`` (by ``$id``).

    Raises ``Unsupported`` when the schema, or one it refers to, uses a
    keyword this module does not check.
    """
    return _Compiler(resources).reference(uri)
