"""The JSON Schemas in ``metadata/`` (the published contract) and the structs of
``labledger.metadata.spec`` (what the code reads) accept and refuse the same
documents: every shipped and test definition, and hundreds of mutations of them
(see tests/metadata_corpus.py)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from labledger.metadata.schemas import meta_validator
from labledger.metadata.spec import SPECS, DemoSpec, Spec, decode, encode
from tests.metadata_corpus import corpus, donors_of, mutations, planned_mutations, units

CORPUS = corpus()
DONORS = donors_of([document for _, (_, _, document) in CORPUS])


def _struct(kind: str, pointer: str) -> type[Spec]:
    return DemoSpec if pointer == "#/$defs/demo" else SPECS[kind]


def schema_accepts(kind: str, pointer: str, document: Any) -> bool:
    return next(iter(meta_validator(kind, pointer).iter_errors(document)), None) is None


def struct_accepts(kind: str, pointer: str, document: Any) -> bool:
    try:
        decode(document, _struct(kind, pointer))
    except msgspec.ValidationError:
        return False
    return True


def _disagreements(kind: str, pointer: str, cases: list[tuple[str, Any]]) -> list[str]:
    found = []
    for description, document in cases:
        by_schema = schema_accepts(kind, pointer, document)
        if by_schema != struct_accepts(kind, pointer, document):
            verdict = "schema accepts, struct refuses" if by_schema else "struct accepts only"
            found.append(f"{description}: {verdict}")
    return found


def test_the_corpus_holds_every_kind_of_document() -> None:
    kinds = {kind for _, (kind, _, _) in CORPUS}
    assert kinds == set(SPECS)
    assert len(CORPUS) > 60


@pytest.mark.parametrize(("origin", "document"), CORPUS, ids=[o for o, _ in CORPUS])
def test_schema_and_struct_agree_on_the_document(origin: str, document: Any) -> None:
    kind, pointer, body = document
    assert _disagreements(kind, pointer, [("as is", body)]) == []


@pytest.mark.parametrize(("origin", "document"), CORPUS, ids=[o for o, _ in CORPUS])
def test_an_accepted_document_encodes_back_to_itself(origin: str, document: Any) -> None:
    """Encoding leaves out what is at its default, so it gives back the document
    less the defaults it states; decoding that gives the same struct."""
    kind, pointer, body = document
    if not schema_accepts(kind, pointer, body):
        return
    spec = decode(body, _struct(kind, pointer))
    encoded = encode(spec)
    assert _contained(encoded, body)
    assert decode(encoded, _struct(kind, pointer)) == spec


def _contained(encoded: Any, original: Any) -> bool:
    if isinstance(encoded, dict):
        return isinstance(original, dict) and all(
            key in original and _contained(value, original[key]) for key, value in encoded.items()
        )
    if isinstance(encoded, list):
        return (
            isinstance(original, list)
            and len(encoded) == len(original)
            and all(_contained(a, b) for a, b in zip(encoded, original, strict=True))
        )
    return bool(encoded == original)


def _mutated(kind: str, pointer: str) -> list[tuple[str, Any]]:
    """An evenly spread sample of the mutations of the accepted documents of ``kind``
    (every kind of mutation stays in it), each once. Mutations are planned first
    and only the sampled ones are made."""
    planned = [
        (f"{origin}: {description}", make)
        for origin, (other, other_pointer, body) in CORPUS
        if (other, other_pointer) == (kind, pointer) and schema_accepts(kind, pointer, body)
        for unit in units(kind, pointer, body)
        for description, make in planned_mutations(unit, DONORS)
    ]
    seen: set[str] = set()
    cases = []
    for description, make in planned[:: max(1, len(planned) // _SAMPLE)]:
        mutated = make()
        fingerprint = json.dumps(mutated, sort_keys=True)
        if fingerprint not in seen:
            seen.add(fingerprint)
            cases.append((description, mutated))
    return cases


#: About how many mutations of each kind of document are checked.
_SAMPLE = 1500


@pytest.mark.parametrize(
    ("kind", "pointer", "at_least"),
    [
        ("object_type", "", 1000),
        ("workflow", "", 1000),
        ("mapping", "", 300),
        ("print_template", "", 200),
        ("role", "", 50),
        ("bundle", "#/$defs/demo", 300),
    ],
)
def test_schema_and_struct_agree_on_every_mutation(kind: str, pointer: str, at_least: int) -> None:
    cases = _mutated(kind, pointer)
    assert len(cases) >= at_least
    assert _disagreements(kind, pointer, cases) == []


def test_a_bundle_agrees_when_its_members_are_mutated() -> None:
    """A bundle holds the other documents (mutated on their own above): its own
    keys are mutated here on a small bundle."""
    bundle = {
        "format": "labledger.bundle/1",
        "name": "small",
        "version": "1",
        "description": "A bundle of one of each",
        "roles": [{"key": "analyst", "label": "Analyst"}],
        "records": [{"type": "batch", "ref": "b1", "data": {"code": "B1"}, "state": "open"}],
    }
    cases = list(mutations(bundle, DONORS))
    assert _disagreements("bundle", "", cases) == []


def test_a_whole_integral_float_is_the_one_known_difference() -> None:
    """JSON Schema counts 10.0 as an integer; msgspec reads it as a float, which an
    int attribute refuses. JSON written by people and by the type designer never
    holds 10.0 for a count, so this difference is accepted (and only this one)."""
    field = {"key": "code", "label": "Code", "type": "text", "max_length": 10.0}
    document = {"key": "t", "label": "T", "plural": "Ts", "numbering": "T-{###}", "fields": [field]}
    assert schema_accepts("object_type", "", document)
    assert not struct_accepts("object_type", "", document)
