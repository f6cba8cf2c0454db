"""What a step expected and observed: `Check`s recorded through `Checks`, a `StepResult` per step,
and how observed values are shown."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Check:
    """One expectation of a step: what is checked, the value expected, the value observed."""

    what: str
    expected: str
    observed: str
    ok: bool


@dataclass(frozen=True)
class StepResult:
    name: str
    expected: str
    observed: str
    ok: bool
    checks: tuple[Check, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)  # raw observations (tests, later steps)
    seconds: float = 0.0


class Checks:
    """What one step expected and what it observed, check by check, plus raw facts for callers."""

    def __init__(self) -> None:
        self.items: list[Check] = []
        self.facts: dict[str, Any] = {}

    def that(self, what: str, expected: str, observed: Any, ok: bool) -> bool:
        """A check whose expectation is a description (`expected`) rather than a value."""
        self.items.append(Check(what, expected, shown(observed), bool(ok)))
        return bool(ok)

    def equal(self, what: str, observed: Any, expected: Any) -> bool:
        return self.that(what, shown(expected), observed, observed == expected)

    def same_sha256(self, what: str, observed: str | None, expected: str, whose: str) -> bool:
        """Digests compared in full, shown shortened."""
        return self.that(what, f"{short(expected)} ({whose})", short(observed), observed == expected)

    def result(self, name: str, seconds: float = 0.0) -> StepResult:
        return StepResult(
            name=name,
            expected="; ".join(f"{c.what}: {c.expected}" for c in self.items),
            observed="; ".join(f"{c.what}: {c.observed}" for c in self.items),
            ok=bool(self.items) and all(c.ok for c in self.items),
            checks=tuple(self.items),
            facts=dict(self.facts),
            seconds=seconds,
        )


def shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return ", ".join(shown(v) for v in value) or "(none)"
    return json.dumps(value, default=str, sort_keys=True) if isinstance(value, dict) else str(value)


def short(text: str | None, keep: int = 12) -> str:
    return "—" if not text else text if len(text) <= keep + 1 else text[:keep] + "…"
