"""Every meta-model document the project ships or its tests use, and mutations of them.

The agreement test (test_metadata_spec_agreement.py) checks each of them
against both the JSON Schemas in ``metadata/`` and the structs of
``labledger.metadata.spec``. Documents are found, not listed: the seeds, the
shipped workflows, the definitions the tests build in their helper modules,
and every dict literal in the tests that has the keys of a document kind.
"""

from __future__ import annotations

import ast
import copy
import json
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from labledger.metadata.spec import FIELD_KINDS
from tests import definitions, workflow_definitions

ROOT = Path(__file__).resolve().parent.parent
#: The keys that tell a dict literal's document kind (schema name).
_KIND_KEYS = {
    "object_type": {"key", "numbering", "fields"},
    "workflow": {"key", "states", "transitions"},
    "mapping": {"key", "target", "columns"},
    "print_template": {"key", "kind", "template"},
    "dashboard": {"key", "roles", "panels"},
    "bundle": {"format", "name"},
}
#: A document: (schema name, JSON pointer into it, the document).
Document = tuple[str, str, Any]


def _bundle_members(bundle: dict[str, Any]) -> Iterator[Document]:
    for member, kind in (
        ("roles", "role"),
        ("workflows", "workflow"),
        ("types", "object_type"),
        ("mappings", "mapping"),
        ("print_templates", "print_template"),
        ("dashboards", "dashboard"),
    ):
        for item in bundle.get(member, []):
            yield kind, "", item


def shipped() -> Iterator[tuple[str, Document]]:
    """(origin, document) for the seeds' bundles, demo data and shipped workflows."""
    for path in sorted(ROOT.glob("seeds/*/bundle.json")):
        bundle = json.loads(path.read_text(encoding="utf-8"))
        yield str(path.relative_to(ROOT)), ("bundle", "", bundle)
        for index, document in enumerate(_bundle_members(bundle)):
            yield f"{path.relative_to(ROOT)}[{index}]", document
    for path in sorted(ROOT.glob("seeds/*/demo.json")):
        demo = json.loads(path.read_text(encoding="utf-8"))
        yield str(path.relative_to(ROOT)), ("bundle", "#/$defs/demo", demo)
    for path in sorted(ROOT.glob("workflows/*.json")):
        workflow = json.loads(path.read_text(encoding="utf-8"))
        yield str(path.relative_to(ROOT)), ("workflow", "", workflow)


def _helper_definitions() -> Iterator[tuple[str, Document]]:
    yield "definitions.batch_type", ("object_type", "", definitions.batch_type())
    yield "definitions.measurement_type", ("object_type", "", definitions.measurement_type())
    yield "workflow_definitions.job_type", ("object_type", "", workflow_definitions.job_type())
    yield "workflow_definitions.task_type", ("object_type", "", workflow_definitions.task_type())
    for name in dir(workflow_definitions):
        value = getattr(workflow_definitions, name)
        if name.isupper() and isinstance(value, dict):
            yield f"workflow_definitions.{name}", ("workflow", "", value)


def _kind_of(value: dict[str, Any]) -> str | None:
    return next((kind for kind, keys in _KIND_KEYS.items() if keys <= value.keys()), None)


def _inline_definitions() -> Iterator[tuple[str, Document]]:
    """Dict literals in the tests (those written with constants only) that look like
    a document: some are meant to be refused, and both must refuse them."""
    for path in sorted((ROOT / "tests").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Dict):
                continue
            try:
                value = ast.literal_eval(node)
            except ValueError:
                continue
            kind = _kind_of(value) if isinstance(value, dict) else None
            if kind is not None:
                yield f"{path.relative_to(ROOT)}:{node.lineno}", (kind, "", value)


def corpus() -> list[tuple[str, Document]]:
    """Every document found, each once."""
    seen: set[str] = set()
    found = []
    for origin, document in (*shipped(), *_helper_definitions(), *_inline_definitions()):
        fingerprint = json.dumps(document, sort_keys=True)
        if fingerprint not in seen:
            seen.add(fingerprint)
            found.append((origin, document))
    return found


# --- mutations ---

#: Values put in place of each value of a document: wrong types, empty and
#: too-long strings, a key with a trailing newline, out-of-range numbers.
REPLACEMENTS: tuple[Any, ...] = (
    None,
    True,
    7,
    -1,
    0,
    1.5,
    10**7,
    "",
    "Not a key!",
    "key\n",
    "x" * 4001,
    [],
    {},
    ["x"],
)
_UNKNOWN = "unknown_attribute"


def _nodes(document: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, document
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _nodes(value, (*path, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _nodes(value, (*path, index))


def _parent(document: Any, path: tuple[Any, ...]) -> tuple[Any, Any]:
    """A deep copy of ``document`` and, in it, the container of ``path``'s last step."""
    result = copy.deepcopy(document)
    parent = result
    for step in path[:-1]:
        parent = parent[step]
    return result, parent


def _replaced(document: Any, path: tuple[Any, ...], replacement: Any) -> Any:
    result, parent = _parent(document, path)
    parent[path[-1]] = replacement
    return result


def _dropped(document: Any, path: tuple[Any, ...]) -> Any:
    result, parent = _parent(document, path)
    del parent[path[-1]]
    return result


def _tagged_attributes(corpus_documents: list[Any]) -> dict[str, dict[str, Any]]:
    """For each tag of a tagged union (field kinds, action types): an example of
    each attribute seen on it in the corpus."""
    found: dict[str, dict[str, Any]] = {}
    for document in corpus_documents:
        for _, node in _nodes(document):
            if isinstance(node, dict) and isinstance(node.get("type"), str):
                examples = found.setdefault(node["type"], {})
                for key, value in node.items():
                    examples.setdefault(key, value)
    return found


def units(kind: str, pointer: str, document: Any) -> Iterator[Any]:
    """Small documents that together hold every part of ``document``: the schema
    checks the items of a list one by one, so an object type is cut into one
    document per shape of field (kind and attributes), a workflow into one per
    shape of state and of transition, a dashboard into one per shape of panel,
    demo data into one per shape of user, of record and of step. Mutating those
    finds every case the whole document would, in a fraction of the time."""
    if (kind, pointer) == ("bundle", "#/$defs/demo"):
        yield from _demo_units(document)
        return
    members = {
        "object_type": ("fields",),
        "workflow": ("states", "transitions"),
        "dashboard": ("panels",),
    }.get(kind, ())
    if not isinstance(document, dict) or not all(
        isinstance(document.get(m), list) and document[m] for m in members
    ):
        yield document
        return
    yield {**document, **{member: document[member][:1] for member in members}}
    for member in members:
        for item in _one_of_each_shape(document[member]):
            yield {**document, **{m: document[m][:1] for m in members}, member: [item]}


def _demo_units(demo: Any) -> Iterator[Any]:
    """One demo per shape of user, of record (with its first step) and of step (on
    the record it belongs to). The values a record's data holds are free, so one
    example of each shape of record stands for all."""
    if not isinstance(demo, dict) or not all(
        isinstance(demo.get(member, []), list) for member in ("users", "records")
    ):
        yield demo
        return
    for user in _one_of_each_shape(demo.get("users", [])):
        yield {"users": [user]}
    records = demo.get("records", [])
    for record in _one_of_each_shape(records, free=("data", "find", "steps")):
        steps = record.get("steps") if isinstance(record, dict) else None
        yield {"records": [{**record, "steps": steps[:1]} if steps else record]}
    by_shape: dict[str, tuple[Any, Any]] = {}
    for record in records:
        if isinstance(record, dict) and isinstance(record.get("steps"), list):
            for step in record["steps"]:
                shape = json.dumps(_shape(step, free=("data",)), sort_keys=True)
                by_shape.setdefault(shape, (record, step))
    for record, step in by_shape.values():
        yield {"records": [{**record, "steps": [step]}]}


def _one_of_each_shape(items: list[Any], free: tuple[str, ...] = ()) -> list[Any]:
    shapes: dict[str, Any] = {}
    for item in items:
        shapes.setdefault(json.dumps(_shape(item, free), sort_keys=True), item)
    return list(shapes.values())


def _shape(value: Any, free: tuple[str, ...] = ()) -> Any:
    """The kind of ``value``: its keys and the types of their values (a tag kept as
    it is); the content of the ``free`` keys counts only as being there."""
    if isinstance(value, dict):
        return {
            k: (v if k == "type" else "free" if k in free else _shape(v)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_shape(v) for v in value[:1]]
    return type(value).__name__


#: A mutation not yet made: its description and how to make it (a deep copy of
#: the document, changed), so a sample of mutations copies only what it checks.
Planned = tuple[str, Callable[[], Any]]


def mutations(document: Any, donors: dict[str, dict[str, Any]]) -> Iterator[tuple[str, Any]]:
    """(description, mutated document) for each of ``planned_mutations``."""
    for description, make in planned_mutations(document, donors):
        yield description, make()


def planned_mutations(document: Any, donors: dict[str, dict[str, Any]]) -> Iterator[Planned]:
    """Each key dropped, an unknown key added to each object, each value replaced by
    each of REPLACEMENTS, each attribute of another kind (or action type) moved
    onto each tagged object, each tag changed."""
    for path, node in _nodes(document):
        where = "/".join(map(str, path)) or "(document)"
        if path:
            for replacement in REPLACEMENTS:
                yield (
                    f"{where} = {replacement!r:.20}",
                    partial(_replaced, document, path, replacement),
                )
        if isinstance(node, dict):
            for key in node:
                yield f"drop {where}/{key}", partial(_dropped, document, (*path, key))
            yield f"add {where}/{_UNKNOWN}", partial(_put, document, path, _UNKNOWN, 1)
            yield from _moved(document, path, node, donors, where)


def _moved(
    document: Any,
    path: tuple[Any, ...],
    node: dict[str, Any],
    donors: dict[str, dict[str, Any]],
    where: str,
) -> Iterator[Planned]:
    tag = node.get("type")
    if not isinstance(tag, str) or tag not in donors:
        return
    family = _family(tag)
    for other, examples in donors.items():
        if other == tag or _family(other) != family:
            continue
        yield f"{where}: type {tag} -> {other}", partial(_put, document, path, "type", other)
        for attribute, example in examples.items():
            if attribute not in node:
                yield (
                    f"{where}: {other}'s {attribute} on a {tag}",
                    partial(_put, document, path, attribute, example),
                )


_ACTION_TYPES = frozenset({"set", "create", "transition_referenced"})


def _family(tag: str) -> str:
    return "action" if tag in _ACTION_TYPES else "field"


def _put(document: Any, path: tuple[Any, ...], key: str, value: Any) -> Any:
    result, node = _parent(document, (*path, key))
    node[key] = copy.deepcopy(value)
    return result


def donors_of(documents: list[Any]) -> dict[str, dict[str, Any]]:
    """The attribute examples ``mutations`` moves between kinds (see _tagged_attributes),
    of field kinds and action types only."""
    tags = set(FIELD_KINDS) | _ACTION_TYPES
    return {tag: examples for tag, examples in _tagged_attributes(documents).items() if tag in tags}
