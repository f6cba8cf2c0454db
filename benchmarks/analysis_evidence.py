"""`make evidence`: what the canary analysis does to whole rollouts, measured through the real rollout logic.

Each rollout is one upload of a candidate to the `fraud` endpoint with the default deploy.json (steps
[10, 25, 50, 100], bake_seconds 300, `rollout.analysis` at its defaults), walked through
statemachines/rollout.asl.json by the unit tests' RolloutAslWalk with the real actions (tests/unit/
rollout_fakes.py: every AWS port an in-memory fake), on a simulated clock: nothing sleeps. Two things
replace the fakes' defaults:

- the clock (`TrafficClock`): each reading is one second later, as the fakes' Clock, and each Bake wait
  that times out moves it on by the wait's `wait_seconds`; every simulated second that passes carries
  traffic;
- the metrics (`SimulatedTraffic`, the MetricsPort): 20 requests/s (Poisson), split between the variants
  by the endpoint's current weights (read from the fake endpoint each second), each request an error with
  its variant's error rate and a ModelLatency drawn from its variant's lognormal distribution (whole
  microseconds), stored with its second on the simulated clock. It answers as CloudWatch's GetMetricData
  does for the adapter (sluice.adapters.metrics) over [start rounded down to the minute, end): Sum of
  Invocations and Invocation5XXErrors, SampleCount, the nearest-rank percentile `pNN.NN` (the adapter's
  stat, rank to two decimals) and the percentile rank `PR(t:)` (share strictly above floor(t), percent).

The traffic model is test_analysis_verdict.py's: lognormal latencies of median 50 ms and sigma 0.5, 1 %
errors. Scenarios: identical variants (false rollbacks), a candidate 25 % slower at every percentile
(median 62.5 ms, same sigma), a candidate erring twice as often (2 % against 1 %). A rollout ends rolled
back (the analysis failed a look: the rollback is walked to the end), promoted, or held (a step ended
without evidence: on_insufficient_data "hold"). Detection time: from the weights call that gave the
candidate its first traffic to the look that failed, in simulated minutes. Seeds are fixed: a run is
reproducible.

    .venv/bin/python benchmarks/analysis_evidence.py [--quick] [--only NAME ...] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy.stats import beta

ROOT = Path(__file__).resolve().parent.parent
# The rollout's in-memory world lives with the unit tests (tests/unit on sys.path, as tests/conftest.py
# puts it; the repository root for rollout_fakes' own `tests.unit...` import).
for _path in (ROOT, ROOT / "tests" / "unit"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from figures import machine, percentile  # noqa: E402
from rollout_fakes import (  # noqa: E402
    ENDPOINT,
    Clock,
    RolloutAslWalk,
    RolloutWorld,
    choose,
    decision,
    lambda_cause,
    production_world,
    status,
    upload_version,
)

from sluice.domain.analysis.verdict import VariantCounts  # noqa: E402
from sluice.domain.deploy_config import AnalysisSettings, RolloutSettings  # noqa: E402
from sluice.errors import RolloutAborted  # noqa: E402

REQUESTS_PER_SECOND = 20.0
BASELINE_VARIANT = "v1"  # production_world's endpoint serves v1; every other variant is the candidate
DEPLOY: dict[str, Any] = {"rollout": {}}  # every default: steps, bake, analysis, on_insufficient_data
MINUTE = 60
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
MICROSECONDS_PER_MILLISECOND = 1000.0
CONFIDENCE_LEVEL = 0.95  # of the intervals reported around the measured rates


# --------------------------------------------------------------------------------------------------
# Traffic, and CloudWatch's answers about it
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Behaviour:
    """How one variant answers: lognormal ModelLatency (median, sigma of its log) and an error rate."""

    median_ms: float
    sigma: float
    error_rate: float

    def text(self) -> str:
        return (
            f"lognormal median {self.median_ms:g} ms sigma {self.sigma:g}, {self.error_rate * 100:g} % errors"
        )


@dataclass
class _Requests:
    """One variant's requests in time order: their second, latency (whole microseconds), error flag."""

    seconds: list[np.ndarray] = field(default_factory=list)
    latency_us: list[np.ndarray] = field(default_factory=list)
    errors: list[np.ndarray] = field(default_factory=list)
    _joined: tuple[int, np.ndarray, np.ndarray, np.ndarray] | None = None

    def add(self, seconds: np.ndarray, latency_us: np.ndarray, errors: np.ndarray) -> None:
        self.seconds.append(seconds)
        self.latency_us.append(latency_us)
        self.errors.append(errors)

    def window(self, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """Latencies and error flags of the requests whose second lies in [start, end)."""
        if self._joined is None or self._joined[0] != len(self.seconds):
            if not self.seconds:
                empty = np.empty(0, dtype=np.int64)
                return empty, empty.astype(bool)
            self._joined = (
                len(self.seconds),
                np.concatenate(self.seconds),
                np.concatenate(self.latency_us),
                np.concatenate(self.errors),
            )
        _, seconds, latency_us, errors = self._joined
        low, high = np.searchsorted(seconds, [start, end], side="left")
        return latency_us[low:high], errors[low:high]


class SimulatedTraffic:
    """The MetricsPort over simulated requests (see the module's docstring)."""

    def __init__(
        self,
        rng: np.random.Generator,
        world: RolloutWorld,
        baseline: Behaviour,
        candidate: Behaviour,
        requests_per_second: float = REQUESTS_PER_SECOND,
    ) -> None:
        self.rng = rng
        self.world = world
        self.behaviours = {"baseline": baseline, "candidate": candidate}
        self.rate = requests_per_second
        self.requests: dict[str, _Requests] = {}

    def behaviour(self, variant: str) -> Behaviour:
        return self.behaviours["baseline" if variant == BASELINE_VARIANT else "candidate"]

    def flow(self, start: int, end: int) -> None:
        """The requests of seconds [start, end), split by the endpoint's weights as they are now."""
        seconds = end - start
        weights = {
            name: weight for name, (weight, _) in self.world.endpoints.weights(ENDPOINT).items() if weight > 0
        }
        if seconds <= 0 or not weights:
            return
        left = self.rng.poisson(self.rate, seconds)
        remaining_weight = sum(weights.values())
        for name, weight in weights.items():  # a multinomial split, one variant at a time
            share = min(1.0, weight / remaining_weight)
            taken = self.rng.binomial(left, share)
            left = left - taken
            remaining_weight -= weight
            count = int(taken.sum())
            if not count:
                continue
            how = self.behaviour(name)
            latency_ms = self.rng.lognormal(math.log(how.median_ms), how.sigma, count)
            self.requests.setdefault(name, _Requests()).add(
                np.repeat(np.arange(start, end, dtype=np.int64), taken),
                np.maximum(1, np.rint(latency_ms * MICROSECONDS_PER_MILLISECOND)).astype(np.int64),
                self.rng.random(count) < how.error_rate,
            )

    def _window(self, variant: str, start: datetime, end: datetime) -> tuple[np.ndarray, np.ndarray]:
        """GetMetricData's window: StartTime rounded down to the minute, EndTime exclusive."""
        requests = self.requests.get(variant)
        if requests is None:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty.astype(bool)
        first = _second(start.replace(second=0, microsecond=0))
        return requests.window(first, _second(end))

    # -- MetricsPort -------------------------------------------------------------------------------
    def variant_counts(
        self, endpoint: str, variants: list[str], start: datetime, end: datetime
    ) -> dict[str, VariantCounts]:
        answers = {}
        for variant in variants:
            latency_us, errors = self._window(variant, start, end)
            answers[variant] = VariantCounts(latency_us.size, int(errors.sum()), latency_us.size)
        return answers

    def latency_percentile(
        self, endpoint: str, variant: str, rank: float, start: datetime, end: datetime
    ) -> float | None:
        """`p{rank * 100:.2f}` as the adapter asks for it, nearest rank: the ceil(q n)-th smallest."""
        latency_us, _ = self._window(variant, start, end)
        if not latency_us.size:
            return None
        q = float(f"{rank * 100:.2f}") / 100.0
        k = max(1, math.ceil(q * latency_us.size - 1e-9))
        return float(np.partition(latency_us, k - 1)[k - 1])

    def latency_share_above(
        self, endpoint: str, variant: str, threshold_us: float, start: datetime, end: datetime
    ) -> float | None:
        """PR(floor(t):) as the adapter asks for it: the percentage strictly above, lower bound exclusive."""
        latency_us, _ = self._window(variant, start, end)
        if not latency_us.size:
            return None
        return 100.0 * int((latency_us > math.floor(threshold_us)).sum()) / latency_us.size


def _second(moment: datetime) -> int:
    return int((moment - EPOCH).total_seconds())


@dataclass
class TrafficClock(Clock):
    """The world's clock (one second per reading, as rollout_fakes.Clock) with traffic flowing meanwhile."""

    traffic: SimulatedTraffic | None = None

    def __call__(self) -> datetime:
        self.advance(1)
        return self.at

    def advance(self, seconds: int) -> None:
        if self.traffic is not None:
            self.traffic.flow(_second(self.at), _second(self.at) + seconds)
        self.at += timedelta(seconds=seconds)


# --------------------------------------------------------------------------------------------------
# One rollout, walked
# --------------------------------------------------------------------------------------------------

Outcome = Literal["rolled back", "promoted", "held"]


@dataclass(frozen=True)
class Rollout:
    outcome: Outcome
    minutes: float | None  # candidate's first traffic -> the failing look (rolled back only)
    step: int | None  # the step (1-based) of the decision
    percent: int | None  # the candidate's share of traffic at that step
    look: int | None  # the look that failed (counted over the whole rollout)
    failed: tuple[str, ...] = ()  # "errors", "latency"


def walk_rollout(seed: int, baseline: Behaviour, candidate: Behaviour) -> Rollout:
    """Upload v2 beside v1 and walk its rollout as Step Functions runs it, until it ends or is held."""
    world = production_world()
    clock = TrafficClock(world.clock.at)
    traffic = SimulatedTraffic(np.random.default_rng(seed), world, baseline, candidate)
    world.clock = clock
    world.services = dataclasses.replace(world.services, metrics=traffic)
    clock.traffic = traffic
    upload_version(world, "v2", deploy=DEPLOY)
    walk = RolloutAslWalk.of_started(world)
    walk.start()
    for alarm in world.alarms.alarms.values():  # traffic flows: every alarm has data, none breaches
        alarm.state = "OK"
    first_traffic: datetime | None = None
    while (where := walk.next_step()) != "Promote":
        assert where == "ReadEndpoint", where
        if first_traffic is None:
            first_traffic = clock.at  # NextStep's weights call: the candidate's first share of traffic
        assert walk.after_in_service() == "CheckAlarms"
        walk.task("CheckAlarms")
        step, percent = int(walk.state["step_index"]) + 1, _candidate_percent(walk.state)
        where = "Bake"
        while where == "Bake":
            token = walk.wait("Bake")
            clock.advance(int(walk.state["wait_seconds"]))  # nobody answered: the wait times out
            assert world.workflow.answer(token) is None
            try:
                walk.caught("Analyse", "States.Timeout", "")
            except RolloutAborted as aborted:
                decided_at = clock.at
                walk.rollback(type(aborted).__name__, lambda_cause(aborted))
                assert status(world, walk.state["rollout_id"]) == "ROLLED_BACK"
                verdict = decision(world, walk.state["rollout_id"], "analysis fail")["analysis"]
                assert first_traffic is not None
                return Rollout(
                    "rolled back",
                    (decided_at - first_traffic).total_seconds() / MINUTE,
                    step,
                    percent,
                    int(verdict["look"]),
                    tuple(test for test in ("errors", "latency") if (verdict.get(test) or {}).get("worse")),
                )
            where = choose("AfterAnalysis", walk.state)
        if where == "Paused":
            return Rollout("held", None, step, percent, None)
        assert where == "NextStep", where
    walk.promote()
    assert status(world, walk.state["rollout_id"]) == "PROMOTED"
    return Rollout("promoted", None, None, None, None)


def _candidate_percent(state: dict[str, Any]) -> int:
    weights = state.get("weights") or {}
    candidate = [float(w) for name, w in weights.items() if name != BASELINE_VARIANT]
    total = sum(float(w) for w in weights.values())
    return round(100 * candidate[0] / total) if candidate and total else 0


# --------------------------------------------------------------------------------------------------
# Scenarios, and what they show
# --------------------------------------------------------------------------------------------------

BASELINE = Behaviour(median_ms=50.0, sigma=0.5, error_rate=0.01)


@dataclass(frozen=True)
class Scenario:
    name: str
    question: str
    candidate: Behaviour
    rollouts: int
    quick_rollouts: int
    seed: int
    baseline: Behaviour = BASELINE


SCENARIOS = (
    Scenario(
        "identical",
        "false rollbacks: the candidate is the baseline",
        BASELINE,
        rollouts=2000,
        quick_rollouts=40,
        seed=1_100,
    ),
    Scenario(
        "latency_25pct",
        "detection: the candidate 25 % slower at every percentile",
        dataclasses.replace(BASELINE, median_ms=BASELINE.median_ms * 1.25),
        rollouts=200,
        quick_rollouts=20,
        seed=2_100,
    ),
    Scenario(
        "errors_2x",
        "detection: the candidate errs twice as often (2 % against 1 %)",
        dataclasses.replace(BASELINE, error_rate=2 * BASELINE.error_rate),
        rollouts=200,
        quick_rollouts=20,
        seed=3_100,
    ),
)


def run_scenario(scenario: Scenario, rollouts: int) -> list[Rollout]:
    """`rollouts` rollouts, rollout i with seed scenario.seed + i (a run is reproducible)."""
    return [walk_rollout(scenario.seed + i, scenario.baseline, scenario.candidate) for i in range(rollouts)]


def clopper_pearson(successes: int, trials: int, level: float = CONFIDENCE_LEVEL) -> tuple[float, float]:
    """The exact (Clopper-Pearson) two-sided interval of a binomial proportion."""
    tail = (1 - level) / 2
    low = 0.0 if successes == 0 else float(beta.ppf(tail, successes, trials - successes + 1))
    high = 1.0 if successes == trials else float(beta.ppf(1 - tail, successes + 1, trials - successes))
    return low, high


def summary(scenario: Scenario, results: list[Rollout], seconds: float) -> dict[str, Any]:
    rolled_back = [r for r in results if r.outcome == "rolled back"]
    minutes = [r.minutes for r in rolled_back if r.minutes is not None]
    low, high = clopper_pearson(len(rolled_back), len(results))
    by_step: dict[str, int] = {}
    by_look: dict[int, int] = {}
    by_test: dict[str, int] = {}
    for r in rolled_back:
        at = f"step {r.step} ({r.percent} %)"
        by_step[at] = by_step.get(at, 0) + 1
        by_look[r.look or 0] = by_look.get(r.look or 0, 0) + 1
        for test in r.failed:
            by_test[test] = by_test.get(test, 0) + 1
    return {
        "question": scenario.question,
        "baseline": scenario.baseline.text(),
        "candidate": scenario.candidate.text(),
        "seeds": [scenario.seed, scenario.seed + len(results) - 1],
        "rollouts": len(results),
        "rolled_back": len(rolled_back),
        "promoted": sum(r.outcome == "promoted" for r in results),
        "held": sum(r.outcome == "held" for r in results),
        "rollback_rate": len(rolled_back) / len(results),
        "rollback_rate_interval": [low, high],
        "interval": f"{CONFIDENCE_LEVEL:.0%} Clopper-Pearson",
        "detection_minutes": {
            "median": statistics.median(minutes) if minutes else None,
            "p90": percentile(minutes, 90) if minutes else None,
            "min": min(minutes) if minutes else None,
            "max": max(minutes) if minutes else None,
        },
        "rolled_back_at": dict(sorted(by_step.items())),
        "rolled_back_at_look": {str(look): n for look, n in sorted(by_look.items())},
        "failed_test": by_test,
        "wall_seconds": seconds,
    }


def table(results: dict[str, dict[str, Any]]) -> str:
    rows = [
        ("scenario", "rollouts", "rolled back", "rate [95 % CP]", "median min", "p90 min", "promoted", "held")
    ]
    for name, s in results.items():
        low, high = s["rollback_rate_interval"]
        detection = s["detection_minutes"]
        rows.append(
            (
                name,
                str(s["rollouts"]),
                str(s["rolled_back"]),
                f"{s['rollback_rate'] * 100:.1f} % [{low * 100:.1f}, {high * 100:.1f}]",
                "-" if detection["median"] is None else f"{detection['median']:.2f}",
                "-" if detection["p90"] is None else f"{detection['p90']:.2f}",
                str(s["promoted"]),
                str(s["held"]),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer rollouts per scenario (the slow test's sizes)"
    )
    parser.add_argument("--only", nargs="*", choices=[s.name for s in SCENARIOS], help="run only these")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "analysis_evidence.json")
    args = parser.parse_args(argv)

    settings = RolloutSettings.model_validate(DEPLOY["rollout"])
    analysis = settings.analysis or AnalysisSettings()
    started, cpu_started = time.monotonic(), time.process_time()
    results: dict[str, dict[str, Any]] = {}
    for scenario in SCENARIOS:
        if args.only and scenario.name not in args.only:
            continue
        rollouts = scenario.quick_rollouts if args.quick else scenario.rollouts
        print(f"== {scenario.name}: {rollouts} rollouts ...", flush=True)
        began = time.monotonic()
        measured = run_scenario(scenario, rollouts)
        results[scenario.name] = summary(scenario, measured, time.monotonic() - began)
        print(f"   {results[scenario.name]['wall_seconds']:.1f} s", flush=True)
    wall, cpu = time.monotonic() - started, time.process_time() - cpu_started
    document = {
        "machine": machine(),
        "method": __doc__,
        "deploy": {
            "steps": settings.steps,
            "bake_seconds": settings.bake_seconds,
            "on_insufficient_data": settings.on_insufficient_data,
            "analysis": analysis.model_dump(),
        },
        "requests_per_second": REQUESTS_PER_SECOND,
        "scenarios": results,
        "wall_seconds": wall,
        "cpu_seconds": cpu,  # this process' CPU time: what the run costs on a machine shared with others
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print()
    print(table(results))
    print(f"\nwall time {wall:.1f} s, CPU time {cpu:.1f} s (single process); written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
