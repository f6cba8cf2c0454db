"""`make evidence` at its --quick sizes: whole rollouts walked through the real ASL and actions on a simulated
clock, 20 requests/s split by the endpoint's weights (benchmarks/analysis_evidence.py), and what a user
relies on from the canary analysis.

The seeds are fixed, so each assertion holds or fails the same way on every run; the bounds still leave a
margin, so that a harmless change to the draw (one more clock reading in an action, a new numpy) - which
reshuffles outcomes as a fresh sample would - does not fail them:
- identical variants: deploy.json's confidence 0.95 promises at most 5 % false rollbacks over the whole
  rollout (`make evidence` measures 2.1 % over 2000, 95 % interval 1.5-2.8 %). Were the rate exactly
  5 %, 7 or more of 40 would happen with probability 0.34 %: more than 6 means the promise is broken,
  not bad luck.
- 25 % slower at every percentile: `make evidence` measures 96.5 % rolled back over 200 (95 % interval
  92.9-98.6 %); were the rate 92.9 %, 14 or fewer of 20 would happen with probability 0.21 %.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from rollout_fakes import production_world

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

from analysis_evidence import (  # noqa: E402
    BASELINE,
    SCENARIOS,
    Rollout,
    SimulatedTraffic,
    TrafficClock,
    run_scenario,
)

SCENARIO = {scenario.name: scenario for scenario in SCENARIOS}


def _quick(name: str) -> list[Rollout]:
    return run_scenario(SCENARIO[name], SCENARIO[name].quick_rollouts)


@pytest.mark.slow
def test_identical_variants_are_promoted_and_rarely_rolled_back() -> None:
    rollouts = _quick("identical")
    rolled_back = [r for r in rollouts if r.outcome == "rolled back"]

    assert len(rollouts) == 40
    assert len(rolled_back) <= 6, rolled_back
    # 20 requests/s is traffic enough to judge every step: nothing is held for want of evidence.
    assert all(r.outcome == "promoted" for r in rollouts if r.outcome != "rolled back")


@pytest.mark.slow
def test_a_candidate_25_percent_slower_is_rolled_back_before_it_takes_all_traffic() -> None:
    rollouts = _quick("latency_25pct")
    rolled_back = [r for r in rollouts if r.outcome == "rolled back"]

    assert len(rollouts) == 20
    assert len(rolled_back) >= 15, rollouts
    assert all(r.percent is not None and r.percent < 100 for r in rolled_back)
    assert all(r.minutes is not None and 0 < r.minutes <= 16 for r in rolled_back)  # within steps 1-3
    assert "held" not in {r.outcome for r in rollouts}


def test_the_simulated_cloudwatch_answers_nearest_rank_percentiles_and_ranks_above_a_threshold() -> None:
    """The simulation's MetricsPort over a known minute: what CloudWatch answers from raw values."""
    world = production_world()
    clock = TrafficClock(world.clock.at)
    traffic = SimulatedTraffic(np.random.default_rng(0), world, BASELINE, BASELINE)
    clock.traffic = traffic
    start = clock.at
    clock.advance(60)  # the endpoint's one variant, v1, takes every request
    latency_us, errors = traffic.requests["v1"].window(0, 2**40)  # every request stored
    ordered = sorted(int(v) for v in latency_us)
    n = len(ordered)

    counts = traffic.variant_counts("fraud", ["v1", "v2"], start, clock.at)
    p90 = traffic.latency_percentile("fraud", "v1", 0.9, start, clock.at)
    above = traffic.latency_share_above("fraud", "v1", ordered[n // 2] + 0.7, start, clock.at)

    assert 1000 < n < 1400  # Poisson(20) a second for 60 s
    assert counts["v1"].invocations == counts["v1"].latency_samples == n
    assert counts["v1"].errors == int(errors.sum())
    assert counts["v2"].invocations == 0
    assert p90 == ordered[-(-9 * n // 10) - 1]  # the ceil(0.9 n)-th smallest
    assert above == pytest.approx(100 * sum(v > ordered[n // 2] for v in ordered) / n)
    assert traffic.latency_percentile("fraud", "v2", 0.9, start, clock.at) is None
