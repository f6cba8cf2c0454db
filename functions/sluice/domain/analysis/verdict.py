"""One look of the canary analysis: candidate against baseline over the same window, as counts.

Two questions, each a one-sided test on request counts (n in the thousands, not five per-minute points):

- **Errors**: does the candidate err more than `error_rate_tolerance` (absolute) above the baseline?
  Farrington-Manning's score test on errors / invocations of each variant.
- **Latency**: is the candidate's p`percentile` more than `latency_tolerance` above the baseline's?
  The baseline's percentile is bounded from above (a distribution-free order statistic, `rank`), the
  threshold is that bound x (1 + tolerance), and CloudWatch's percentile rank PR(:threshold) gives how
  many of the candidate's requests were slower: if the candidate's percentile is within tolerance, at
  most 1 - percentile/100 of them are (exact binomial test).

**Repeated looks.** The analysis looks at every bake poll of every step. Look k (1, 2, ...) spends
alpha_k = alpha / (k (k + 1)); these sum to alpha over any number of looks, so by the union bound the
chance that a candidate as good as the baseline is ever failed stays at most alpha = 1 - confidence,
however the looks' data overlap. Within a look, alpha_k is split: half for errors, a quarter for the
baseline's percentile bound, a quarter for the candidate's count above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sluice.domain.analysis.statistics import binomial_sf, quantile_upper_rank, two_proportions_score_test

Outcome = Literal["pass", "fail", "inconclusive"]

ERROR_TEST = "Farrington-Manning score test, one-sided"
LATENCY_TEST = "exact binomial test of the share above the baseline's bounded percentile, one-sided"


@dataclass(frozen=True)
class Criteria:
    """What the analysis demands (deploy.json `rollout.analysis`)."""

    min_invocations: int = 200
    error_rate_tolerance: float = 0.001  # absolute: a tenth of a percentage point
    latency_tolerance: float = 0.10  # the candidate's percentile may be up to 10 % above the baseline's
    latency_percentile: float = 90.0
    confidence: float = 0.95

    @property
    def alpha(self) -> float:
        return 1.0 - self.confidence

    @property
    def allowed_slow_share(self) -> float:
        """The share of requests above a percentile when the percentile is met: 10 % for p90."""
        return 1.0 - self.latency_percentile / 100.0


def look_alpha(alpha: float, look: int) -> float:
    """The significance level look `look` (1-based) may spend: alpha / (look (look + 1))."""
    if look < 1:
        raise ValueError(f"looks are counted from 1, not {look}")
    return alpha / (look * (look + 1))


def baseline_rank(criteria: Criteria, look: int, baseline_samples: int) -> float | None:
    """The baseline percentile to read from CloudWatch as the upper bound of its p`percentile` (a
    fraction, e.g. 0.9087 for p90.87), or None when its samples are too few for a bound."""
    return quantile_upper_rank(
        baseline_samples, criteria.latency_percentile / 100.0, look_alpha(criteria.alpha, look) / 4
    )


@dataclass(frozen=True)
class VariantCounts:
    """One variant's requests over the window: invocations and errors, and ModelLatency's SampleCount."""

    invocations: int
    errors: int
    latency_samples: int

    @property
    def error_rate(self) -> float:
        return self.errors / self.invocations if self.invocations else 0.0


@dataclass(frozen=True)
class LatencyReading:
    """What CloudWatch said about latency over the window: the baseline's percentile at `rank` (ms) and
    how many of the candidate's requests were slower than the threshold derived from it."""

    rank: float
    baseline_ms: float
    threshold_ms: float
    candidate_samples: int
    candidate_slower: int


def latency_threshold(criteria: Criteria, baseline_ms: float) -> float:
    """A candidate's request slower than this counts as slow: the baseline's bound x (1 + tolerance)."""
    return baseline_ms * (1.0 + criteria.latency_tolerance)


@dataclass(frozen=True)
class ErrorComparison:
    baseline: VariantCounts
    candidate: VariantCounts
    tolerance: float
    z: float
    p_value: float
    alpha: float

    @property
    def worse(self) -> bool:
        return self.p_value < self.alpha

    def text(self) -> str:
        return (
            f"errors: candidate {_rate(self.candidate.errors, self.candidate.invocations)}, baseline "
            f"{_rate(self.baseline.errors, self.baseline.invocations)}, "
            f"tolerance +{self.tolerance * 100:g} points; "
            f"{ERROR_TEST} p = {self.p_value:.3g} {'<' if self.worse else '>='} {self.alpha:.3g}"
        )


@dataclass(frozen=True)
class LatencyComparison:
    reading: LatencyReading
    percentile: float
    allowed_share: float
    p_value: float
    alpha: float

    @property
    def worse(self) -> bool:
        return self.p_value < self.alpha

    def text(self) -> str:
        r = self.reading
        return (
            f"latency: {_rate(r.candidate_slower, r.candidate_samples)} of the candidate's requests "
            f"slower than {r.threshold_ms:.4g} ms (the baseline's p{self.percentile:g} bounded by its "
            f"p{r.rank * 100:.2f} "
            f"{r.baseline_ms:.4g} ms, + tolerance), at most {self.allowed_share * 100:g} % allowed; "
            f"exact binomial p = {self.p_value:.3g} {'<' if self.worse else '>='} {self.alpha:.3g}"
        )


@dataclass(frozen=True)
class Verdict:
    """One look's outcome with its numbers (for the decision log, history, notification and status)."""

    outcome: Outcome
    look: int
    alpha: float
    reason: str
    errors: ErrorComparison | None
    latency: LatencyComparison | None


def judge(
    criteria: Criteria,
    look: int,
    baseline: VariantCounts,
    candidate: VariantCounts,
    latency: LatencyReading | None,
) -> Verdict:
    """Look `look`'s verdict: fail if either test finds the candidate worse at this look's level;
    inconclusive while a variant has fewer than `min_invocations` (or no latency bound yet); else pass."""
    alpha = look_alpha(criteria.alpha, look)
    short = [
        f"{name} {counts.invocations} < {criteria.min_invocations}"
        for name, counts in (("baseline", baseline), ("candidate", candidate))
        if counts.invocations < criteria.min_invocations
    ]
    if short:
        reason = "not enough traffic to judge: invocations " + ", ".join(short)
        return Verdict("inconclusive", look, alpha, reason, None, None)
    score = two_proportions_score_test(
        candidate.errors,
        candidate.invocations,
        baseline.errors,
        baseline.invocations,
        criteria.error_rate_tolerance,
    )
    errors = ErrorComparison(
        baseline, candidate, criteria.error_rate_tolerance, score.z, score.p_value, alpha / 2
    )
    slow = _latency_comparison(criteria, latency, alpha / 4)
    if errors.worse or (slow is not None and slow.worse):
        failed = [c.text() for c in (errors, slow) if c is not None and c.worse]
        return Verdict(
            "fail", look, alpha, "candidate worse than the baseline: " + "; ".join(failed), errors, slow
        )
    if slow is None:
        reason = f"no latency evidence yet (the baseline's percentile cannot be bounded); {errors.text()}"
        return Verdict("inconclusive", look, alpha, reason, errors, None)
    return Verdict("pass", look, alpha, f"no regression found: {errors.text()}; {slow.text()}", errors, slow)


def _latency_comparison(
    criteria: Criteria, latency: LatencyReading | None, alpha: float
) -> LatencyComparison | None:
    if latency is None or latency.candidate_samples <= 0:
        return None
    p_value = binomial_sf(latency.candidate_slower, latency.candidate_samples, criteria.allowed_slow_share)
    return LatencyComparison(
        latency, criteria.latency_percentile, criteria.allowed_slow_share, p_value, alpha
    )


def _rate(part: int, whole: int) -> str:
    return f"{part / whole * 100:.2f} % ({part}/{whole})" if whole else f"- ({part}/0)"
