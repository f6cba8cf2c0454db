"""A fake of sluice.domain.ports.MetricsPort: each variant's window as a test sets it.

By default every variant answers a healthy, busy window (1000 invocations, no errors, p-anything 40 ms,
nobody slower than the threshold): a canary analysis passes unless a test says otherwise. `reads` records
every query (variant, what, the window) for tests that check the window a look read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sluice.domain.analysis.verdict import VariantCounts
from sluice.errors import MetricsUnavailable


@dataclass
class VariantWindow:
    invocations: int = 1000
    errors: int = 0
    latency_samples: int | None = None  # None: one per invocation
    percentile_us: float | None = 40_000.0  # None: CloudWatch answers no percentile
    share_above_pct: float | None = 0.0


@dataclass
class FakeMetrics:
    windows: dict[str, VariantWindow] = field(default_factory=dict)
    reads: list[tuple[str, str, Any, datetime, datetime]] = field(default_factory=list)
    unavailable: str | None = None  # set: every read fails with MetricsUnavailable(this)

    def set(self, variant: str, **values: Any) -> VariantWindow:
        """`variant` ("*": every variant not named) answers `values` from now on."""
        self.windows[variant] = VariantWindow(**values)
        return self.windows[variant]

    def window(self, variant: str) -> VariantWindow:
        return self.windows.get(variant) or self.windows.get("*") or VariantWindow()

    def variant_counts(
        self, endpoint: str, variants: list[str], start: datetime, end: datetime
    ) -> dict[str, VariantCounts]:
        if self.unavailable:
            raise MetricsUnavailable(self.unavailable)
        answers = {}
        for variant in variants:
            self.reads.append((variant, "counts", None, start, end))
            w = self.window(variant)
            samples = w.invocations if w.latency_samples is None else w.latency_samples
            answers[variant] = VariantCounts(w.invocations, w.errors, samples)
        return answers

    def latency_percentile(
        self, endpoint: str, variant: str, rank: float, start: datetime, end: datetime
    ) -> float | None:
        self.reads.append((variant, "percentile", rank, start, end))
        return self.window(variant).percentile_us

    def latency_share_above(
        self, endpoint: str, variant: str, threshold_us: float, start: datetime, end: datetime
    ) -> float | None:
        self.reads.append((variant, "share_above", threshold_us, start, end))
        return self.window(variant).share_above_pct
