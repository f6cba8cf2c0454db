"""What the canary steps read besides the watch: SIMULATED traffic, alarm events, metrics, the Step
Functions history, SageMaker and autoscaling, and each rollout's timeline for the report."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.table import Table
from rich.text import Text

from sluice.domain.rollout_plan import ALARM_PERIOD_SECONDS, alarm_names
from sluice_cli.sandbox.demo import uploads
from sluice_cli.sandbox.demo.cast import (
    ALARM_EVENT,
    ALARM_INBOX,
    ALARM_RULE,
    ERROR_RATE_THRESHOLD,
    MAX_METRICS_BUCKETS,
    METRICS_PERIODS,
    REALTIME,
    ROLLOUT_STATE,
    TIMES,
    TRAFFIC_RPS,
)
from sluice_cli.sandbox.demo.checks import shown
from sluice_cli.sandbox.demo.harness import Demo, queue_arn
from sluice_cli.sandbox.demo.rollout_watch import Observation, RolloutWatch, Variant, described_variants
from sluice_cli.sandbox.gaps.cloudwatch import MetricAlarmEvaluation
from sluice_cli.sandbox.report import (
    AlarmDatapoint,
    AlarmPeriod,
    ErrorRateBucket,
    RolloutTimeline,
    WeightSample,
)
from sluice_cli.sandbox.server import Sandbox
from sluice_cli.sandbox.traffic import SIMULATION_LABEL, TrafficSimulator

ALPHA = "\u03b1"  # a test's significance level


def time_compression(demo: Demo) -> str:
    scale = demo.sandbox.time_scale
    if scale == 1:
        return "Step Functions time runs in real time"
    bake = uploads.BAKE_SECONDS
    return (
        f"time compressed {TIMES}{1 / scale:.0f}: a {bake} s bake lasts {bake * scale:.1f} s of wall time, "
        "endpoint polls and retries likewise"
    )


def rollout_statuses(demo: Demo, rollout_id: str, since: int) -> list[str]:
    """The rollout's state changes as the SNS subscriber received them, in order."""
    return [
        n.status
        for n in demo.notified(ROLLOUT_STATE, since)
        if n.channel == "SNS" and n.detail.get("rollout_id") == rollout_id
    ]


def log_events(log: Sequence[Mapping[str, Any]]) -> list[str]:
    return [str(entry.get("event")) for entry in log]


def in_order(events: Sequence[str], expected: Sequence[str]) -> bool:
    """`expected` is a subsequence of `events` (other entries may come between)."""
    remaining = iter(events)
    return all(any(event == wanted for event in remaining) for wanted in expected)


def state_transitions(demo: Demo, execution_arn: str) -> dict[str, int]:
    """Step Functions state transitions of the execution, per phase: before the first step, each
    step (from its NextStep to the next), and after the last."""
    sfn = demo.client("stepfunctions")
    events = [
        event
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
        for event in page["events"]
    ]
    entered = [
        str(e.get("stateEnteredEventDetails", {}).get("name", ""))
        for e in events
        if str(e.get("type", "")).endswith("StateEntered")
    ]
    phases: dict[str, int] = {"setup": 0}
    phase = "setup"
    step = 0
    for name in entered:
        if name == "NextStep":
            step += 1
            phase = f"step {step}"
            phases[phase] = 0
        phases[phase] += 1
    if step:  # the last NextStep decides to promote (or roll back): that is the end, not a step
        phases["end"] = phases.pop(f"step {step}")
    phases["total"] = len(entered)
    return phases


def shown_transitions(transitions: Mapping[str, int]) -> str:
    """ "state transitions: setup 7 · step 1 8 · … · end 8 · total 47" (the demo's 4-step canary)."""
    return "state transitions: " + " · ".join(f"{phase} {count}" for phase, count in transitions.items())


def shown_sagemaker(demo: Demo, endpoint: str) -> str:
    """The endpoint's config, and the models and endpoint configs named after it (moto ignores
    NameContains: filtered here)."""
    sagemaker = demo.client("sagemaker")
    config = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    models = [
        m["ModelName"] for m in sagemaker.list_models()["Models"] if m["ModelName"].startswith(endpoint)
    ]
    configs = [
        c["EndpointConfigName"]
        for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]
        if c["EndpointConfigName"].startswith(endpoint)
    ]
    return (
        f"endpoint config {config}; models {shown(sorted(models))}; endpoint configs {shown(sorted(configs))}"
    )


def scaling_of(demo: Demo, endpoint: str) -> dict[str, tuple[int, int, float | None]]:
    """Application Auto Scaling of the endpoint: variant → (min, max, target of its policy)."""
    aas = demo.client("application-autoscaling")
    targets = aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    found: dict[str, tuple[int, int, float | None]] = {}
    for target in targets:
        resource = str(target["ResourceId"])
        if not resource.startswith(f"endpoint/{endpoint}/variant/"):
            continue
        policies = aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource)[
            "ScalingPolicies"
        ]
        values = [
            p["TargetTrackingScalingPolicyConfiguration"]["TargetValue"]
            for p in policies
            if p.get("TargetTrackingScalingPolicyConfiguration")
        ]
        found[resource.rsplit("/", 1)[-1]] = (
            int(target["MinCapacity"]),
            int(target["MaxCapacity"]),
            float(values[0]) if values else None,
        )
    return found


def shown_scaling(scaling: Mapping[str, tuple[int, int, float | None]]) -> list[str]:
    return [
        f"{variant}: min {low} max {high} target {'—' if target is None else f'{target:.0f}'}"
        for variant, (low, high, target) in sorted(scaling.items())
    ]


# -- SIMULATED traffic, alarm events and metrics, as a user reads them --------------------------------
def subscribe_to_alarm_events(demo: Demo) -> None:
    """An EventBridge rule of the user's: the real-time endpoint's alarm state changes → an SQS queue
    (how the demo learns when an alarm went to ALARM, as a user's tooling would)."""
    sqs, events = demo.client("sqs"), demo.client("events")
    demo.alarm_inbox_url = sqs.create_queue(QueueName=ALARM_INBOX)["QueueUrl"]
    pattern = {
        "source": ["aws.cloudwatch"],
        "detail-type": [ALARM_EVENT],
        "detail": {"alarmName": [{"prefix": f"sluice-{REALTIME}-"}]},
    }
    events.put_rule(Name=ALARM_RULE, EventPattern=json.dumps(pattern), State="ENABLED")
    events.put_targets(
        Rule=ALARM_RULE, Targets=[{"Id": "inbox", "Arn": queue_arn(sqs, demo.alarm_inbox_url)}]
    )
    demo.say(f'EventBridge: rule {ALARM_RULE} ("{ALARM_EVENT}" of sluice-{REALTIME}-*) → SQS {ALARM_INBOX}')


def start_traffic(
    demo: Demo,
    error_rates: Mapping[str, float],
    seed: int,
    *,
    latency_ms: Mapping[str, float] | None = None,
    endpoint: str = REALTIME,
    rps: float = TRAFFIC_RPS,
) -> TrafficSimulator:
    """SIMULATED traffic on an endpoint (the real-time one by default), labelled as such wherever it shows."""
    traffic = TrafficSimulator.in_sandbox(
        demo.sandbox,
        endpoint,
        rps=rps,
        error_rates=dict(error_rates),
        latency_ms=dict(latency_ms or {}),
        seed=seed,
    )
    line = Text("≈ ", style="bold yellow")
    line.append(traffic.describe(), style="yellow")
    demo.console.print(line)
    traffic.start()
    return traffic


def next_simulated_second(traffic: TrafficSimulator) -> float:
    """Where the next simulated second starts (epoch seconds): a change made now (`set`) applies from
    there, which may lie a little before the wall clock when the simulator's thread lags behind."""
    if not traffic.history:
        return time.time()
    return traffic.history[-1].timestamp.timestamp() + traffic.time_scale / 2


def show_traffic_totals(demo: Demo, traffic: TrafficSimulator) -> dict[str, dict[str, int]]:
    totals = {variant: dict(counts) for variant, counts in sorted(traffic.totals.items())}
    counted = ", ".join(
        f"{variant} {t['invocations']} invocations, {t['errors']} errors" for variant, t in totals.items()
    )
    demo.console.print(
        Text(
            f"≈ {SIMULATION_LABEL}: {traffic.simulated_seconds} simulated seconds; {counted}", style="yellow"
        )
    )
    return totals


@dataclass(frozen=True)
class AlarmTransition:
    """One "CloudWatch Alarm State Change" event, as the demo's SQS queue received it."""

    alarm: str
    state: str
    previous: str
    reason: str
    at: datetime  # detail.state.timestamp (UTC, milliseconds): when the alarm changed state


def alarm_transitions(demo: Demo, prefix: str) -> list[AlarmTransition]:
    demo.collect_alarm_events()
    found = []
    for event in demo.alarm_events:
        detail = event.get("detail") or {}
        state, previous = detail.get("state") or {}, detail.get("previousState") or {}
        name = str(detail.get("alarmName", ""))
        if event.get("detail-type") != ALARM_EVENT or not name.startswith(prefix):
            continue
        try:
            at = datetime.strptime(str(state.get("timestamp")), "%Y-%m-%dT%H:%M:%S.%f%z")
        except ValueError:
            continue
        found.append(
            AlarmTransition(
                name, str(state.get("value")), str(previous.get("value")), str(state.get("reason")), at
            )
        )
    return sorted(found, key=lambda t: t.at)


def alarm_periods(
    transitions: Sequence[AlarmTransition], began_at: float, ended: float | None
) -> list[AlarmPeriod]:
    """ALARM → the next transition out of it, or else the end of the rollout (`ended`, seconds)."""
    periods = []
    open_: dict[str, AlarmTransition] = {}
    for transition in transitions:
        seconds = transition.at.timestamp() - began_at
        if transition.state == "ALARM" and transition.alarm not in open_:
            open_[transition.alarm] = transition
        elif transition.state != "ALARM" and transition.alarm in open_:
            start = open_.pop(transition.alarm)
            periods.append(
                AlarmPeriod(
                    transition.alarm, start.at.timestamp() - began_at, seconds, start.reason, transition.state
                )
            )
    for name, start in open_.items():
        periods.append(
            AlarmPeriod(
                name, start.at.timestamp() - began_at, ended, start.reason, "rolled back" if ended else ""
            )
        )
    return sorted(periods, key=lambda p: p.start)


def metrics_period(seconds: float) -> int:
    """The report's bucket for a rollout of `seconds`: at most MAX_METRICS_BUCKETS of them."""
    return next((p for p in METRICS_PERIODS if seconds / p <= MAX_METRICS_BUCKETS), METRICS_PERIODS[-1])


def read_error_rates(
    demo: Demo, endpoint: str, variants: Sequence[str], began_at: float, until: float
) -> dict[str, list[ErrorRateBucket]]:
    """GetMetricData, per variant and `metrics_period`: Sum of Invocation5XXErrors and of Invocations (the
    SIMULATED traffic's metrics, read back as any CloudWatch user would)."""
    period = metrics_period(until - began_at)
    queries = []
    for i, variant in enumerate(variants):
        dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
        for prefix, metric in (("errors", "Invocation5XXErrors"), ("calls", "Invocations")):
            queries.append(
                {
                    "Id": f"{prefix}{i}",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/SageMaker",
                            "MetricName": metric,
                            "Dimensions": dimensions,
                        },
                        "Period": period,
                        "Stat": "Sum",
                    },
                    "ReturnData": True,
                }
            )
    values: dict[str, dict[float, float]] = {}
    kwargs: dict[str, Any] = {
        "MetricDataQueries": queries,
        "StartTime": datetime.fromtimestamp(began_at - period, UTC),
        "EndTime": datetime.fromtimestamp(until + period, UTC),
    }
    cloudwatch = demo.client("cloudwatch")
    while True:
        response = cloudwatch.get_metric_data(**kwargs)
        for result in response["MetricDataResults"]:
            series = values.setdefault(str(result["Id"]), {})
            for moment, value in zip(result["Timestamps"], result["Values"], strict=True):
                series[moment.timestamp()] = series.get(moment.timestamp(), 0.0) + float(value)
        if not response.get("NextToken"):
            break
        kwargs["NextToken"] = response["NextToken"]
    rates: dict[str, list[ErrorRateBucket]] = {}
    for i, variant in enumerate(variants):
        calls, errors = values.get(f"calls{i}", {}), values.get(f"errors{i}", {})
        rates[variant] = [
            ErrorRateBucket(start - began_at, period, calls[start], errors.get(start, 0.0))
            for start in sorted(calls)
            if calls[start]
        ]
    return rates


def judged_alarm_datapoints(sandbox: Sandbox, alarm: str, began_at: float) -> list[AlarmDatapoint]:
    """The alarm's datapoints as the sandbox's CloudWatch judged them, one per alarm period (on its
    period boundaries), in seconds since `began_at`. AWS shows the same series as the alarm's graph
    (GetMetricData with its Metrics and Period), which cannot be asked for a compressed period."""
    try:
        judged = sandbox.gaps.get(MetricAlarmEvaluation).judged.of(alarm)
    except KeyError:  # a sandbox without alarm evaluation
        return []
    return [
        AlarmDatapoint(
            point.start - began_at, point.seconds, point.value, point.breaching, point.judged_at - began_at
        )
        for point in judged
        if point.end > began_at
    ]


def rollout_timeline(
    demo: Demo,
    watch: RolloutWatch,
    rollout: Mapping[str, Any],
    log: Sequence[Mapping[str, Any]],
    **details: Any,
) -> RolloutTimeline:
    """What the report shows of one rollout: the watch's DescribeEndpoint samples, the decision log,
    the candidate's error-rate alarm as judged."""
    samples = [
        WeightSample(o.seconds, {v.name: v.percent for v in o.variants if v.percent is not None})
        for o in watch.changes
    ]
    error_alarm = alarm_names(watch.endpoint, watch.version)[0]
    return RolloutTimeline(
        endpoint=watch.endpoint,
        version=watch.version,
        uploaded_at=datetime.fromtimestamp(watch.began_at, UTC),
        status=str(rollout.get("status") or "—"),
        reason=str(rollout.get("reason") or ""),
        rollout_id=str(rollout.get("rollout_id") or ""),
        decisions=[dict(entry) for entry in log],
        samples=samples,
        error_threshold=ERROR_RATE_THRESHOLD,
        alarm_datapoints=judged_alarm_datapoints(demo.sandbox, error_alarm, watch.began_at),
        alarm_name=error_alarm,
        alarm_period=ALARM_PERIOD_SECONDS,
        time_scale=demo.sandbox.time_scale,
        **details,
    )


def log_seconds(log: Sequence[Mapping[str, Any]], event: str, began_at: float) -> float | None:
    """Seconds since the upload of the first `event` of the decision log."""
    for entry in log:
        if entry.get("event") == event:
            try:
                return datetime.fromisoformat(str(entry.get("at"))).timestamp() - began_at
            except ValueError:
                return None
    return None


_DATAPOINT = re.compile(r"^Threshold Crossed: \d+ out of the last \d+ datapoints? \[([-+0-9.eE]+) \(")


def breaching_value(reason: str) -> float | None:
    """The newest breaching datapoint named by an evaluator's reason ("… datapoints [0.0833 (…)] …")."""
    match = _DATAPOINT.match(reason)
    return float(match.group(1)) if match else None


def shown_totals(totals: Mapping[str, Mapping[str, int]]) -> str:
    return "; ".join(f"{v} {t['invocations']} invocations, {t['errors']} errors" for v, t in totals.items())


def show_history(demo: Demo, title: str, log: Sequence[Mapping[str, Any]]) -> None:
    """A rollout's decision log as `sluice history` shows it: time, event, reason."""
    table = Table(title=title, title_justify="left", title_style="bold magenta")
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("reason", overflow="fold")
    for entry in log:
        at = str(entry.get("at", ""))
        try:
            time_shown = datetime.fromisoformat(at).strftime("%H:%M:%S.%f")[:-3]
        except ValueError:
            time_shown = at
        event = str(entry.get("event", ""))
        style = "bold red" if event == "alarm fired" else "bold" if event.startswith("rolled") else ""
        table.add_row(time_shown, Text(event, style=style), str(entry.get("reason", "")))
    demo.console.print(table)


def shown_ms(latencies: Mapping[str, float]) -> str:
    return ", ".join(f"{variant} {ms:g} ms" for variant, ms in latencies.items())


# -- the canary analysis, read from the decision log ------------------------------------------------
def analysis_entries(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The decision log's looks ("analysis pass|fail|inconclusive"), oldest first."""
    return [e for e in log if str(e.get("event", "")).startswith("analysis ")]


def shown_errors(record: Mapping[str, Any]) -> str:
    errors = record.get("errors")
    if not isinstance(errors, Mapping):
        return "errors not judged"

    def one(name: str) -> str:
        counts = errors.get(name) or {}
        return f"{name} {counts.get('errors')}/{counts.get('invocations')}"

    tested = f"p = {errors.get('p_value')} ({ALPHA} {errors.get('alpha')})"
    return f"errors {one('candidate')} vs {one('baseline')}, {tested}"


def shown_latency(record: Mapping[str, Any]) -> str:
    latency = record.get("latency")
    if not isinstance(latency, Mapping):
        return "latency not judged"
    return (
        f"latency: the baseline's p{latency.get('percentile'):g} ≤ {latency.get('baseline_ms')} ms "
        f"({latency.get('baseline_rank')}), threshold {latency.get('threshold_ms')} ms (+"
        f"{100 * float(latency.get('tolerance') or 0):g} %); {latency.get('candidate_slower')} of the "
        f"candidate's {latency.get('candidate_samples')} requests slower (at most "
        f"{100 * float(latency.get('allowed_share') or 0):g} % allowed), p = {latency.get('p_value')} "
        f"({ALPHA} {latency.get('alpha')})"
    )


def show_looks(demo: Demo, log: list[dict[str, Any]]) -> None:
    """One line per look: its step, how far into the bake, the verdict and its numbers."""
    for entry in analysis_entries(log):
        record = entry.get("analysis") or {}
        outcome = str(record.get("outcome", "?"))
        style = {"pass": "bold green", "fail": "bold red"}.get(outcome, "bold yellow")
        line = Text(f"🔎 analysis {outcome}", style=style)
        line.append(
            f"  step {record.get('step')}, look {record.get('look')}, {record.get('baked_seconds')} s into "
            f"the bake: "
        )
        if record.get("errors") is None:
            line.append(str(record.get("reason", "")))
        else:
            line.append(f"{shown_errors(record)}; {shown_latency(record)}")
        demo.console.print(line)


# -- a canary rollout, run and read ---------------------------------------------------------------------
@dataclass(frozen=True)
class CanaryRun:
    """One canary rollout as the user lived it: the watch, where it ended, the Step Functions execution,
    and the SIMULATED traffic it ran under (stopped, its totals shown)."""

    watch: RolloutWatch
    ended: Observation
    execution: dict[str, Any]
    until: float  # the wall clock once the rollout ended: the metrics are read up to here
    traffic: TrafficSimulator
    totals: dict[str, dict[str, int]]
    back: Observation | None = None  # a rollback: the first observation with the baseline at 100 %
    spike: float | None = None  # an error spike: when it began, seconds since the upload


@dataclass(frozen=True)
class RolloutOutcome:
    """What the user reads once a rollout ended: its record and decision log, DescribeEndpoint's
    variants, the endpoint's autoscaling, and the variants' error rates from CloudWatch."""

    rollout: dict[str, Any]
    log: list[dict[str, Any]]
    final: tuple[Variant, ...]
    scaling: dict[str, tuple[int, int, float | None]]
    error_rates: dict[str, list[ErrorRateBucket]]

    @property
    def rollout_id(self) -> str:
        return str(self.rollout.get("rollout_id", ""))

    @property
    def events(self) -> list[str]:
        return log_events(self.log)

    @property
    def weights_set(self) -> list[Any]:
        return [entry.get("weights") for entry in self.log if entry.get("event") == "weights set"]

    def first(self, event: str) -> dict[str, Any]:
        """The decision log's first `event` entry ({} when there is none)."""
        return next((entry for entry in self.log if entry.get("event") == event), {})


def read_outcome(demo: Demo, run: CanaryRun, baseline: str) -> RolloutOutcome:
    """The rollout record the watch ended on, its decision log, and what SageMaker, Application Auto
    Scaling and CloudWatch say of the endpoint now."""
    rollout = dict(run.ended.rollout)
    rollout_id = str(rollout.get("rollout_id", ""))
    candidate = run.watch.version
    described = demo.client("sagemaker").describe_endpoint(EndpointName=run.watch.endpoint)
    return RolloutOutcome(
        rollout=rollout,
        log=demo.history(run.watch.endpoint, rollout_id) if rollout_id else [],
        final=described_variants(described, candidate),
        scaling=scaling_of(demo, run.watch.endpoint),
        error_rates=read_error_rates(
            demo, run.watch.endpoint, [candidate, baseline], run.watch.began_at, run.until
        ),
    )
