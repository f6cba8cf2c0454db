"""Step 9: a real-time endpoint made by the user at v1, then v2 promoted step by step under healthy
SIMULATED traffic, its alarms quiet."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from sluice.adapters.rollouts import rollout_pk
from sluice_cli.sandbox import seed
from sluice_cli.sandbox.demo import uploads
from sluice_cli.sandbox.demo.canary_observation import (
    AlarmTransition,
    CanaryRun,
    RolloutOutcome,
    alarm_periods,
    alarm_transitions,
    analysis_entries,
    in_order,
    log_seconds,
    read_outcome,
    rollout_statuses,
    rollout_timeline,
    show_looks,
    show_traffic_totals,
    shown_sagemaker,
    shown_scaling,
    shown_totals,
    shown_transitions,
    start_traffic,
    state_transitions,
    subscribe_to_alarm_events,
    time_compression,
)
from sluice_cli.sandbox.demo.cast import (
    AUTOSCALING_TARGET,
    DEPLOY_JSON_KEY,
    IMAGE,
    REALTIME,
    REALTIME_INSTANCES,
    ROLLOUT_STATE,
    V2_ERROR_RATES,
    V2_STATES,
    model_key,
)
from sluice_cli.sandbox.demo.checks import Checks, shown
from sluice_cli.sandbox.demo.harness import Demo
from sluice_cli.sandbox.demo.rollout_watch import RolloutWatch, shown_percent, watch_until_ended
from sluice_cli.sandbox.report import RolloutTimeline
from sluice_cli.sandbox.traffic import SIMULATION_LABEL


def create_realtime_endpoint(demo: Demo) -> None:
    """The user's production endpoint at v1 (two instances, autoscaled), made with plain APIs."""
    model = f"{REALTIME}-v1"
    seed.create_realtime_endpoint(demo, demo.bucket, REALTIME, "v1", REALTIME_INSTANCES, autoscaling=True)
    demo.say(f"SageMaker: CreateModel {model} ({IMAGE.split('/', 1)[1]})")
    demo.say(
        f"SageMaker: CreateEndpointConfig {model} (variant v1, ml.m5.large x {REALTIME_INSTANCES}), "
        f"CreateEndpoint {REALTIME}"
    )
    resource = f"endpoint/{REALTIME}/variant/v1"
    demo.say(
        f"Application Auto Scaling: {resource} min {seed.AUTOSCALING_MIN} max {seed.AUTOSCALING_MAX}, "
        f"target tracking {seed.AUTOSCALING_TARGET:.0f} invocations/instance/min"
    )


@dataclass(frozen=True)
class Promotion:
    """What step 9 observed: v2's rollout and its outcome, the rollouts before it (none), the Step
    Functions state transitions per phase, and the state changes of v2's alarms."""

    run: CanaryRun
    outcome: RolloutOutcome
    before: list[dict[str, Any]]
    transitions: dict[str, int]
    alarm_changes: list[AlarmTransition]


def canary_v2(demo: Demo, checks: Checks) -> None:
    """Step 9: v2 uploaded under healthy SIMULATED traffic → weights 10/25/50/100 % with a bake each,
    its alarms quiet, then v2 alone, autoscaled."""
    create_realtime_endpoint(demo)
    subscribe_to_alarm_events(demo)
    before = upload_deploy_json(demo)
    seen = len(demo.notifications)
    run = roll_out_v2_under_healthy_traffic(demo)
    demo.expected_notifications[ROLLOUT_STATE] += len(V2_STATES)
    demo.facts.setdefault("rollout_states", []).extend(V2_STATES)
    promotion = read_promotion(demo, run, before)
    show_promotion(demo, promotion)
    check_v2_promoted_step_by_step(checks, promotion)
    check_v2_decisions_traffic_and_notices(demo, checks, promotion, seen)
    record_promotion(demo, checks, promotion)


def upload_deploy_json(demo: Demo) -> list[dict[str, Any]]:
    """The endpoint's deploy.json alone: no rollout yet (returns the endpoint's rollout records)."""
    demo.upload(
        DEPLOY_JSON_KEY,
        uploads.deploy_json(),
        f"rollout steps 10/25/50/100 %, {uploads.BAKE_SECONDS} s bakes, the canary analysis on (defaults)",
    )
    demo.say(json.dumps(json.loads(uploads.deploy_json())))
    demo.settle()
    before = demo.records_with_pk(rollout_pk(REALTIME))
    demo.say(f"registry: rollouts of {REALTIME} after deploy.json alone: {len(before)}")
    demo.say(time_compression(demo))
    return before


def roll_out_v2_under_healthy_traffic(demo: Demo) -> CanaryRun:
    """Upload v2 under healthy SIMULATED traffic and watch it until it is promoted."""
    traffic = start_traffic(demo, V2_ERROR_RATES, seed=9)
    try:
        watch = RolloutWatch(demo, REALTIME, "v2")
        demo.upload(model_key(REALTIME, "v2"), uploads.model_archive("realtime-v2"), "model v2")
        watch.observe()
        ended, execution = watch_until_ended(demo, watch, "PROMOTED")
        until = time.time()
    finally:
        traffic.stop()
    totals = show_traffic_totals(demo, traffic)
    demo.settle()
    return CanaryRun(watch, ended, execution, until, traffic, totals)


def read_promotion(demo: Demo, run: CanaryRun, before: list[dict[str, Any]]) -> Promotion:
    execution_arn = str(run.execution["executionArn"]) if run.execution else ""
    return Promotion(
        run=run,
        outcome=read_outcome(demo, run, baseline="v1"),
        before=before,
        transitions=state_transitions(demo, execution_arn) if execution_arn else {},
        alarm_changes=alarm_transitions(demo, f"sluice-{REALTIME}-v2-"),
    )


def show_promotion(demo: Demo, promotion: Promotion) -> None:
    outcome, execution = promotion.outcome, promotion.run.execution
    demo.say(f"SageMaker: DescribeEndpoint {REALTIME} → {' · '.join(str(v) for v in outcome.final)}")
    demo.say(f"Application Auto Scaling: {shown(shown_scaling(outcome.scaling))}")
    demo.say(f"SageMaker: {shown_sagemaker(demo, REALTIME)}")
    demo.say(
        f"Step Functions: execution {execution.get('status', '—')}; "
        f"{shown_transitions(promotion.transitions)}"
    )
    demo.say(f"decision log: {' → '.join(outcome.events)}")
    show_looks(demo, outcome.log)
    demo.say(
        "v2 equals v1 (the same SIMULATED latency, no errors): the canary analysis found no regression at "
        "any analysed step (10/25/50 %); at 100 % there is no baseline traffic to compare with, the alarms "
        "alone judge the step"
    )
    demo.say(
        f"CloudWatch: state changes of v2's alarms while it rolled out: "
        f"{shown([f'{t.alarm} {t.previous} → {t.state}' for t in promotion.alarm_changes])}"
    )


def check_v2_promoted_step_by_step(checks: Checks, promotion: Promotion) -> None:
    """Promoted through every step of deploy.json, seen on DescribeEndpoint and in the decision log."""
    outcome = promotion.outcome
    checks.equal("rollouts after deploy.json alone", len(promotion.before), 0)
    checks.equal("rollout status", outcome.rollout.get("status"), "PROMOTED")
    checks.equal(
        "v2 share observed (DescribeEndpoint)",
        [shown_percent(p) for p in promotion.run.watch.shares()],
        [str(p) for p in uploads.ROLLOUT_STEPS],
    )
    checks.equal(
        "weights set (decision log)",
        outcome.weights_set,
        [{"v2": p, "v1": 100 - p} for p in uploads.ROLLOUT_STEPS],
    )
    checks.equal(
        "final variants", [str(v) for v in outcome.final], [f"v2 100 % ({REALTIME_INSTANCES} instances)"]
    )
    checks.equal(
        "autoscaling",
        shown_scaling(outcome.scaling),
        [f"v2: min 2 max 6 target {AUTOSCALING_TARGET:.0f}"],
    )


def check_v2_decisions_traffic_and_notices(
    demo: Demo, checks: Checks, promotion: Promotion, seen: int
) -> None:
    """The decision log in order, v2 served traffic, its alarms stayed quiet, the subscribers were told."""
    outcome, run = promotion.outcome, promotion.run
    analysed = ["weights set", "baking", "analysis pass", "bake passed"]
    per_step = analysed * (len(uploads.ROLLOUT_STEPS) - 1) + ["weights set", "baking", "bake passed"]
    expected_log = [
        "received",
        "started",
        "candidate added",
        "alarms armed",
        *per_step,
        "promoting",
        "promoted",
    ]
    events = outcome.events
    times = [str(entry.get("at", "")) for entry in outcome.log]
    checks.that(
        "decision log in order",
        " → ".join(dict.fromkeys(expected_log))
        + " (each step: weights set, baking, [analysis pass,] bake passed)",
        f"{len(events)} entries, " + ("in order" if in_order(events, expected_log) else " → ".join(events)),
        in_order(events, expected_log) and times == sorted(times),
    )
    served = run.totals.get("v2", {}).get("invocations", 0)
    baseline_served = run.totals.get("v1", {}).get("invocations", 0)
    checks.that(
        f"v2 baked under {SIMULATION_LABEL}",
        "invocations on v2 and on v1, in CloudWatch too",
        f"v2 {served}, v1 {baseline_served} invocations; GetMetricData periods "
        f"v2 {len(outcome.error_rates['v2'])}, v1 {len(outcome.error_rates['v1'])}",
        served > 0 and baseline_served > 0 and bool(outcome.error_rates["v2"]),
    )
    looks = [(e.get("analysis") or {}) for e in analysis_entries(outcome.log)]
    passed_steps = sorted({int(r.get("step", 0)) for r in looks if r.get("outcome") == "pass"})
    analysed_steps = list(range(1, len(uploads.ROLLOUT_STEPS)))
    checks.that(
        "canary analysis (decision log)",
        f"a pass at steps {shown(analysed_steps)}, no fail",
        ", ".join(f"step {r.get('step')} {r.get('outcome')}" for r in looks) or "no looks",
        passed_steps == analysed_steps and all(r.get("outcome") != "fail" for r in looks),
    )
    went = [t.alarm for t in promotion.alarm_changes if t.state == "ALARM"]
    checks.equal("v2's alarms in ALARM (EventBridge)", went, [])
    checks.equal("execution status", run.execution.get("status"), "SUCCEEDED")
    notified = rollout_statuses(demo, outcome.rollout_id, seen)
    checks.equal("notified rollout states (SNS)", notified, list(V2_STATES))


def record_promotion(demo: Demo, checks: Checks, promotion: Promotion) -> None:
    """The step's facts, the state transitions for the closing note, and v2's timeline for the report."""
    outcome, run = promotion.outcome, promotion.run
    checks.facts.update(
        status=outcome.rollout.get("status"),
        rollout_id=outcome.rollout_id,
        shares=run.watch.shares(),
        weights_set=outcome.weights_set,
        final_variants=[(v.name, v.percent, v.instances) for v in outcome.final],
        autoscaling=outcome.scaling,
        events=outcome.events,
        state_transitions=promotion.transitions,
        traffic=run.totals,
        alarm_transitions=[(t.alarm, t.previous, t.state) for t in promotion.alarm_changes],
        looks=[
            ((e.get("analysis") or {}).get("step"), (e.get("analysis") or {}).get("outcome"))
            for e in analysis_entries(outcome.log)
        ],
    )
    demo.facts["v2_state_transitions"] = promotion.transitions
    demo.timelines.append(promotion_timeline(demo, promotion))


def promotion_timeline(demo: Demo, promotion: Promotion) -> RolloutTimeline:
    outcome, run = promotion.outcome, promotion.run
    began_at = run.watch.began_at
    promoted = log_seconds(outcome.log, "promoted", began_at)
    timings = {
        "upload → candidate added": log_seconds(outcome.log, "candidate added", began_at),
        "upload → first weights set": log_seconds(outcome.log, "weights set", began_at),
        "upload → promoted": promoted,
    }
    return rollout_timeline(
        demo,
        run.watch,
        outcome.rollout,
        outcome.log,
        error_rates=outcome.error_rates,
        alarms=alarm_periods(promotion.alarm_changes, began_at, promoted),
        timings={label: seconds for label, seconds in timings.items() if seconds is not None},
        traffic=run.traffic.describe(),
        notes=[
            f"{SIMULATION_LABEL}: {shown_totals(run.totals)}.",
            "The candidate's alarms stayed quiet: no state change to ALARM.",
            "The canary analysis passed v2 at every analysed step (10/25/50 %): no regression found.",
        ],
    )
