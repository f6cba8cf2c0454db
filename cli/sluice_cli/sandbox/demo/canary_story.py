"""Steps 9 and 10: a real-time endpoint at v1, v2 promoted step by step under healthy SIMULATED traffic,
v3 rolled back when its error-rate alarm fires from the metric data."""

from __future__ import annotations

import json
import time

from rich.text import Text

from sluice.adapters.rollouts import rollout_pk
from sluice_cli.sandbox import seed
from sluice_cli.sandbox.demo import uploads
from sluice_cli.sandbox.demo.canary_observation import (
    alarm_periods,
    alarm_transitions,
    breaching_value,
    in_order,
    log_events,
    log_seconds,
    next_simulated_second,
    read_error_rates,
    rollout_statuses,
    rollout_timeline,
    scaling_of,
    show_history,
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
    ALARM_EVENT,
    AUTOSCALING_TARGET,
    DEPLOY_JSON_KEY,
    ERROR_RATE_THRESHOLD,
    IMAGE,
    REALTIME,
    REALTIME_INSTANCES,
    ROLLOUT_STATE,
    SIMULATED_ALARM_REASON,
    V2_ERROR_RATES,
    V2_STATES,
    V3_CALM_ERROR_RATES,
    V3_ERROR_RATES,
    alarm_name,
    model_key,
    rolled_back_states,
)
from sluice_cli.sandbox.demo.checks import Checks, shown
from sluice_cli.sandbox.demo.harness import Demo
from sluice_cli.sandbox.demo.rollout_watch import (
    RolloutWatch,
    described_variants,
    shown_percent,
    watch_until_ended,
)
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


# -- the canary story ----------------------------------------------------------------------------------
def canary_v2(demo: Demo, checks: Checks) -> None:
    """Step 9: v2 uploaded under healthy SIMULATED traffic → weights 10/25/50/100 % with a bake each,
    its alarms quiet, then v2 alone, autoscaled."""
    create_realtime_endpoint(demo)
    subscribe_to_alarm_events(demo)
    demo.upload(DEPLOY_JSON_KEY, uploads.deploy_json(), "rollout steps 10/25/50/100 %, 300 s bakes")
    demo.say(json.dumps(json.loads(uploads.deploy_json())))
    demo.settle()
    before = demo.records_with_pk(rollout_pk(REALTIME))
    demo.say(f"registry: rollouts of {REALTIME} after deploy.json alone: {len(before)}")
    demo.say(time_compression(demo))

    seen = len(demo.notifications)
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
    demo.expected_notifications[ROLLOUT_STATE] += len(V2_STATES)

    rollout = dict(ended.rollout)
    rollout_id = str(rollout.get("rollout_id", ""))
    log = demo.history(REALTIME, rollout_id) if rollout_id else []
    weights_set = [entry.get("weights") for entry in log if entry.get("event") == "weights set"]
    final = described_variants(demo.client("sagemaker").describe_endpoint(EndpointName=REALTIME), "v2")
    scaling = scaling_of(demo, REALTIME)
    transitions = state_transitions(demo, str(execution["executionArn"])) if execution else {}
    alarm_changes = alarm_transitions(demo, f"sluice-{REALTIME}-v2-")
    error_rates = read_error_rates(demo, REALTIME, ["v2", "v1"], watch.began_at, until)
    demo.say(f"SageMaker: DescribeEndpoint {REALTIME} → {' · '.join(str(v) for v in final)}")
    demo.say(f"Application Auto Scaling: {shown(shown_scaling(scaling))}")
    demo.say(f"SageMaker: {shown_sagemaker(demo, REALTIME)}")
    demo.say(f"Step Functions: execution {execution.get('status', '—')}; {shown_transitions(transitions)}")
    demo.say(f"decision log: {' → '.join(log_events(log))}")
    demo.say(
        f"CloudWatch: state changes of v2's alarms while it rolled out: "
        f"{shown([f'{t.alarm} {t.previous} → {t.state}' for t in alarm_changes])}"
    )

    shares = watch.shares()
    checks.equal("rollouts after deploy.json alone", len(before), 0)
    checks.equal("rollout status", rollout.get("status"), "PROMOTED")
    checks.equal(
        "v2 share observed (DescribeEndpoint)",
        [shown_percent(p) for p in shares],
        [str(p) for p in uploads.ROLLOUT_STEPS],
    )
    checks.equal(
        "weights set (decision log)",
        weights_set,
        [{"v2": p, "v1": 100 - p} for p in uploads.ROLLOUT_STEPS],
    )
    checks.equal("final variants", [str(v) for v in final], [f"v2 100 % ({REALTIME_INSTANCES} instances)"])
    checks.equal(
        "autoscaling",
        shown_scaling(scaling),
        [f"v2: min 2 max 6 target {AUTOSCALING_TARGET:.0f}"],
    )
    per_step = ["weights set", "baking", "bake passed"] * len(uploads.ROLLOUT_STEPS)
    expected_log = [
        "received",
        "started",
        "candidate added",
        "alarms armed",
        *per_step,
        "promoting",
        "promoted",
    ]
    events = log_events(log)
    times = [str(entry.get("at", "")) for entry in log]
    checks.that(
        "decision log in order",
        " → ".join(dict.fromkeys(expected_log)) + " (each step: weights set, baking, bake passed)",
        f"{len(events)} entries, " + ("in order" if in_order(events, expected_log) else " → ".join(events)),
        in_order(events, expected_log) and times == sorted(times),
    )
    served = totals.get("v2", {}).get("invocations", 0)
    checks.that(
        f"v2 baked under {SIMULATION_LABEL}",
        "invocations on v2 and on v1, in CloudWatch too",
        f"v2 {served}, v1 {totals.get('v1', {}).get('invocations', 0)} invocations; "
        f"GetMetricData periods v2 {len(error_rates['v2'])}, v1 {len(error_rates['v1'])}",
        served > 0 and totals.get("v1", {}).get("invocations", 0) > 0 and bool(error_rates["v2"]),
    )
    checks.equal(
        "v2's alarms in ALARM (EventBridge)", [t.alarm for t in alarm_changes if t.state == "ALARM"], []
    )
    checks.equal("execution status", execution.get("status"), "SUCCEEDED")
    checks.equal("notified rollout states (SNS)", rollout_statuses(demo, rollout_id, seen), list(V2_STATES))
    checks.facts.update(
        status=rollout.get("status"),
        rollout_id=rollout_id,
        shares=shares,
        weights_set=weights_set,
        final_variants=[(v.name, v.percent, v.instances) for v in final],
        autoscaling=scaling,
        events=events,
        state_transitions=transitions,
        traffic=totals,
        alarm_transitions=[(t.alarm, t.previous, t.state) for t in alarm_changes],
    )
    demo.facts["v2_state_transitions"] = transitions
    promoted = log_seconds(log, "promoted", watch.began_at)
    demo.timelines.append(
        rollout_timeline(
            demo,
            watch,
            rollout,
            log,
            error_rates=error_rates,
            alarms=alarm_periods(alarm_changes, watch.began_at, promoted),
            timings={
                label: seconds
                for label, seconds in (
                    ("upload → candidate added", log_seconds(log, "candidate added", watch.began_at)),
                    ("upload → first weights set", log_seconds(log, "weights set", watch.began_at)),
                    ("upload → promoted", promoted),
                )
                if seconds is not None
            },
            traffic=traffic.describe(),
            notes=[
                f"{SIMULATION_LABEL}: {shown_totals(totals)}.",
                "The candidate's alarms stayed quiet: no state change to ALARM.",
            ],
        )
    )


ROLLING = frozenset({"ROLLING_BACK", "ROLLED_BACK"})
OTHER_ENDS = frozenset({"PROMOTED", "NEEDS_ATTENTION", "REFUSED"})


def canary_v3_rolled_back(demo: Demo, checks: Checks) -> None:
    """Step 10: v3 uploaded under SIMULATED traffic; once it bakes at 10 %, an error spike (8 %) on v3
    → its error-rate alarm fires from the metric data during that bake → 100 % v2 at once, v3 removed."""
    alarm = alarm_name(REALTIME, "v3")
    seen = len(demo.notifications)
    traffic = start_traffic(demo, V3_CALM_ERROR_RATES, seed=10)
    spike: float | None = None
    try:
        watch = RolloutWatch(demo, REALTIME, "v3")
        demo.upload(model_key(REALTIME, "v3"), uploads.model_archive("realtime-v3"), "model v3")
        baking = watch.until(
            lambda o: o.status == "BAKING" or o.status in ROLLING | OTHER_ENDS, "v3 baking at step 1"
        )
        if baking.status == "BAKING":
            traffic.set(error_rates=V3_ERROR_RATES)
            spike = next_simulated_second(traffic) - watch.began_at
            line = Text(f"≈ {SIMULATION_LABEL}: error spike on v3, ", style="bold yellow")
            line.append(
                f"error rates {shown(V3_ERROR_RATES)} from simulated second {traffic.simulated_seconds} on "
                f"({spike:.2f} s after the upload)"
            )
            demo.console.print(line)
        back = watch.until(
            lambda o: (
                o.status in OTHER_ENDS
                or (o.status in ROLLING and o.percent("v2") == 100.0 and not o.percent("v3"))
            ),
            "v2 back at 100 %",
            interval=0.02,
        )
        ended, execution = watch_until_ended(demo, watch, "ROLLED_BACK")
        until = time.time()
    finally:
        traffic.stop()
    totals = show_traffic_totals(demo, traffic)
    demo.settle()

    transitions = alarm_transitions(demo, alarm)
    went = next((t for t in transitions if t.alarm == alarm and t.state == "ALARM"), None)
    if went is not None:
        line = Text(f"⚡ {ALARM_EVENT} ", style="bold red")
        line.append(f"{alarm} {went.previous} → ALARM at {went.at:%H:%M:%S.%f}"[:-3])
        line.append(f" ({went.at.timestamp() - watch.began_at:.2f} s after the upload; from metric data)")
        demo.console.print(line)
        demo.console.print(Text(f"    “{went.reason}”", style="dim"))
    latency = back.at - went.at.timestamp() if went is not None and back.status in ROLLING else None
    if latency is not None:
        note = Text(f"⏱  alarm → 100 % baseline in {latency:.2f} s", style="bold green")
        note.append(" (the alarm's state change → DescribeEndpoint shows v2 at 100 %)", style="dim")
        demo.console.print(note)
        demo.facts["alarm_to_baseline_seconds"] = latency
    demo.console.print(
        Text(
            "    (a hand-set alarm rolls back the same way: aws cloudwatch set-alarm-state --alarm-name "
            f"{alarm_name(REALTIME, '<version>')} --state-value ALARM --state-reason '…')",
            style="dim",
        )
    )

    rollout = dict(ended.rollout)
    rollout_id = str(rollout.get("rollout_id", ""))
    log = demo.history(REALTIME, rollout_id) if rollout_id else []
    events = log_events(log)
    steps_reached = events.count("weights set")
    states = rolled_back_states(steps_reached)
    demo.expected_notifications[ROLLOUT_STATE] += len(states)
    demo.facts["v3_states"] = states
    show_history(demo, f"sluice history {REALTIME} (rollout {rollout_id}, from its decision log)", log)
    final = described_variants(demo.client("sagemaker").describe_endpoint(EndpointName=REALTIME), "v3")
    scaling = scaling_of(demo, REALTIME)
    models = [
        str(m["ModelName"])
        for m in demo.client("sagemaker").list_models()["Models"]
        if str(m["ModelName"]).startswith(f"{REALTIME}-v3")
    ]
    cloudwatch = demo.client("cloudwatch")
    alarms_left = [
        str(a["AlarmName"])
        for a in cloudwatch.describe_alarms(AlarmNamePrefix=f"sluice-{REALTIME}-v3")["MetricAlarms"]
    ]
    error_rates = read_error_rates(demo, REALTIME, ["v3", "v2"], watch.began_at, until)
    demo.say(f"SageMaker: DescribeEndpoint {REALTIME} → {' · '.join(str(v) for v in final)}")
    demo.say(
        f"SageMaker: models of v3 left: {shown(models)}; CloudWatch: alarms of v3 left: {shown(alarms_left)}"
    )
    demo.say(f"Application Auto Scaling: {shown(shown_scaling(scaling))}")
    demo.say(f"SageMaker: {shown_sagemaker(demo, REALTIME)}")
    demo.say(f"Step Functions: execution {execution.get('status', '—')} (the RolledBack state is a Fail)")

    fired = [entry for entry in log if entry.get("event") == "alarm fired"]
    fired_entry = fired[0] if fired else {}
    before_alarm = events[: events.index("alarm fired")] if "alarm fired" in events else events
    last_weights = [
        e.get("weights") or {} for e in log[: len(before_alarm)] if e.get("event") == "weights set"
    ]
    at_alarm = float((last_weights[-1] if last_weights else {}).get("v3", 0) or 0)
    phase = [e for e in before_alarm if e in {"weights set", "baking", "bake passed"}]
    shares = watch.shares()
    checks.that(
        "when v3's alarm fired",
        "during the bake of step 1 or 2 (v3 10 or 25 %), never 50 %",
        f"{phase[-1] if phase else '—'}, step {len(last_weights)}, v3 {shown_percent(at_alarm)} %; "
        f"v3 observed {shown([shown_percent(p) for p in shares])} %",
        bool(phase)
        and phase[-1] == "baking"
        and at_alarm in (10.0, 25.0)
        and bool(shares)
        and max(shares) <= 25.0,
    )
    reason_value = breaching_value(went.reason) if went else None
    checks.that(
        "alarm from metric data (EventBridge event)",
        f"{alarm} OK → ALARM, “Threshold Crossed: … datapoints [> 0.01 …] … threshold (0.01)”",
        f"{went.alarm} {went.previous} → {went.state}, “{went.reason}”" if went else "no ALARM event",
        went is not None
        and went.previous == "OK"
        and reason_value is not None
        and reason_value > ERROR_RATE_THRESHOLD
        and f"was greater than the threshold ({ERROR_RATE_THRESHOLD})" in went.reason
        and went.reason != SIMULATED_ALARM_REASON,
    )
    checks.that(
        "alarm → 100 % baseline",
        "measured (seconds)",
        "—" if latency is None else f"{latency:.2f} s",
        latency is not None and latency > 0,
    )
    checks.equal("rollout status", rollout.get("status"), "ROLLED_BACK")
    checks.equal("alarm in the rollout record", rollout.get("alarm"), alarm)
    reason = str(rollout.get("reason", ""))
    checks.that(
        "reason in the rollout record",
        "… the evaluator's reason (as in the event)",
        reason,
        went is not None and went.reason in reason,
    )
    checks.that(
        "alarm fired (decision log)",
        f"{alarm}: … the evaluator's reason",
        f"{fired_entry.get('alarm', '—')}: {fired_entry.get('reason', '—')}",
        fired_entry.get("alarm") == alarm
        and went is not None
        and went.reason in str(fired_entry.get("reason", "")),
    )
    expected_log = ["weights set", "alarm fired", "rolling back", "rolled back"]
    checks.that(
        "decision log in order",
        " → ".join(expected_log) + ", at most one bake passed, no promotion",
        " → ".join(events),
        in_order(events, expected_log) and events.count("bake passed") <= 1 and "promoting" not in events,
    )
    checks.that(
        f"v3 served {SIMULATION_LABEL}, with errors",
        "v3 errors > 0; v2 served too",
        shown_totals(totals),
        totals.get("v3", {}).get("errors", 0) > 0 and totals.get("v2", {}).get("invocations", 0) > 0,
    )
    checks.equal("final variants", [str(v) for v in final], [f"v2 100 % ({REALTIME_INSTANCES} instances)"])
    checks.equal("v3 models and alarms left", [*models, *alarms_left], [])
    checks.equal("autoscaling", shown_scaling(scaling), [f"v2: min 2 max 6 target {AUTOSCALING_TARGET:.0f}"])
    checks.equal("notified rollout states (SNS)", rollout_statuses(demo, rollout_id, seen), list(states))
    checks.facts.update(
        status=rollout.get("status"),
        rollout_id=rollout_id,
        alarm=rollout.get("alarm"),
        reason=reason,
        alarm_fired=dict(fired_entry),
        alarm_event=None
        if went is None
        else {"alarm": went.alarm, "previous": went.previous, "state": went.state, "reason": went.reason},
        share_at_alarm=at_alarm,
        phase_at_alarm=phase[-1] if phase else None,
        spike_seconds=spike,
        shares=shares,
        final_variants=[(v.name, v.percent, v.instances) for v in final],
        events=events,
        traffic=totals,
        alarm_to_baseline_seconds=latency,
    )
    rolled_back = log_seconds(log, "rolled back", watch.began_at)
    timings = {
        "upload → first weights set": log_seconds(log, "weights set", watch.began_at),
        "upload → alarm in ALARM (event)": None if went is None else went.at.timestamp() - watch.began_at,
        "upload → alarm fired (decision log)": log_seconds(log, "alarm fired", watch.began_at),
        "upload → v2 at 100 % (DescribeEndpoint)": back.seconds if latency is not None else None,
        "alarm → 100 % baseline": latency,
        "upload → rolled back": rolled_back,
    }
    demo.timelines.append(
        rollout_timeline(
            demo,
            watch,
            rollout,
            log,
            error_rates=error_rates,
            alarms=alarm_periods(transitions, watch.began_at, rolled_back),
            timings={label: seconds for label, seconds in timings.items() if seconds is not None},
            traffic=traffic.describe(),
            annotations=[] if spike is None else [(spike, "SIMULATED error spike on v3")],
            notes=[
                f"{SIMULATION_LABEL}: error rates {shown(V3_CALM_ERROR_RATES)} until v3 baked at 10 %, "
                f"then {shown(V3_ERROR_RATES)} (from {spike or 0:.2f} s); {shown_totals(totals)}.",
                f"The alarm went to ALARM from metric data: “{went.reason}”" if went else "No ALARM event.",
            ],
        )
    )
