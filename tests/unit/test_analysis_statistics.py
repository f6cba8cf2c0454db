"""The analysis' statistics against scipy's independent implementations (scipy is a test-only
dependency: the Lambda package computes them in pure Python)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from sluice.domain.analysis.statistics import (
    binomial_sf,
    normal_ppf,
    normal_sf,
    quantile_upper_rank,
    regularized_beta,
    two_proportions_score_test,
)


@pytest.mark.parametrize("z", [-8.0, -3.0, -1.0, 0.0, 0.5, 1.6448536, 3.0, 6.0, 9.0])
def test_normal_sf_matches_scipy(z: float) -> None:
    assert normal_sf(z) == pytest.approx(stats.norm.sf(z), rel=1e-12)


@pytest.mark.parametrize("p", [1e-12, 1e-6, 0.001, 0.02, 0.025, 0.05, 0.5, 0.9, 0.975, 0.99, 1 - 1e-9])
def test_normal_ppf_matches_scipy(p: float) -> None:
    assert normal_ppf(p) == pytest.approx(stats.norm.ppf(p), rel=1e-10, abs=1e-12)


def test_normal_ppf_refuses_a_probability_outside_the_open_interval() -> None:
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        normal_ppf(1.0)


@settings(max_examples=300, deadline=None)
@given(
    # Not subnormal (p is never that small), and not within 1e-9 of 1, where scipy's own value drifts
    # (x = 1 - 2**-53, a = b = 0.5: scipy 1 - 9.5e-9, the closed form 1 - 6.7e-9: see the test below).
    x=st.one_of(st.just(0.0), st.just(1.0), st.floats(min_value=1e-12, max_value=1.0 - 1e-9)),
    a=st.floats(min_value=0.5, max_value=5000.0),
    b=st.floats(min_value=0.5, max_value=5000.0),
)
def test_regularized_beta_matches_scipy(x: float, a: float, b: float) -> None:
    assert regularized_beta(x, a, b) == pytest.approx(stats.beta.cdf(x, a, b), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("x", [1e-12, 0.25, 0.5, 0.9, 1 - 1e-9, 0.9999999999999999])
def test_regularized_beta_matches_the_arcsine_closed_form_up_to_one(x: float) -> None:
    """I_x(1/2, 1/2) = (2/pi) arcsin(sqrt(x)); near 1 written as 1 - (2/pi) arcsin(sqrt(1 - x))."""
    closed = (
        1 - 2 / math.pi * math.asin(math.sqrt(1 - x)) if x > 0.5 else 2 / math.pi * math.asin(math.sqrt(x))
    )
    assert regularized_beta(x, 0.5, 0.5) == pytest.approx(closed, rel=1e-12)


@pytest.mark.parametrize(
    ("k", "n", "p"),
    [
        (0, 10, 0.3),
        (1, 10, 0.3),
        (5, 10, 0.3),
        (11, 10, 0.3),
        (91, 600, 0.1),
        (60, 600, 0.1),
        (120, 5_000_000, 0.00002),
        (510_000, 5_000_000, 0.1),
        (3, 3, 0.9),
    ],
)
def test_binomial_tail_matches_scipy(k: int, n: int, p: float) -> None:
    # lgamma of millions loses ~1e-9 of the tail's logarithm: the relative error grows with n
    assert binomial_sf(k, n, p) == pytest.approx(stats.binom.sf(k - 1, n, p), rel=1e-6, abs=1e-300)


def _restricted_mle_by_search(x1: int, n1: int, x2: int, n2: int, margin: float) -> tuple[float, float]:
    """The constrained maximum likelihood found numerically, independently of the closed form."""

    def negative_log_likelihood(p2: float) -> float:
        p1 = p2 + margin
        return -float(stats.binom.logpmf(x1, n1, p1) + stats.binom.logpmf(x2, n2, p2))

    found = optimize.minimize_scalar(
        negative_log_likelihood,
        bounds=(1e-12, 1 - margin - 1e-12),
        method="bounded",
        options={"xatol": 1e-12},
    )
    return found.x + margin, found.x


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "margin"),
    [
        (12, 600, 54, 5400, 0.0),
        (12, 600, 54, 5400, 0.005),
        (30, 1000, 20, 1000, 0.01),
        (0, 500, 3, 4500, 0.002),
        (7, 200, 0, 1800, 0.01),
        (45, 150, 40, 150, 0.1),
    ],
)
def test_the_score_test_uses_the_restricted_maximum_likelihood(
    x1: int, n1: int, x2: int, n2: int, margin: float
) -> None:
    r1, r2 = _restricted_mle_by_search(x1, n1, x2, n2, margin)
    expected_z = (x1 / n1 - x2 / n2 - margin) / math.sqrt(r1 * (1 - r1) / n1 + r2 * (1 - r2) / n2)

    result = two_proportions_score_test(x1, n1, x2, n2, margin)

    assert result.z == pytest.approx(expected_z, rel=1e-5)
    assert result.p_value == pytest.approx(stats.norm.sf(expected_z), rel=1e-4)


def test_without_a_margin_the_score_test_is_the_pooled_z_test() -> None:
    # scipy's chi-squared test of the 2x2 table without continuity correction is z squared
    table = [[12, 588], [54, 5346]]
    chi2 = stats.chi2_contingency(table, correction=False)[0]

    result = two_proportions_score_test(12, 600, 54, 5400)

    assert result.z == pytest.approx(math.sqrt(chi2), rel=1e-9)
    assert result.p_value == pytest.approx(stats.norm.sf(math.sqrt(chi2)), rel=1e-9)


def test_no_errors_anywhere_is_no_evidence() -> None:
    assert two_proportions_score_test(0, 300, 0, 2700).p_value == 1.0


def test_a_candidate_within_the_margin_is_not_significant() -> None:
    # 1.4 % against 1.0 % with a 0.5-point margin: the candidate is inside it
    assert two_proportions_score_test(14, 1000, 90, 9000, margin=0.005).p_value > 0.5


@pytest.mark.parametrize(("n", "alpha"), [(50, 0.05), (600, 0.01), (5400, 0.001), (100_000, 0.0001)])
def test_the_quantile_bound_is_the_least_rank_with_the_confidence_asked(n: int, alpha: float) -> None:
    rank = quantile_upper_rank(n, 0.9, alpha)

    assert rank is not None
    k = math.ceil(rank * n - 1e-9)
    # the order statistic k bounds the p90 from above with the confidence asked; k - 1 (before the
    # rounding up to 0.01 %) would not
    assert stats.binom.sf(k - 1, n, 0.9) <= alpha
    least = min(j for j in range(int(0.9 * n), n + 1) if stats.binom.sf(j - 1, n, 0.9) <= alpha)
    assert least <= k <= least + math.ceil(n / 10_000)


def test_too_few_samples_give_no_quantile_bound() -> None:
    assert quantile_upper_rank(20, 0.9, 0.01) is None  # 0.9 ** 20 = 0.12: even the maximum is not a bound
