"""One operational-qualification case: what is checked, how, and what was observed."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: A case's outcomes.
PASSED, FAILED, MANUAL = "passed", "failed", "manual test needed"


@dataclass
class Case:
    """A check derived from the configuration, filled in when it runs."""

    #: Stable within one configuration: ``OQ-<type>-<check>-<field>``.
    id: str
    #: Where it belongs, as people read it ("Sample: fields").
    area: str
    #: The requirement it serves (a clause of 21 CFR 11 or EU Annex 11).
    serves: str
    #: What is checked, in words.
    title: str
    #: What the case does.
    inputs: str
    #: What must happen.
    expected: str
    observed: str = ""
    outcome: str = ""

    def passed(self, observed: str) -> None:
        self.observed, self.outcome = observed, PASSED

    def failed(self, observed: str) -> None:
        self.observed, self.outcome = observed, FAILED

    def manual(self, reason: str) -> None:
        self.observed, self.outcome = reason, MANUAL

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
