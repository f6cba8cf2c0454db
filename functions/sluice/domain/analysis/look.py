"""One look of the canary analysis against CloudWatch: read both variants over the window (through the
MetricsPort), judge (verdict.judge), and the verdict as the record the decision log, the rollout record,
`sluice history`, `sluice status`, the notifications and the sandbox report show.

Reads, in order (each one GetMetricData over the same window, one period):
1. Invocations, Invocation5XXErrors and ModelLatency SampleCount of both variants;
2. once the baseline has samples enough for this look's bound: its ModelLatency percentile at that rank
   (`baseline_rank`, e.g. p90.87);
3. the candidate's ModelLatency percentile rank above the threshold, PR(t:), turned back into a count
   with its SampleCount.
When CloudWatch answers no percentile (no datapoint although samples were counted), latency is not judged
at this look and the verdict says so; errors still are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sluice.domain.analysis.verdict import (
    ERROR_TEST,
    LATENCY_TEST,
    Criteria,
    LatencyReading,
    VariantCounts,
    Verdict,
    baseline_rank,
    judge,
    latency_threshold,
)
from sluice.domain.ports import MetricsPort

MICROSECONDS_PER_MILLISECOND = 1000.0


@dataclass(frozen=True)
class Window:
    endpoint: str
    baseline: str
    candidate: str
    start: datetime
    end: datetime


def look(metrics: MetricsPort, criteria: Criteria, look_number: int, window: Window) -> Verdict:
    """Look `look_number` (1-based: the number of looks judged so far in this rollout, plus one)."""
    w = window
    counts = metrics.variant_counts(w.endpoint, [w.baseline, w.candidate], w.start, w.end)
    baseline = counts.get(w.baseline) or VariantCounts(0, 0, 0)
    candidate = counts.get(w.candidate) or VariantCounts(0, 0, 0)
    reading = None
    unanswered = False
    rank = baseline_rank(criteria, look_number, baseline.latency_samples)
    enough = min(baseline.invocations, candidate.invocations) >= criteria.min_invocations
    if enough and rank is not None and candidate.latency_samples > 0:
        baseline_us = metrics.latency_percentile(w.endpoint, w.baseline, rank, w.start, w.end)
        threshold_us = None if baseline_us is None else latency_threshold(criteria, baseline_us)
        share = (
            None
            if threshold_us is None
            else metrics.latency_share_above(w.endpoint, w.candidate, threshold_us, w.start, w.end)
        )
        unanswered = share is None
        if baseline_us is not None and threshold_us is not None and share is not None:
            reading = LatencyReading(
                rank=rank,
                baseline_ms=baseline_us / MICROSECONDS_PER_MILLISECOND,
                threshold_ms=math.floor(threshold_us) / MICROSECONDS_PER_MILLISECOND,
                candidate_samples=candidate.latency_samples,
                candidate_slower=round(share / 100.0 * candidate.latency_samples),
            )
    verdict = judge(criteria, look_number, baseline, candidate, reading)
    if unanswered and verdict.outcome == "inconclusive" and verdict.errors is not None:
        # Errors were judged; latency cannot be, ever, if CloudWatch keeps no percentiles of it: waiting
        # would hold every rollout. Say so and let the errors decide.
        return replace(
            verdict,
            outcome="pass",
            reason=f"no regression found: {verdict.errors.text()}; latency not judged: CloudWatch "
            "answered no ModelLatency percentile for the window",
        )
    return verdict


def spends_alpha(verdict: Verdict) -> bool:
    """A look that ran a test (each variant had min_invocations) spends its alpha; one that only found
    too little traffic tested nothing and does not count."""
    return verdict.errors is not None


def verdict_record(verdict: Verdict, window: Window, criteria: Criteria) -> dict[str, Any]:
    """The verdict with its numbers, as plain JSON (finite floats, rounded for reading)."""
    record: dict[str, Any] = {
        "outcome": verdict.outcome,
        "look": verdict.look,
        "alpha": _num(verdict.alpha),
        "confidence": criteria.confidence,
        "reason": verdict.reason,
        "window": {"start": _iso(window.start), "end": _iso(window.end)},
        "variants": {"baseline": window.baseline, "candidate": window.candidate},
    }
    errors = verdict.errors
    if errors is not None:
        record["errors"] = {
            "test": ERROR_TEST,
            "baseline": _counts(errors.baseline),
            "candidate": _counts(errors.candidate),
            "tolerance": errors.tolerance,
            "z": _num(errors.z),
            "p_value": _num(errors.p_value),
            "alpha": _num(errors.alpha),
            "worse": errors.worse,
        }
    latency = verdict.latency
    if latency is not None:
        r = latency.reading
        record["latency"] = {
            "test": LATENCY_TEST,
            "percentile": latency.percentile,
            "baseline_rank": f"p{r.rank * 100:.2f}",
            "baseline_ms": _num(r.baseline_ms),
            "threshold_ms": _num(r.threshold_ms),
            "tolerance": criteria.latency_tolerance,
            "candidate_samples": r.candidate_samples,
            "candidate_slower": r.candidate_slower,
            "allowed_share": _num(latency.allowed_share),
            "p_value": _num(latency.p_value),
            "alpha": _num(latency.alpha),
            "worse": latency.worse,
        }
    return record


def _counts(counts: VariantCounts) -> dict[str, Any]:
    return {
        "invocations": counts.invocations,
        "errors": counts.errors,
        "error_rate": _num(counts.error_rate),
    }


def _num(value: float) -> float | None:
    # An overwhelming verdict's p-value can be below DynamoDB's smallest number (1E-130): the registry
    # adapter stores such a float as 0 (sluice.adapters.registry).
    return float(f"{value:.6g}") if math.isfinite(value) else None


def _iso(moment: datetime) -> str:
    return moment.isoformat()
