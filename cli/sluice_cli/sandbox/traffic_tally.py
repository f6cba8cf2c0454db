"""What SIMULATED traffic served, per variant: since the last look (live lines) and since the start
(the summary: invocations, errors, error rate, mean and p90 latency).

    tally = TrafficTally()
    simulator = TrafficSimulator(..., on_tick=tally.add)   # fed from the simulator's thread
    tally.interval()    # per variant since the previous call: weight, invocations, errors
    tally.summary()     # per variant since the start

Latencies are kept as a histogram of LATENCY_RESOLUTION_MS buckets (bounded however long the run), so
the p90 is nearest-rank within that resolution.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from sluice_cli.sandbox.traffic import SimulatedSecond

LATENCY_RESOLUTION_MS = 0.01


@dataclasses.dataclass(frozen=True)
class VariantInterval:
    """One variant since the previous look: its weight now (% of the traffic) and what it served."""

    variant: str
    percent: float
    invocations: int
    errors: int


@dataclasses.dataclass(frozen=True)
class Interval:
    """Every variant since the previous look, and how many simulated seconds have been played."""

    simulated_seconds: int
    variants: tuple[VariantInterval, ...]


@dataclasses.dataclass(frozen=True)
class VariantSummary:
    variant: str
    invocations: int
    errors: int
    mean_ms: float | None
    p90_ms: float | None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.invocations if self.invocations else None

    def as_json(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "invocations": self.invocations,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "latency_ms": {"mean": self.mean_ms, "p90": self.p90_ms},
        }


@dataclasses.dataclass
class _Served:
    invocations: int = 0
    errors: int = 0


def percentile(histogram: Mapping[float, int], rank: float) -> float | None:
    """Nearest-rank percentile (`rank` in 0..100) of a value → count histogram."""
    total = sum(histogram.values())
    if not total:
        return None
    wanted = max(1, math.ceil(rank / 100.0 * total))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= wanted:
            return value
    return max(histogram)


class TrafficTally:
    """Per-variant counts of SIMULATED traffic, fed by `add` (any thread), read by `interval` and
    `summary`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total: dict[str, _Served] = {}
        self._since: dict[str, _Served] = {}
        self._latency: dict[str, Counter[float]] = {}
        self._latency_sum_ms: dict[str, float] = {}
        self._weights: dict[str, float] = {}
        self._seen: set[str] = set()
        self._seconds = 0

    def add(self, seconds: Sequence[SimulatedSecond]) -> None:
        with self._lock:
            for second in seconds:
                self._seconds = max(self._seconds, second.index + 1)
                self._weights = {v.variant: v.weight for v in second.variants}
                for served in second.variants:
                    self._seen.add(served.variant)
                    for table in (self._total, self._since):
                        counts = table.setdefault(served.variant, _Served())
                        counts.invocations += served.invocations
                        counts.errors += served.errors
                    histogram = self._latency.setdefault(served.variant, Counter())
                    for micros in served.latencies_us:
                        milliseconds = micros / 1000.0
                        histogram[round(milliseconds / LATENCY_RESOLUTION_MS) * LATENCY_RESOLUTION_MS] += 1
                        self._latency_sum_ms[served.variant] = (
                            self._latency_sum_ms.get(served.variant, 0.0) + milliseconds
                        )

    @property
    def seen(self) -> frozenset[str]:
        """Every variant the endpoint had at some simulated second (at any weight)."""
        with self._lock:
            return frozenset(self._seen)

    @property
    def weights(self) -> dict[str, float]:
        """The variants and weights of the latest simulated second (DescribeEndpoint's)."""
        with self._lock:
            return dict(self._weights)

    @property
    def simulated_seconds(self) -> int:
        with self._lock:
            return self._seconds

    def interval(self) -> Interval:
        """Per variant of the endpoint now: its share, and what it served since the previous call."""
        with self._lock:
            total = sum(w for w in self._weights.values() if w > 0)
            names = sorted(set(self._weights) | {v for v, s in self._since.items() if s.invocations})
            variants = tuple(
                VariantInterval(
                    name,
                    100.0 * self._weights.get(name, 0.0) / total if total else 0.0,
                    self._since.get(name, _Served()).invocations,
                    self._since.get(name, _Served()).errors,
                )
                for name in names
            )
            self._since = {}
            return Interval(self._seconds, variants)

    def summary(self) -> list[VariantSummary]:
        """Per variant that served anything (or was seen), since the start, by name."""
        with self._lock:
            rows = []
            for name in sorted(self._seen | set(self._total)):
                served = self._total.get(name, _Served())
                histogram = self._latency.get(name, Counter())
                count = sum(histogram.values())
                rows.append(
                    VariantSummary(
                        name,
                        served.invocations,
                        served.errors,
                        self._latency_sum_ms.get(name, 0.0) / count if count else None,
                        percentile(histogram, 90),
                    )
                )
            return rows
