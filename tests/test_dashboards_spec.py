"""The dashboard schema (``metadata/dashboard.schema.json``) and its structs
(``metadata/spec/dashboard.py``) accept and refuse the same documents: every
dashboard the project ships or its tests use, every mutation of them, and each
panel turned into every other kind (whose keys it then carries wrongly)."""

from __future__ import annotations

import copy
from typing import Any, get_args

from labledger.metadata.spec import PanelSpec
from tests.metadata_corpus import corpus, donors_of, mutations, units
from tests.test_metadata_spec_agreement import schema_accepts, struct_accepts

CORPUS = corpus()
DONORS = donors_of([document for _, (_, _, document) in CORPUS])
DASHBOARDS = [(origin, body) for origin, (kind, _, body) in CORPUS if kind == "dashboard"]
PANEL_KINDS = [panel.__struct_config__.tag for panel in get_args(PanelSpec)]


def _kind_swaps(dashboard: dict[str, Any]) -> list[tuple[str, Any]]:
    swapped = []
    for index, panel in enumerate(dashboard["panels"]):
        for kind in PANEL_KINDS:
            if kind != panel["kind"]:
                changed = copy.deepcopy(dashboard)
                changed["panels"][index]["kind"] = kind
                swapped.append((f"panels/{index}: {panel['kind']} -> {kind}", changed))
    return swapped


def _disagreements(cases: list[tuple[str, Any]]) -> list[str]:
    return [
        f"{description}: the schema {'accepts' if accepted else 'refuses'} it"
        for description, document in cases
        if (accepted := schema_accepts("dashboard", "", document))
        != struct_accepts("dashboard", "", document)
    ]


def test_the_shipped_and_test_dashboards_are_in_the_corpus():
    origins = [origin for origin, _ in DASHBOARDS]
    assert any(o.startswith("seeds/lims/bundle.json") for o in origins)
    assert any(o.startswith("seeds/qms/bundle.json") for o in origins)
    assert any(o.startswith("tests/test_dashboards.py") for o in origins)


def test_schema_and_struct_agree_on_every_mutation_of_every_dashboard():
    cases = [
        (f"{origin}: {description}", mutated)
        for origin, body in DASHBOARDS
        for unit in units("dashboard", "", body)
        for description, mutated in mutations(unit, DONORS)
    ]
    assert len(cases) > 500
    assert _disagreements(cases) == []


def test_schema_and_struct_agree_when_a_panel_changes_kind():
    cases = [case for _, body in DASHBOARDS for case in _kind_swaps(body)]
    assert any(schema_accepts("dashboard", "", document) for _, document in cases)
    assert _disagreements(cases) == []
