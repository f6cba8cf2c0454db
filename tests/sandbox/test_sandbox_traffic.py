"""traffic.py: SIMULATED invocations split by the endpoint's weights, written as SageMaker's per-variant
metrics; scenarios; and, end to end, a canary rollout that rolls back by itself from metric data
(no SetAlarmState) or promotes a healthy version."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from integration_kit import sluice_process
from sandbox_canary import ROLE, Canary, make_endpoint

from sluice_cli.sandbox.alarms.producers import data_written_through
from sluice_cli.sandbox.server import Sandbox
from sluice_cli.sandbox.traffic import (
    SIMULATION_LABEL,
    Phase,
    Scenario,
    ScenarioError,
    TrafficSimulator,
    split_invocations,
)

TIME_SCALE = 0.01


# --------------------------------------------------------------------------------------------------
# Without an emulator: fake clients, a fake clock
# --------------------------------------------------------------------------------------------------
class FakeAws:
    """DescribeEndpoint answers `weights`; PutMetricData calls are recorded."""

    def __init__(self, weights: dict[str, float]) -> None:
        self.weights = weights
        self.put: list[dict[str, Any]] = []

    def client(self, service: str) -> FakeAws:
        return self

    def describe_endpoint(self, EndpointName: str) -> dict[str, Any]:
        return {
            "ProductionVariants": [{"VariantName": v, "CurrentWeight": w} for v, w in self.weights.items()]
        }

    def put_metric_data(self, Namespace: str, MetricData: list[dict[str, Any]]) -> None:
        assert Namespace == "AWS/SageMaker"
        self.put.extend(MetricData)

    def data(self, metric: str, variant: str) -> list[dict[str, Any]]:
        return [
            d
            for d in self.put
            if d["MetricName"] == metric and {"Name": "VariantName", "Value": variant} in d["Dimensions"]
        ]


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_split_follows_the_weights_exactly_and_deterministically() -> None:
    rng = random.Random(7)
    for _ in range(200):
        counts = split_invocations(20, {"v1": 0.9, "v2": 0.1}, rng)
        assert sum(counts.values()) == 20
        assert counts == {"v1": 18, "v2": 2}
    assert split_invocations(10, {"v1": 1.0, "v2": 0.0}, rng) == {"v1": 10, "v2": 0}
    assert split_invocations(10, {"v1": 0.0}, rng) == {"v1": 0}
    thirds = [split_invocations(10, {"a": 1, "b": 1, "c": 1}, random.Random(seed)) for seed in range(30)]
    assert all(sum(c.values()) == 10 and sorted(c.values()) == [3, 3, 4] for c in thirds)
    assert {max(c, key=lambda k: c[k]) for c in thirds} == {"a", "b", "c"}  # ties drawn, not always "a"
    halves = [sum(split_invocations(0.5, {"a": 1}, random.Random(seed)).values()) for seed in range(200)]
    assert 60 < sum(halves) < 140  # 0.5 rps: one call every other second on average
    assert [split_invocations(7, {"a": 1, "b": 2}, random.Random(3)) for _ in range(2)] == [
        {"a": 2, "b": 5}
    ] * 2


def test_metrics_per_variant_and_simulated_second() -> None:
    aws, clock = FakeAws({"v1": 3.0, "v2": 1.0}), Clock()
    simulator = TrafficSimulator(
        aws,
        "ep",
        rps=40,
        error_rates={"v2": 0.5},
        latency_ms={"v2": 900},
        seed=5,
        time_scale=0.5,
        clock=clock,
    )
    assert simulator.tick() == []  # second 0 has not elapsed
    clock.now += 5.0  # 10 simulated seconds at 0.5 s each
    seconds = simulator.tick()

    assert [s.index for s in seconds] == list(range(10))
    assert simulator.simulated_seconds == 10
    assert simulator.totals["v1"]["invocations"] == 300 and simulator.totals["v2"]["invocations"] == 100
    assert simulator.totals["v1"]["errors"] == 0
    assert 30 < simulator.totals["v2"]["errors"] < 70
    invocations = aws.data("Invocations", "v2")
    assert len(invocations) == 10 and {d["Value"] for d in invocations} == {10.0}
    assert invocations[0]["Dimensions"] == [
        {"Name": "EndpointName", "Value": "ep"},
        {"Name": "VariantName", "Value": "v2"},
    ]
    assert invocations[0]["Unit"] == "Count"
    # timestamps: the middle of each simulated second, on the wall clock
    assert invocations[0]["Timestamp"] == dt.datetime.fromtimestamp(1_800_000_000.25, dt.UTC)
    assert invocations[9]["Timestamp"] == dt.datetime.fromtimestamp(1_800_000_004.75, dt.UTC)
    errors5xx = [d["Value"] for d in aws.data("Invocation5XXErrors", "v2")]
    assert errors5xx == [d["Value"] for d in aws.data("InvocationModelErrors", "v2")]
    assert sum(errors5xx) == simulator.totals["v2"]["errors"]
    latency = aws.data("ModelLatency", "v2")
    assert {d["Unit"] for d in latency} == {"Microseconds"}
    assert sum(sum(d["Counts"]) for d in latency) == 100  # one raw value per invocation
    values = [v for d in latency for v in d["Values"]]
    assert min(values) > 550_000 and max(values) < 1_250_000  # Normal(900 ms, 10 %)
    assert max(v for d in aws.data("ModelLatency", "v1") for v in d["Values"]) < 80_000  # 40 ms default

    aws.weights = {"v1": 0.0, "v2": 1.0}  # weights are read at every tick
    clock.now += 1.0
    later = simulator.tick()
    assert {v.variant: v.invocations for s in later for v in s.variants} == {"v1": 0, "v2": 40}
    assert not [d for d in aws.data("Invocations", "v1") if d["Timestamp"] > invocations[9]["Timestamp"]]


def test_the_same_seed_and_weights_give_the_same_traffic() -> None:
    def run(seed: int) -> list[Any]:
        aws, clock = FakeAws({"v1": 1.0, "v2": 1.0}), Clock()
        simulator = TrafficSimulator(aws, "ep", rps=7, error_rates={"*": 0.2}, seed=seed, clock=clock)
        simulator.tick()  # simulated time starts at the first tick (or start())
        clock.now += 30
        return [(v.invocations, v.errors, v.latencies_us) for s in simulator.tick() for v in s.variants]

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_a_scenario_plays_its_phases_then_stops() -> None:
    scenario = Scenario.from_dict(
        {
            "endpoint": "ep",
            "rps": 10,
            "seed": 3,
            "error_rate": {"*": 0.0},
            "phases": [
                {"seconds": 5},
                {"seconds": 5, "error_rate": {"v2": 1.0}, "latency_ms": {"v2": 900}},
                {"seconds": 2, "rps": 0},
            ],
        }
    )
    aws, clock = FakeAws({"v1": 1.0, "v2": 1.0}), Clock()
    simulator = TrafficSimulator.from_scenario(aws, scenario, time_scale=1.0, clock=clock)
    assert simulator.phases[1] == Phase(5, None, {"v2": 1.0}, {"v2": 900.0})
    simulator.tick()
    clock.now += 100
    seconds = simulator.tick()
    assert len(seconds) == 12 and simulator.finished
    errors = [sum(v.errors for v in s.variants) for s in seconds]
    assert errors == [0] * 5 + [5] * 5 + [0, 0]  # v2 gets half of 10 rps, all failing in phase 2
    assert [sum(v.invocations for v in s.variants) for s in seconds][-2:] == [0, 0]
    clock.now += 10
    assert simulator.tick() == []
    assert simulator.describe().startswith(SIMULATION_LABEL)


def test_scenario_files(tmp_path: Path) -> None:
    doc = {"endpoint": "ep", "rps": 20, "phases": [{"seconds": 30, "error_rate": {"v3": 0.08}}]}
    (tmp_path / "s.json").write_text(json.dumps(doc))
    (tmp_path / "s.yaml").write_text(
        "endpoint: ep\nrps: 20\nphases:\n  - seconds: 30\n    error_rate: {v3: 0.08}\n"
    )
    assert Scenario.load(tmp_path / "s.json") == Scenario.load(tmp_path / "s.yaml")
    assert Scenario.load(tmp_path / "s.json").seconds == 30

    for bad, message in [
        ({**doc, "speed": 1}, "unknown key"),
        ({**doc, "phases": []}, "phases"),
        ({**doc, "phases": [{"seconds": 0}]}, r"phases\[0\].seconds"),
        ({**doc, "phases": [{"seconds": 5, "error_rate": {"v3": 1.5}}]}, r"error_rate.v3 must be 0..1"),
        ({**doc, "phases": [{"seconds": 5, "latency": 3}]}, "unknown key"),
        ({"rps": 3, "phases": [{"seconds": 1}]}, "endpoint"),
    ]:
        with pytest.raises(ScenarioError, match=message):
            Scenario.from_dict(bad)
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ScenarioError, match=r"broken\.json"):
        Scenario.load(tmp_path / "broken.json")


# --------------------------------------------------------------------------------------------------
# On the sandbox: the real stack, a canary rollout driven by simulated traffic
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(
        time_scale=TIME_SCALE,
        transform_delay_seconds=0.2,
        alarm_evaluation_interval=0.1,
        parameters={"SageMakerExecutionRoleArn": ROLE},
    ) as running:
        yield running


def test_simulated_metrics_reach_the_emulated_cloudwatch(sandbox: Sandbox) -> None:
    endpoint = make_endpoint(sandbox)
    simulator = TrafficSimulator(sandbox.clients, endpoint, rps=10, seed=1, time_scale=TIME_SCALE)
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    assert simulator.tick() == []  # simulated second 0 starts now
    time.sleep(0.2)
    assert len(simulator.tick()) >= 15
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "v1"}]
    cloudwatch = sandbox.client("cloudwatch")

    def statistic(metric: str, stat: str) -> float:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/SageMaker",
            MetricName=metric,
            Dimensions=dimensions,
            StartTime=started,
            EndTime=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1),
            Period=60,
            Statistics=[stat],
        )["Datapoints"]
        return float(sum(p[stat] for p in points))

    invocations = simulator.totals["v1"]["invocations"]
    assert invocations == 10 * simulator.simulated_seconds > 0
    assert statistic("Invocations", "Sum") == invocations
    assert statistic("ModelLatency", "SampleCount") == invocations
    assert statistic("Invocation5XXErrors", "Sum") == 0


def test_a_canary_rolls_back_by_itself_when_simulated_errors_cross_its_alarm(sandbox: Sandbox) -> None:
    canary = Canary(sandbox)
    endpoint = make_endpoint(sandbox)
    traffic = TrafficSimulator.in_sandbox(sandbox, endpoint, rps=20, error_rates={"v2": 0.2}, seed=11)
    with traffic:
        canary.start(endpoint, "v2", {"steps": [10, 50, 100], "bake_seconds": 1200})
        final = canary.finish(endpoint, "v2")

    assert final["status"] == "ROLLED_BACK"
    assert final["alarm"] == f"sluice-{endpoint}-v2-errors"
    assert canary.weights(endpoint) == {"v1": 100.0}  # the baseline alone (weight retained on rollback)
    history = canary.history(endpoint, final["rollout_id"])
    fired = [e for e in history if e["event"] == "alarm fired"]
    assert fired
    assert "Threshold Crossed: 1 out of the last 1 datapoints [" in fired[0]["reason"]
    assert "was greater than the threshold (0.01)" in fired[0]["reason"]
    steps = [e["weights"] for e in history if e["event"] == "weights set"]
    assert steps == [{"v2": 10, "v1": 90}]  # fired during the first step's bake, never reached 50 %
    assert traffic.totals["v2"]["errors"] > 0
    assert traffic.totals["v1"]["errors"] == 0


def test_a_healthy_canary_under_simulated_traffic_is_promoted(sandbox: Sandbox) -> None:
    canary = Canary(sandbox)
    endpoint = make_endpoint(sandbox)
    traffic = TrafficSimulator.in_sandbox(sandbox, endpoint, rps=20, error_rates={"*": 0.001}, seed=12)
    with traffic:
        canary.start(endpoint, "v2", {"steps": [50, 100], "bake_seconds": 180})
        final = canary.finish(endpoint, "v2")

    assert final["status"] == "PROMOTED"
    assert canary.weights(endpoint) == {"v2": 1.0}
    assert traffic.totals["v2"]["invocations"] > 1000  # the candidate baked under load
    events = [e["event"] for e in canary.history(endpoint, final["rollout_id"])]
    assert "alarm fired" not in events
    assert events.count("bake passed") == 2


def test_a_running_simulator_tells_the_alarm_evaluator_how_far_it_has_written() -> None:
    clock, aws = Clock(), FakeAws({"v1": 1.0})
    simulator = TrafficSimulator(aws, "fraud", rps=10, time_scale=1.0, clock=clock, tick_seconds=3600)
    origin = clock.now
    assert data_written_through() == math.inf  # nothing running: the evaluator follows the clock
    simulator.start()
    try:
        assert data_written_through() == origin
        clock.now += 5.5
        simulator.tick()
        assert data_written_through() == origin + 5  # five whole simulated seconds are in
    finally:
        simulator.stop()
    assert data_written_through() == math.inf


# --------------------------------------------------------------------------------------------------
# `sluice sandbox traffic`, as a user runs it against the sandbox
# --------------------------------------------------------------------------------------------------
def _sluice(
    sandbox: Sandbox, *args: str, table: bool = False, stack: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`sluice` against the sandbox; `stack` names another stack than the sandbox's (one that does not
    exist: no registry table to be found)."""
    registry = sandbox.outputs.outputs["RegistryTableName"] if table else None
    return sluice_process(sandbox, *args, table=registry, stack=stack)


def _traffic(
    sandbox: Sandbox, endpoint: str, *args: str, table: bool = False, stack: str | None = None
) -> subprocess.CompletedProcess[str]:
    return _sluice(
        sandbox,
        "sandbox",
        "traffic",
        endpoint,
        "--time-scale",
        str(TIME_SCALE),
        *args,
        table=table,
        stack=stack,
    )


def _invocations_in_cloudwatch(sandbox: Sandbox, endpoint: str, variant: str, metric: str) -> float:
    now = dt.datetime.now(dt.UTC)
    points = sandbox.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/SageMaker",
        MetricName=metric,
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}],
        StartTime=now - dt.timedelta(minutes=10),
        EndTime=now + dt.timedelta(minutes=1),
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    return float(sum(p["Sum"] for p in points))


def test_the_traffic_command_shows_each_interval_then_a_summary_table(sandbox: Sandbox) -> None:
    endpoint = make_endpoint(sandbox)

    result = _traffic(
        sandbox, endpoint, "--rps", "50", "--error-rate", "v1=0.2", "--latency-ms", "v1=100",
        "--seconds", "1.5", "--interval", "0.3",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"SIMULATED traffic on endpoint {endpoint}: 50 rps")
    live = [line for line in lines if line.startswith("SIMULATED t=")]
    assert live, result.stdout  # a line per interval (plain lines: not a terminal)
    assert all(" v1 100 %: " in line and " calls, " in line and " errors" in line for line in live)
    assert "{'v1'" not in result.stdout  # no raw Python dict any more
    header = next(line for line in lines if "invocations" in line and "p90 latency" in line)
    for column in ("variant", "errors", "error rate", "mean latency"):
        assert column in header
    row = next(line for line in lines if line.strip("│ ").startswith("v1 "))
    cells = [cell.strip() for cell in row.strip("│").split("│")]
    assert int(cells[1]) == _invocations_in_cloudwatch(sandbox, endpoint, "v1", "Invocations") > 0
    assert int(cells[2]) == _invocations_in_cloudwatch(sandbox, endpoint, "v1", "Invocation5XXErrors") > 0
    assert cells[3].endswith(" %") and cells[4].endswith(" ms") and cells[5].endswith(" ms")
    assert "stopped: --seconds 1.5 elapsed" in result.stdout


def test_the_traffic_command_with_json_prints_one_document(sandbox: Sandbox) -> None:
    endpoint = make_endpoint(sandbox)

    result = _traffic(
        sandbox, endpoint, "--rps", "40", "--latency-ms", "v1=100", "--seconds", "1", "--interval", "0.2",
        "--json",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)  # nothing else on stdout
    assert document["endpoint"] == endpoint and document["simulation"].startswith(SIMULATION_LABEL)
    assert document["stopped"] == "--seconds 1 elapsed" and document["rollout"] is None
    (v1,) = document["variants"]
    assert v1["variant"] == "v1" and v1["errors"] == 0 and v1["error_rate"] == 0
    assert v1["invocations"] == _invocations_in_cloudwatch(sandbox, endpoint, "v1", "Invocations") > 0
    assert 80 < v1["latency_ms"]["mean"] < 120 and v1["latency_ms"]["p90"] >= v1["latency_ms"]["mean"]
    assert SIMULATION_LABEL in result.stderr  # the description goes to stderr, out of the document's way
    assert _sluice(
        sandbox, "-o", "json", "sandbox", "traffic", endpoint, "--seconds", "0.2"
    ).stdout.startswith("{")


def test_a_variant_the_endpoint_does_not_have_is_a_warning_and_none_at_all_exits_1(sandbox: Sandbox) -> None:
    endpoint = make_endpoint(sandbox)

    some = _traffic(sandbox, endpoint, "--error-rate", "v1=0.1", "--latency-ms", "v9=900", "--seconds", "0.5")
    none = _traffic(sandbox, endpoint, "--error-rate", "v9=0.5", "--seconds", "0.5", "--json")
    gone = _traffic(sandbox, "no-such-endpoint", "--seconds", "0.5")

    assert some.returncode == 0, some.stderr
    assert f"warning: endpoint {endpoint} has no variant v9 (--latency-ms) now (it has v1)" in some.stderr
    assert "v9 (--latency-ms): never a variant of endpoint" in some.stderr
    assert none.returncode == 1
    assert f"none of the variants named (v9 (--error-rate)) was ever a variant of endpoint {endpoint}" in (
        none.stderr
    )
    assert json.loads(none.stdout)["warnings"]  # the summary is still there
    assert gone.returncode == 1 and "'no-such-endpoint' does not exist" in gone.stderr


def test_until_rollout_ends_stops_when_the_rollout_record_is_final(sandbox: Sandbox) -> None:
    canary, endpoint = Canary(sandbox), make_endpoint(sandbox)
    canary.start(endpoint, "v2", {"steps": [10, 50, 100], "bake_seconds": 1200})

    result = _traffic(
        sandbox, endpoint, "--rps", "20", "--error-rate", "v2=0.2", "--until-rollout-ends", "--json",
        "--seconds", "60", table=True,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    final = canary.rollout(endpoint, "v2")
    assert final is not None and final["status"] == "ROLLED_BACK"
    assert document["stopped"] == f"rollout of v2 ({final['rollout_id']}) ended: ROLLED_BACK"
    assert document["rollout"]["status"] == "ROLLED_BACK"
    assert {v["variant"] for v in document["variants"]} == {"v1", "v2"}


def test_until_rollout_ends_without_a_table_watches_the_endpoint_go_back_to_one_variant(
    sandbox: Sandbox,
) -> None:
    canary, endpoint = Canary(sandbox), make_endpoint(sandbox)
    canary.start(endpoint, "v2", {"steps": [50, 100], "bake_seconds": 600})  # 6 s a step: the CLI sees both

    result = _traffic(sandbox, endpoint, "--until-rollout-ends", "--seconds", "60", stack="not-deployed")

    assert result.returncode == 0, result.stderr
    assert "--until-rollout-ends: no registry table" in result.stderr
    assert "stopped: the endpoint is back to one variant: v2 at 100 %" in result.stdout
    final = canary.finish(endpoint, "v2")
    assert final["status"] == "PROMOTED"
