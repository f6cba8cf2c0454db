"""The statistics of the canary analysis, in pure Python (the Lambda package carries no scipy).

Everything here is a textbook formula, tested against scipy's independent implementation
(tests/unit/test_analysis_statistics.py):

- the normal distribution's survival function and quantile function;
- the binomial tail P(X >= k), through the regularized incomplete beta function (continued fraction,
  Numerical Recipes 3rd ed. §6.4), exact for n in the millions;
- the Farrington-Manning score test of two proportions with a margin (Farrington & Manning 1990,
  Statistics in Medicine 9:1447): H0 p1 - p2 <= margin against p1 - p2 > margin;
- a distribution-free upper confidence bound on a quantile: the order statistic whose rank makes it at
  least the true quantile with the confidence asked (the binomial argument behind every
  distribution-free quantile interval).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_SQRT2 = math.sqrt(2.0)
_BETA_ITERATIONS = 100_000  # the continued fraction needs O(sqrt(max(a, b))) terms: n = 1e9 fits
_BETA_EPSILON = 1e-15
_TINY = 1e-300


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z (erfc keeps the far tail accurate)."""
    return 0.5 * math.erfc(z / _SQRT2)


def normal_ppf(p: float) -> float:
    """The z with P(Z <= z) = p, for 0 < p < 1: Acklam's rational approximation (relative error
    1.15e-9), polished by one Halley step on erfc (to ~1e-15)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"a probability strictly between 0 and 1 is needed, not {p}")
    a = (-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.3577518672690, -30.66479806614716)
    a5 = 2.506628277459239
    b = (-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572)
    c = (
        -7.784894002430293e-03,
        -0.3223964580411365,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
    )
    c5 = 2.938163982698783
    d = (7.784695709041462e-03, 0.3224671290700398, 2.445134137142996, 3.754408661907416)
    low = 0.02425
    if p < low or p > 1 - low:
        q = math.sqrt(-2 * math.log(p if p < low else 1 - p))
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c5) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1
        )
        x = x if p < low else -x
    else:
        q = p - 0.5
        r = q * q
        x = (
            (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a5)
            * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
        )
    error = 0.5 * math.erfc(-x / _SQRT2) - p
    u = error * math.sqrt(2 * math.pi) * math.exp(x * x / 2)
    return x - u / (1 + x * u / 2)


def regularized_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b), the regularized incomplete beta function, for a, b > 0 and 0 <= x <= 1."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must lie in [0, 1], not {x}")
    if x in (0.0, 1.0):
        return x
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(x, a, b) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(1.0 - x, b, a) / b


def _beta_fraction(x: float, a: float, b: float) -> float:
    """The continued fraction of the incomplete beta function, by the modified Lentz method."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _BETA_ITERATIONS + 1):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            step = d * c
            h *= step
        if abs(step - 1.0) < _BETA_EPSILON:
            return h
    raise ArithmeticError(f"the incomplete beta fraction did not converge for x={x}, a={a}, b={b}")


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): the p-value of seeing k or more successes."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    return regularized_beta(p, k, n - k + 1)


@dataclass(frozen=True)
class ScoreTest:
    """The Farrington-Manning test's result: the statistic and its one-sided p-value."""

    z: float
    p_value: float


def two_proportions_score_test(x1: int, n1: int, x2: int, n2: int, margin: float = 0.0) -> ScoreTest:
    """H0: p1 - p2 <= margin against H1: p1 - p2 > margin (one-sided), 0 <= margin < 1.

    The variance is taken at the restricted maximum-likelihood estimates under p1 - p2 = margin (the
    closed form of Farrington & Manning; with no margin, the pooled proportion). With nothing observed
    in either group the test cannot speak: z 0, p-value 1.
    """
    if n1 <= 0 or n2 <= 0:
        raise ValueError("both groups need at least one observation")
    if not 0 <= x1 <= n1 or not 0 <= x2 <= n2:
        raise ValueError("successes must lie between 0 and the group's size")
    if not 0.0 <= margin < 1.0:
        raise ValueError(f"the margin must lie in [0, 1), not {margin}")
    p1, p2 = x1 / n1, x2 / n2
    r1, r2 = _restricted_estimates(p1, n1, p2, n2, margin)
    variance = r1 * (1 - r1) / n1 + r2 * (1 - r2) / n2
    if variance <= 0.0:
        return ScoreTest(z=0.0, p_value=1.0)
    z = (p1 - p2 - margin) / math.sqrt(variance)
    return ScoreTest(z=z, p_value=normal_sf(z))


def _restricted_estimates(p1: float, n1: int, p2: float, n2: int, margin: float) -> tuple[float, float]:
    """(p1, p2) maximising the likelihood under p1 - p2 = margin: the root of Farrington & Manning's
    cubic, in its trigonometric form."""
    if margin == 0.0:
        pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
        return pooled, pooled
    theta = n2 / n1
    a = 1 + theta
    b = -(1 + theta + p1 + theta * p2 + margin * (theta + 2))
    c = margin * margin + margin * (2 * p1 + theta + 1) + p1 + theta * p2
    d = -p1 * margin * (1 + margin)
    v = b**3 / (27 * a**3) - b * c / (6 * a * a) + d / (2 * a)
    u = math.copysign(math.sqrt(max(b * b / (9 * a * a) - c / (3 * a), 0.0)), v)
    if u == 0.0:
        r1 = -b / (3 * a)
    else:
        w = (math.pi + math.acos(max(-1.0, min(1.0, v / u**3)))) / 3
        r1 = 2 * u * math.cos(w) - b / (3 * a)
    r1 = min(1.0, max(margin, r1))
    return r1, r1 - margin


def quantile_upper_rank(n: int, quantile: float, alpha: float) -> float | None:
    """The rank r (a fraction, as a CloudWatch percentile pNN.NN reads it) whose sample quantile is at
    least the true `quantile` with probability >= 1 - alpha, or None when n samples cannot give one.

    The k-th smallest of n values is below the true q-quantile only if at least k values are, an event of
    probability P(Binomial(n, q) >= k): the least k with that probability <= alpha bounds the quantile
    from above. r = k / n, rounded up to CloudWatch's two decimals of a percent.
    """
    if not 0.0 < quantile < 1.0 or not 0.0 < alpha < 1.0:
        raise ValueError("quantile and alpha lie strictly between 0 and 1")
    if n <= 0 or binomial_sf(n, n, quantile) > alpha:
        return None
    low, high = 0, n  # P(X >= 0) = 1 > alpha; P(X >= n) <= alpha
    while high - low > 1:
        middle = (low + high) // 2
        if binomial_sf(middle, n, quantile) <= alpha:
            high = middle
        else:
            low = middle
    rank = math.ceil(high / n * 10_000 - 1e-9) / 10_000
    return rank if rank < 1.0 else None
