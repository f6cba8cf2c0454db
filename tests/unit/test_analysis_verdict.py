"""A look of the canary analysis: verdicts with their numbers, and, simulated over many rollouts, the
false-failure rate under repeated looks and the detection of a slower or more erring candidate."""

from __future__ import annotations

import numpy as np
import pytest

from sluice.domain.analysis.verdict import (
    Criteria,
    LatencyReading,
    VariantCounts,
    baseline_rank,
    judge,
    latency_threshold,
    look_alpha,
)

CRITERIA = Criteria()


def test_each_look_spends_less_and_all_looks_together_spend_alpha() -> None:
    spent = sum(look_alpha(0.05, k) for k in range(1, 100_000))

    assert look_alpha(0.05, 1) == pytest.approx(0.025)
    assert look_alpha(0.05, 4) == pytest.approx(0.0025)
    assert spent == pytest.approx(0.05, rel=1e-4)
    assert spent < 0.05


def test_too_little_traffic_is_inconclusive_and_says_whose() -> None:
    verdict = judge(CRITERIA, 1, VariantCounts(1800, 18, 1800), VariantCounts(150, 9, 150), latency=None)

    assert verdict.outcome == "inconclusive"
    assert verdict.reason == "not enough traffic to judge: invocations candidate 150 < 200"


def test_twice_the_errors_fails_with_the_counts_rates_test_and_p_value() -> None:
    verdict = judge(
        CRITERIA, 2, VariantCounts(20_000, 200, 20_000), VariantCounts(4_000, 120, 4_000), latency=None
    )

    assert verdict.outcome == "fail"
    assert verdict.errors is not None and verdict.errors.worse
    assert "candidate 3.00 % (120/4000), baseline 1.00 % (200/20000), tolerance +0.1 points" in verdict.reason
    assert "Farrington-Manning score test, one-sided p = " in verdict.reason
    assert verdict.errors.p_value < look_alpha(0.05, 2) / 2


def test_errors_within_the_tolerance_pass() -> None:
    reading = LatencyReading(0.91, 80.0, 88.0, candidate_samples=4000, candidate_slower=380)
    verdict = judge(
        CRITERIA, 3, VariantCounts(20_000, 200, 20_000), VariantCounts(4_000, 44, 4_000), latency=reading
    )

    assert verdict.outcome == "pass"
    assert verdict.reason.startswith("no regression found: errors: candidate 1.10 % (44/4000)")
    assert "9.50 % (380/4000) of the candidate's requests slower than 88 ms" in verdict.reason


def test_a_candidate_slow_beyond_the_tolerance_fails_on_latency_alone() -> None:
    reading = LatencyReading(0.91, 80.0, 88.0, candidate_samples=4000, candidate_slower=600)
    verdict = judge(
        CRITERIA, 3, VariantCounts(20_000, 200, 20_000), VariantCounts(4_000, 40, 4_000), latency=reading
    )

    assert verdict.outcome == "fail"
    assert verdict.latency is not None and verdict.latency.worse
    assert verdict.errors is not None and not verdict.errors.worse
    assert "15.00 % (600/4000) of the candidate's requests slower than 88 ms" in verdict.reason
    assert "at most 10 % allowed" in verdict.reason


def test_without_a_baseline_bound_latency_is_inconclusive() -> None:
    verdict = judge(CRITERIA, 1, VariantCounts(300, 3, 300), VariantCounts(300, 3, 300), latency=None)

    assert verdict.outcome == "inconclusive"
    assert verdict.reason.startswith("no latency evidence yet")


def _simulate(
    rng: np.random.Generator,
    rollouts: int,
    *,
    slower: float = 1.0,
    error_factor: float = 1.0,
    rps: float = 20.0,
    steps: tuple[int, ...] = (10, 25, 50),
    bake_minutes: int = 5,
) -> list[int | None]:
    """Each rollout's first failing look (minutes since the candidate took traffic), or None: a look
    every minute over cumulative counts, lognormal latencies (median 50 ms, sigma 0.5), 1 % errors."""
    first_fail: list[int | None] = []
    for _ in range(rollouts):
        base_lat: list[np.ndarray] = []
        cand_lat: list[np.ndarray] = []
        base_err = cand_err = 0
        found = None
        look = 0
        for share in steps:
            for _minute in range(bake_minutes):
                total = rng.poisson(rps * 60)
                n_c = rng.binomial(total, share / 100)
                n_b = total - n_c
                base_lat.append(rng.lognormal(np.log(50), 0.5, n_b))
                cand_lat.append(rng.lognormal(np.log(50 * slower), 0.5, n_c))
                base_err += rng.binomial(n_b, 0.01)
                cand_err += rng.binomial(n_c, 0.01 * error_factor)
                look += 1
                baseline = np.concatenate(base_lat)
                candidate = np.concatenate(cand_lat)
                rank = baseline_rank(CRITERIA, look, baseline.size)
                reading = None
                if rank is not None:
                    bound = float(np.quantile(baseline, rank, method="inverted_cdf"))
                    threshold = latency_threshold(CRITERIA, bound)
                    reading = LatencyReading(
                        rank, bound, threshold, candidate.size, int((candidate > threshold).sum())
                    )
                verdict = judge(
                    CRITERIA,
                    look,
                    VariantCounts(baseline.size, base_err, baseline.size),
                    VariantCounts(candidate.size, cand_err, candidate.size),
                    reading,
                )
                if verdict.outcome == "fail":
                    found = look
                    break
            if found is not None:
                break
        first_fail.append(found)
    return first_fail


@pytest.mark.slow
def test_identical_variants_are_failed_at_most_at_the_configured_rate_despite_fifteen_looks() -> None:
    fails = _simulate(np.random.default_rng(11), 300)

    assert sum(f is not None for f in fails) / 300 <= CRITERIA.alpha


@pytest.mark.slow
def test_a_candidate_25_percent_slower_is_caught_within_the_rollout_at_20_requests_per_second() -> None:
    fails = _simulate(np.random.default_rng(12), 100, slower=1.25)
    caught = [f for f in fails if f is not None]

    assert len(caught) >= 95
    assert float(np.median(caught)) <= 10  # minutes since the candidate took traffic (steps 10 % and 25 %)


@pytest.mark.slow
def test_a_candidate_erring_twice_as_often_is_caught_within_the_rollout_at_20_requests_per_second() -> None:
    fails = _simulate(np.random.default_rng(13), 100, error_factor=2.0)

    caught = [f for f in fails if f is not None]

    assert len(caught) >= 85
    assert float(np.median(caught)) <= 12
