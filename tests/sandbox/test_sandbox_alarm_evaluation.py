"""alarms/: metric alarms evaluated from metric data as CloudWatch does (moto never does),
state changes with their "CloudWatch Alarm State Change" events; periods scaled by the time_scale.

The sandbox runs at time_scale 0.01: a 60 s alarm period is 0.6 s of wall time.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice.domain.deploy_config import parse_deploy_config
from sluice.domain.rollout_plan import RolloutNames, _alarm_requests, error_rate_expression
from sluice_cli.sandbox.alarms.decision import evaluate
from sluice_cli.sandbox.alarms.errors import ExpressionError
from sluice_cli.sandbox.alarms.metric_index import Sample
from sluice_cli.sandbox.alarms.metric_math import evaluate_expression, parse_expression
from sluice_cli.sandbox.alarms.producers import data_moment, register_producer, unregister_producer
from sluice_cli.sandbox.alarms.spec import ALARM, INSUFFICIENT_DATA, OK, AlarmSpec, Query
from sluice_cli.sandbox.alarms.statistics import percentile, statistic_value
from sluice_cli.sandbox.alarms.windows import Datapoint
from sluice_cli.sandbox.aws_state.cloudwatch import ALARM_DETAIL_TYPE
from sluice_cli.sandbox.gaps.cloudwatch import MetricAlarmEvaluation
from sluice_cli.sandbox.gaps.registry import EmulatorGaps
from sluice_cli.sandbox.gaps.time_compression import TimeCompression
from sluice_cli.sandbox.server import Sandbox
from sluice_cli.sandbox.traffic import TrafficSimulator

TIME_SCALE = 0.01
PERIOD_WALL = 60 * TIME_SCALE
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3-cpu-py311"
ROLE = "arn:aws:iam::123456789012:role/x"
NS = "AWS/SageMaker"


# --------------------------------------------------------------------------------------------------
# The gap itself (first: the probe runs plain moto, which resets every backend, so no sandbox may run)
# --------------------------------------------------------------------------------------------------
def test_gap_still_present_moto_never_evaluates_alarms() -> None:
    assert Sandbox._active is None
    assert MetricAlarmEvaluation.still_present()


def test_the_evaluator_thread_starts_and_stops_with_the_gap() -> None:
    gap = MetricAlarmEvaluation(time_scale=0.5, evaluation_interval=0.05)
    with gap:
        assert gap.evaluator is not None
        assert gap.evaluator.running
        assert gap.evaluator.time_scale == 0.5
        thread = gap.evaluator._thread
    assert gap.evaluator is None
    assert thread is not None
    assert not thread.is_alive()


def test_the_default_gaps_evaluate_alarms_unless_told_not_to() -> None:
    assert any(isinstance(g, MetricAlarmEvaluation) for g in EmulatorGaps.default().gaps)
    assert not any(
        isinstance(g, MetricAlarmEvaluation) for g in EmulatorGaps.default(evaluate_alarms=False).gaps
    )
    gaps = EmulatorGaps.default(time_scale=0.25, alarm_evaluation_interval=0.3)
    evaluation = gaps.get(MetricAlarmEvaluation)
    assert evaluation.evaluation_interval == 0.3
    gaps.get(TimeCompression).time_scale = 0.5  # the evaluator follows the sandbox's clock
    assert evaluation._current_time_scale() == 0.5


# --------------------------------------------------------------------------------------------------
# Pure parts: metric math, statistics, the decision
# --------------------------------------------------------------------------------------------------
def test_sluices_error_rate_expression() -> None:
    node = parse_expression(error_rate_expression(1))
    series = {
        "errors5xx": (5.0, 0.0, None, 2.0),
        "invocations": (100.0, 50.0, 10.0, None),
    }
    # server errors over the invocations; missing in, missing out
    assert evaluate_expression(node, series, 4) == (0.05, 0.0, None, None)


def test_a_burst_of_client_errors_does_not_fire_sluices_error_alarm() -> None:
    """InvocationModelErrors counts 4xx answers too: 300 malformed requests in a minute of 1,000 are the
    clients' fault, not the candidate's. Only Invocation5XXErrors reaches the alarm."""
    names = RolloutNames(
        model="m",
        candidate_variant="v2",
        baseline_variant="v1",
        candidate_config="c",
        promote_config="p",
        baseline_config="b",
        error_alarm="sluice-ep-v2-errors",
        latency_alarm="sluice-ep-v2-latency",
    )
    alarm = next(a for a in _alarm_requests(parse_deploy_config(b"{}"), "ep", "v2", "v2", names))
    metrics = {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert metrics == {"Invocations", "Invocation5XXErrors"}
    expression = next(m["Expression"] for m in alarm["Metrics"] if "Expression" in m)
    series = {"errors5xx": (2.0,), "modelerrors": (302.0,), "invocations": (1000.0,)}
    (rate,) = evaluate_expression(parse_expression(expression), series, 1)
    assert rate == 0.002
    assert rate <= alarm["Threshold"]


def test_the_error_rate_of_a_quiet_minute_is_over_min_invocations() -> None:
    node = parse_expression(error_rate_expression(100))
    series = {
        "errors5xx": (1.0, 5.0, 2.0, 30.0),
        "invocations": (20.0, 5.0, 400.0, 3000.0),
    }
    # 1 of 20 is 1 % of the floor (not above a 1 % threshold); 5 of 5 failing is 5 %; above the floor
    # the plain ratio
    assert evaluate_expression(node, series, 4) == (0.01, 0.05, 0.005, 0.01)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3 ^ 2", 19.0),
        ("-(a - b)", (-1.0, None)),
        ("ABS(b - a) / 2", (0.5, None)),
        ("MAX([a, b])", (3.0, 1.0)),
        ("MIN([a, b, 0])", (0.0, 0.0)),
        ("MAX(a)", 3.0),
        ("FILL(b, 0) + 1", (3.0, 1.0)),
        ("a / 0", (None, None)),
        ("SUM([a, b]) * 100", (500.0, 100.0)),
        ("AVG([a, b])", (2.5, 1.0)),
        ("2e1 + .5", 20.5),
    ],
)
def test_metric_math(expression: str, expected: Any) -> None:
    values = {"a": (3.0, 1.0), "b": (2.0, None)}
    assert evaluate_expression(parse_expression(expression), values, 2) == expected


@pytest.mark.parametrize(
    "expression",
    ["__import__('os').system('id')", "a +", "(a", "a b", "RATE(a)", "max(a)", "a; b", "[a, b]", "FILL(a)"],
)
def test_metric_math_outside_the_subset_is_refused(expression: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate_expression(parse_expression(expression), {"a": (1.0,), "b": (2.0,)}, 1)


def test_the_window_waits_for_late_producers_but_not_for_ever() -> None:
    wall = 0.6  # settle 0.3
    assert data_moment(100.0, math.inf, wall) == 100.0  # no producer: the clock decides
    assert data_moment(100.0, 99.9, wall) == 100.0  # written up to the settle: on time
    assert data_moment(100.0, 99.0, wall) == pytest.approx(99.3)  # behind: judged as of its data
    assert data_moment(100.0, 10.0, wall) == pytest.approx(98.2)  # stalled: at most 3 periods late


def test_statistics_and_percentiles() -> None:
    assert percentile([float(v) for v in range(1, 101)], 99) == 99.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([5.0, 1.0], 100) == 5.0
    assert percentile([], 99) is None
    raw = [Sample(v, v, v, 1, "Microseconds", raw=True) for v in (1.0, 2.0, 3.0)]
    statistic_set = Sample(10.0, 1.0, 9.0, 4, None, raw=False)
    samples = [*raw, statistic_set]
    assert statistic_value(samples, "Sum") == 16.0
    assert statistic_value(samples, "SampleCount") == 7.0
    assert statistic_value(samples, "Average") == 16.0 / 7
    assert (statistic_value(samples, "Minimum"), statistic_value(samples, "Maximum")) == (1.0, 9.0)
    assert statistic_value(samples, "p50") == 2.0  # raw values only: a statistic set has no percentile
    assert statistic_value([statistic_set], "p99") is None
    assert statistic_value([], "Sum") is None


def _spec(treat: str, m: int = 3, n: int = 3) -> AlarmSpec:
    return AlarmSpec(
        name="a",
        period=60,
        evaluation_periods=n,
        datapoints_to_alarm=m,
        threshold=5.0,
        comparison="GreaterThanThreshold",
        treat_missing_data=treat,
        queries=(Query("m1", True, key=(NS, "Errors", frozenset()), statistic="Sum"),),
        result="m1",
        statistic="Sum",
    )


def _points(pattern: str) -> list[Datapoint]:
    """Oldest first: X breaching (10), 0 not breaching (0), - missing."""
    values = {"X": 10.0, "0": 0.0, "-": None}
    return [Datapoint(1_764_000_000.0 + 60 * i, values[c], 1.0) for i, c in enumerate(pattern)]


KEEP = None
# (pattern, DatapointsToAlarm, {treatment: state}): the AWS documentation's table for missing data,
# with 3 evaluation periods.
DECISIONS = [
    ("XXX", 3, {"missing": ALARM, "ignore": ALARM, "breaching": ALARM, "notBreaching": ALARM}),
    ("X0X", 3, {"missing": OK, "ignore": OK, "breaching": OK, "notBreaching": OK}),
    ("X0X", 2, {"missing": ALARM, "ignore": ALARM, "breaching": ALARM, "notBreaching": ALARM}),
    ("0X0", 2, {"missing": OK, "ignore": OK, "breaching": OK, "notBreaching": OK}),
    ("0--", 3, {"missing": OK, "ignore": OK, "breaching": OK, "notBreaching": OK}),
    ("-X-", 3, {"missing": ALARM, "ignore": KEEP, "breaching": ALARM, "notBreaching": OK}),
    ("X-X", 2, {"missing": ALARM, "ignore": ALARM, "breaching": ALARM, "notBreaching": ALARM}),
    ("X--", 2, {"missing": ALARM, "ignore": KEEP, "breaching": ALARM, "notBreaching": OK}),
    ("---", 3, {"missing": KEEP, "ignore": KEEP, "breaching": ALARM, "notBreaching": OK}),
]


@pytest.mark.parametrize(("pattern", "m", "expected"), DECISIONS)
def test_treat_missing_data_and_m_out_of_n(pattern: str, m: int, expected: dict[str, str | None]) -> None:
    for treat, state in expected.items():
        outcome = evaluate(
            _spec(treat, m=m), _points(pattern), current=OK, state_from_data=False, now=0.0, time_scale=1.0
        )
        assert outcome.state == state, (pattern, m, treat, outcome.reason)


def test_no_data_after_data_is_insufficient_data_with_missing() -> None:
    """`missing` with nothing in the window: INSUFFICIENT_DATA once the state came from data; a state set
    by hand (or moto's initial one) is kept (the sandbox's choice, see sluice_cli/sandbox/alarms/)."""
    points = _points("---")
    from_data = evaluate(
        _spec("missing"), points, current=ALARM, state_from_data=True, now=0.0, time_scale=1.0
    )
    assert from_data.state == INSUFFICIENT_DATA
    assert from_data.reason == "Insufficient Data: 3 datapoints were unknown."
    by_hand = evaluate(
        _spec("missing"), points, current=ALARM, state_from_data=False, now=0.0, time_scale=1.0
    )
    assert by_hand.state is KEEP


def test_reasons_read_like_cloudwatchs() -> None:
    spec = AlarmSpec(
        name="rate",
        period=60,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        threshold=0.01,
        comparison="GreaterThanThreshold",
        treat_missing_data="notBreaching",
        queries=(Query("errorrate", True, expression=parse_expression("1")),),
        result="errorrate",
    )
    start = dt.datetime(2026, 11, 25, 12, 29, tzinfo=dt.UTC).timestamp()
    fired = evaluate(
        spec, [Datapoint(start, 0.083)], current=OK, state_from_data=False, now=start + 90, time_scale=1.0
    )
    assert fired.state == ALARM
    assert fired.reason == (
        "Threshold Crossed: 1 out of the last 1 datapoints [0.083 (25/11/26 12:29:00)] was greater than "
        "the threshold (0.01) (minimum 1 datapoint for OK -> ALARM transition)."
    )
    assert fired.reason_data["evaluatedDatapoints"] == [
        {"timestamp": "2026-11-25T12:29:00.000+0000", "value": 0.083}
    ]
    assert (fired.reason_data["version"], fired.reason_data["period"], fired.reason_data["threshold"]) == (
        "1.0",
        60,
        0.01,
    )
    calm = evaluate(
        spec, [Datapoint(start, 0.0)], current=ALARM, state_from_data=True, now=start + 90, time_scale=1.0
    )
    assert calm.reason == (
        "Threshold Crossed: 1 datapoint [0.0 (25/11/26 12:29:00)] was not greater than the threshold (0.01)."
    )


# --------------------------------------------------------------------------------------------------
# In the sandbox
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    template = Path(tmp_path_factory.mktemp("alarms")) / "template.yaml"
    template.write_text("Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n")
    with Sandbox(
        template, stack_name="alarms", time_scale=TIME_SCALE, alarm_evaluation_interval=0.1
    ) as running:
        yield running


_queues = iter(range(1_000_000))


def _alarm_events(sandbox: Sandbox, alarm_names: list[str]) -> Callable[[], list[dict[str, Any]]]:
    """A rule → SQS for the alarms' state change events; returns a function draining the queue."""
    number = next(_queues)
    sqs, events = sandbox.client("sqs"), sandbox.client("events")
    url = sqs.create_queue(QueueName=f"alarm-events-{number}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {
        "source": ["aws.cloudwatch"],
        "detail-type": [ALARM_DETAIL_TYPE],
        "detail": {"alarmName": alarm_names},
    }
    events.put_rule(Name=f"alarm-events-{number}", EventPattern=json.dumps(pattern))
    events.put_targets(Rule=f"alarm-events-{number}", Targets=[{"Id": "q", "Arn": arn}])

    def drain() -> list[dict[str, Any]]:
        received = []
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return received
            for message in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                received.append(json.loads(message["Body"]))

    return drain


def _alarm(sandbox: Sandbox, name: str) -> dict[str, Any]:
    found: dict[str, Any] = sandbox.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    return found


def _state(sandbox: Sandbox, name: str) -> str:
    return str(_alarm(sandbox, name)["StateValue"])


def _wait_state(
    sandbox: Sandbox,
    name: str,
    state: str,
    timeout: float = 8.0,
    while_waiting: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if while_waiting is not None:
            while_waiting()
        alarm = _alarm(sandbox, name)
        if alarm["StateValue"] == state:
            return alarm
        time.sleep(0.05)
    raise AssertionError(
        f"alarm {name} not {state} after {timeout} s: {_alarm(sandbox, name)['StateReason']}"
    )


def _errors_alarm(sandbox: Sandbox, name: str, *, treat: str = "missing", m: int = 1, n: int = 1) -> None:
    sandbox.client("cloudwatch").put_metric_alarm(
        AlarmName=name,
        Namespace=NS,
        MetricName="Invocation5XXErrors",
        Dimensions=[{"Name": "EndpointName", "Value": name}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=n,
        DatapointsToAlarm=m,
        Threshold=5.0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData=treat,
    )


def _put_errors(sandbox: Sandbox, endpoint: str, values: list[float], at: dt.datetime | None = None) -> None:
    datum: dict[str, Any] = {
        "MetricName": "Invocation5XXErrors",
        "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
        "Values": values,
        "Unit": "Count",
    }
    if at is not None:
        datum["Timestamp"] = at
    sandbox.client("cloudwatch").put_metric_data(Namespace=NS, MetricData=[datum])


def test_a_sum_alarm_fires_on_breaching_data_and_recovers_on_good_data(sandbox: Sandbox) -> None:
    name = "sum-errors"
    drain = _alarm_events(sandbox, [name])
    _errors_alarm(sandbox, name)
    _put_errors(sandbox, name, [1.0] * 10)  # 10 errors in this period: above 5
    good_data = lambda: _put_errors(sandbox, name, [0.0])  # noqa: E731 - and datapoints of 0 from now on

    fired = _wait_state(sandbox, name, ALARM, while_waiting=good_data)
    assert fired["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [10.0 (")
    assert fired["StateReason"].endswith(
        "was greater than the threshold (5.0) (minimum 1 datapoint for OK -> ALARM transition)."
    )
    data = json.loads(fired["StateReasonData"])
    assert data["statistic"] == "Sum"
    assert data["recentDatapoints"] == [10.0]
    assert data["sandbox"] == {"timeScale": TIME_SCALE, "periodWallSeconds": pytest.approx(PERIOD_WALL)}

    recovered = _wait_state(sandbox, name, OK, while_waiting=good_data)
    assert "was not greater than the threshold (5.0)" in recovered["StateReason"]

    deadline = time.monotonic() + 5
    received: list[dict[str, Any]] = []
    while len(received) < 2 and time.monotonic() < deadline:
        received += drain()
    assert [(e["detail"]["previousState"]["value"], e["detail"]["state"]["value"]) for e in received] == [
        (OK, ALARM),
        (ALARM, OK),
    ]
    assert received[0]["source"] == "aws.cloudwatch"
    assert received[0]["detail"]["state"]["reason"] == fired["StateReason"]
    assert json.loads(received[0]["detail"]["state"]["reasonData"])["evaluatedDatapoints"][0]["value"] == 10.0


def _endpoint(sandbox: Sandbox, name: str, weights: dict[str, float]) -> None:
    sm = sandbox.client("sagemaker")
    variants = []
    for variant, weight in weights.items():
        sm.create_model(
            ModelName=f"{name}-{variant}",
            ExecutionRoleArn=ROLE,
            PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://bucket/{name}/{variant}.tar.gz"},
        )
        variants.append(
            {
                "VariantName": variant,
                "ModelName": f"{name}-{variant}",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": weight,
            }
        )
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=variants)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)


def _sluice_alarms(sandbox: Sandbox, endpoint: str, variant: str = "v2") -> tuple[str, str]:
    """The automatic alarms Sluice creates for a canary of `variant` (deploy.json defaults)."""
    names = RolloutNames(
        model="m",
        candidate_variant=variant,
        baseline_variant="v1",
        candidate_config="c",
        promote_config="p",
        baseline_config="b",
        error_alarm=f"sluice-{endpoint}-{variant}-errors",
        latency_alarm=f"sluice-{endpoint}-{variant}-latency",
    )
    for request in _alarm_requests(parse_deploy_config(b"{}"), endpoint, variant, variant, names):
        sandbox.client("cloudwatch").put_metric_alarm(**request)
    return names.error_alarm, names.latency_alarm


def _hold(sandbox: Sandbox, seconds: float, *names: str) -> set[str]:
    """The states the alarms went through during `seconds`."""
    seen: set[str] = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen |= {_state(sandbox, name) for name in names}
        time.sleep(0.05)
    return seen


def test_sluices_error_rate_alarm_fires_from_simulated_traffic(sandbox: Sandbox) -> None:
    _endpoint(sandbox, "err-bad", {"v1": 1.0, "v2": 1.0})
    _endpoint(sandbox, "err-good", {"v1": 1.0, "v2": 1.0})
    bad, _ = _sluice_alarms(sandbox, "err-bad")
    good, _ = _sluice_alarms(sandbox, "err-good")
    drain = _alarm_events(sandbox, [bad])
    traffic = [
        TrafficSimulator(sandbox.clients, "err-bad", 20, {"v2": 0.08}, seed=1, time_scale=TIME_SCALE),
        TrafficSimulator(sandbox.clients, "err-good", 20, {"v2": 0.001}, seed=2, time_scale=TIME_SCALE),
    ]
    for simulator in traffic:
        simulator.start()
    try:
        fired = _wait_state(sandbox, bad, ALARM)
        states_of_good = _hold(sandbox, 3 * PERIOD_WALL, good)
    finally:
        for simulator in traffic:
            simulator.stop()

    assert states_of_good == {OK}
    assert fired["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [")
    data = json.loads(fired["StateReasonData"])
    assert "statistic" not in data  # metric math
    (rate,) = data["recentDatapoints"]
    assert rate > 0.01  # about 8 % of the candidate's ~600 invocations in one (scaled) minute (the
    # first period the traffic ran in may be partial: a handful of invocations, a rougher rate)
    # the ALARM event (the alarm may have returned to OK since the traffic stopped: no data, notBreaching;
    # on a loaded machine a starved period can even flap it OK and back: the first event is the one)
    event = next(e for e in drain() if e["detail"]["state"]["value"] == ALARM)
    assert event["detail"]["alarmName"] == bad
    assert [m["id"] for m in event["detail"]["configuration"]["metrics"]][-1] == "errorrate"
    assert traffic[0].totals["v1"]["errors"] == 0


def test_sluices_p99_latency_alarm_fires_from_slow_simulated_traffic(sandbox: Sandbox) -> None:
    _endpoint(sandbox, "slow", {"v1": 1.0, "v2": 1.0})
    _endpoint(sandbox, "fast", {"v1": 1.0, "v2": 1.0})
    _, slow = _sluice_alarms(sandbox, "slow")
    _, fast = _sluice_alarms(sandbox, "fast")
    assert _alarm(sandbox, slow)["ExtendedStatistic"] == "p99"
    assert _alarm(sandbox, slow)["Threshold"] == 500_000.0  # 500 ms in microseconds
    traffic = [
        TrafficSimulator(sandbox.clients, "slow", 20, latency_ms={"v2": 900}, seed=3, time_scale=TIME_SCALE),
        TrafficSimulator(sandbox.clients, "fast", 20, latency_ms={"v2": 120}, seed=4, time_scale=TIME_SCALE),
    ]
    for simulator in traffic:
        simulator.start()
    try:
        fired = _wait_state(sandbox, slow, ALARM)
        states_of_fast = _hold(sandbox, 3 * PERIOD_WALL, fast)
    finally:
        for simulator in traffic:
            simulator.stop()

    assert states_of_fast == {OK}
    # The default on_insufficient_data (hold) leaves missing data missing: the alarm waits in
    # INSUFFICIENT_DATA, and when the first of its two periods had no data yet (the traffic started within
    # it), the one breaching datapoint fires it ("1 out of the last 2 datapoints", as CloudWatch words it).
    assert re.match(r"Threshold Crossed: [12] out of the last 2 datapoints \[", fired["StateReason"]), fired
    data = json.loads(fired["StateReasonData"])
    assert data["extendedStatistic"] == "p99"
    assert all(900_000 < value < 1_400_000 for value in data["recentDatapoints"])
    judged = [point for point in data["evaluatedDatapoints"] if "value" in point]  # a missing one has none
    assert judged and all(point["sampleCount"] > 0 for point in judged)


def test_treat_missing_data_when_the_data_stops(sandbox: Sandbox) -> None:
    treatments = {
        "td-missing": "missing",
        "td-ignore": "ignore",
        "td-not": "notBreaching",
        "td-br": "breaching",
    }
    drain = _alarm_events(sandbox, list(treatments))
    for name, treat in treatments.items():
        _errors_alarm(sandbox, name, treat=treat)
    for name in treatments:
        _put_errors(sandbox, name, [10.0])  # one breaching period, then no more data

    assert _wait_state(sandbox, "td-missing", INSUFFICIENT_DATA)["StateReason"] == (
        "Insufficient Data: 1 datapoint was unknown."
    )
    assert _wait_state(sandbox, "td-not", OK)["StateReason"] == (
        "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated "
        "as [NonBreaching]."
    )
    assert _hold(sandbox, 2 * PERIOD_WALL, "td-ignore", "td-br") == {ALARM}
    transitions: dict[str, list[str]] = {name: [] for name in treatments}
    for event in drain():
        transitions[event["detail"]["alarmName"]].append(event["detail"]["state"]["value"])
    assert transitions == {
        "td-missing": [ALARM, INSUFFICIENT_DATA],
        "td-ignore": [ALARM],
        "td-not": [ALARM, OK],
        "td-br": [ALARM],
    }


def _fresh_window(period_wall: float) -> None:
    """Sleep until a period just completed, so the evaluation window stays put for most of a period."""
    settle = min(period_wall / 2, 1.0)
    while (time.time() - settle) % period_wall > 0.3:
        time.sleep(0.02)


def test_m_out_of_n_datapoints(sandbox: Sandbox) -> None:
    period, wall = 300, 300 * TIME_SCALE  # 3 s of wall time per period: a stable window
    cloudwatch = sandbox.client("cloudwatch")
    for name, m in (("mn-2of3", 2), ("mn-3of3", 3)):
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace=NS,
            MetricName="Invocation5XXErrors",
            Dimensions=[{"Name": "EndpointName", "Value": "mn"}],
            Statistic="Sum",
            Period=period,
            EvaluationPeriods=3,
            DatapointsToAlarm=m,
            Threshold=5.0,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
        )
    _fresh_window(wall)
    last = math.floor((time.time() - min(wall / 2, 1.0)) / wall) - 1
    for index, value in ((last - 2, 10.0), (last - 1, 1.0), (last, 10.0)):  # X 0 X
        at = dt.datetime.fromtimestamp((index + 0.5) * wall, dt.UTC)
        _put_errors(sandbox, "mn", [value], at=at)
    sandbox.gaps.get(MetricAlarmEvaluation).evaluate_now()

    two_of_three = _alarm(sandbox, "mn-2of3")
    assert two_of_three["StateValue"] == ALARM
    assert two_of_three["StateReason"].startswith("Threshold Crossed: 2 out of the last 3 datapoints [10.0 (")
    assert "(minimum 2 datapoints for OK -> ALARM transition)" in two_of_three["StateReason"]
    assert _state(sandbox, "mn-3of3") == OK


def test_a_state_set_by_hand_is_kept_without_data(sandbox: Sandbox) -> None:
    cloudwatch = sandbox.client("cloudwatch")
    names = ["by-hand", "by-hand-ignore", "by-hand-not"]
    _errors_alarm(sandbox, "by-hand")  # TreatMissingData missing (the default)
    _errors_alarm(sandbox, "by-hand-ignore", treat="ignore")
    _errors_alarm(sandbox, "by-hand-not", treat="notBreaching")
    drain = _alarm_events(sandbox, names)
    set_at = time.monotonic()
    for name in names:
        cloudwatch.set_alarm_state(AlarmName=name, StateValue=ALARM, StateReason="set by hand")

    # notBreaching: CloudWatch's next evaluation (one period later, not at once) puts it back to OK.
    recovered = _wait_state(sandbox, "by-hand-not", OK)
    assert time.monotonic() - set_at >= PERIOD_WALL * 0.9
    assert "treated as [NonBreaching]" in recovered["StateReason"]
    # missing / ignore without data: the state set by hand stays.
    assert _hold(sandbox, 3 * PERIOD_WALL, "by-hand", "by-hand-ignore") == {ALARM}
    assert _alarm(sandbox, "by-hand")["StateReason"] == "set by hand"
    events = drain()
    assert sorted((e["detail"]["alarmName"], e["detail"]["state"]["value"]) for e in events) == [
        ("by-hand", ALARM),
        ("by-hand-ignore", ALARM),
        ("by-hand-not", ALARM),
        ("by-hand-not", OK),
    ]


class _LateWriter:
    """A producer of metric data that is behind (as the traffic simulator is on a busy machine)."""

    def __init__(self, written_through: float) -> None:
        self.written_through = written_through


def test_a_period_written_late_is_judged_on_all_its_data(sandbox: Sandbox) -> None:
    """A producer still writing a period holds its evaluation: judged early, 5 invocations of the 100
    the period will hold would look like a traffic drop and fire this alarm."""
    period, wall = 300, 300 * TIME_SCALE  # 3 s of wall time per period, settle 1 s
    name = "late-invocations"
    cloudwatch = sandbox.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="Test/Late",
        MetricName="Invocations",
        Statistic="Sum",
        Period=period,
        EvaluationPeriods=1,
        Threshold=50.0,
        ComparisonOperator="LessThanThreshold",
        TreatMissingData="missing",
    )
    # not OK to begin with, so that the data's verdict shows as a transition (no data keeps it)
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=INSUFFICIENT_DATA, StateReason="new")

    def invocations(count: int, at: float) -> None:
        cloudwatch.put_metric_data(
            Namespace="Test/Late",
            MetricData=[
                {
                    "MetricName": "Invocations",
                    "Value": float(count),
                    "Timestamp": dt.datetime.fromtimestamp(at, dt.UTC),
                }
            ],
        )

    start = (math.floor(time.time() / wall) + 1) * wall  # the next period
    while time.time() < start + 0.1:
        time.sleep(0.02)
    writer = _LateWriter(start)  # it has written nothing of this period yet
    register_producer(writer)
    try:
        invocations(5, start + 0.5)  # the first few of the period's invocations
        seen = _hold(sandbox, start + wall + 2.0 - time.time(), name)  # its end + settle + 1 s: due
        invocations(95, start + 1.5)  # the rest, late
        writer.written_through = time.time()
        final = _wait_state(sandbox, name, OK)
    finally:
        unregister_producer(writer)

    assert ALARM not in seen  # never judged on the 5
    data = json.loads(final["StateReasonData"])
    assert data["recentDatapoints"] == [100.0]


def test_get_metric_data_answers_percentiles_and_percentile_ranks_from_raw_values(sandbox: Sandbox) -> None:
    """What the canary analysis reads: a bound on the baseline's p90 (pNN.NN) and the share of the
    candidate's requests at or under a threshold (PR), from ModelLatency's raw values, per period."""
    cloudwatch = sandbox.client("cloudwatch")
    minute = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=2)
    dimensions = [{"Name": "EndpointName", "Value": "stats"}, {"Name": "VariantName", "Value": "v1"}]
    latencies = [float(v) for v in range(1000, 101_000, 1000)]  # 100 values: 1 000 … 100 000 µs
    cloudwatch.put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {
                "MetricName": "ModelLatency",
                "Dimensions": dimensions,
                "Timestamp": minute,
                "Values": latencies,
                "Counts": [1.0] * len(latencies),
                "Unit": "Microseconds",
            }
        ],
    )
    metric = {"Namespace": "AWS/SageMaker", "MetricName": "ModelLatency", "Dimensions": dimensions}

    def query(stat: str) -> list[float]:
        answer = cloudwatch.get_metric_data(
            MetricDataQueries=[{"Id": "q", "MetricStat": {"Metric": metric, "Period": 60, "Stat": stat}}],
            StartTime=minute,
            EndTime=minute + dt.timedelta(minutes=1),
        )
        return [float(v) for v in answer["MetricDataResults"][0]["Values"]]

    assert query("p90") == [90_000.0]
    assert query("p90.87") == [91_000.0]  # nearest rank: the 91st of 100
    assert query("PR(:30000)") == [30.0]  # at most 30 000 µs, inclusive
    assert query("PR(30000:)") == [70.0]  # above 30 000 µs, exclusive
    assert query("PR(10000:20000)") == [10.0]
    assert query("SampleCount") == [100.0]
