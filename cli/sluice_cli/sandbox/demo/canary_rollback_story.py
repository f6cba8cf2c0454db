"""Step 10: v3 under SIMULATED traffic, an error spike once it bakes, its error-rate alarm firing from the
metric data, and v2 back at 100 % at once."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text

from sluice_cli.sandbox.demo import uploads
from sluice_cli.sandbox.demo.canary_observation import (
    AlarmTransition,
    CanaryRun,
    RolloutOutcome,
    alarm_periods,
    alarm_transitions,
    breaching_value,
    in_order,
    log_seconds,
    next_simulated_second,
    read_outcome,
    rollout_statuses,
    rollout_timeline,
    show_history,
    show_traffic_totals,
    shown_sagemaker,
    shown_scaling,
    shown_totals,
    start_traffic,
)
from sluice_cli.sandbox.demo.cast import (
    ALARM_EVENT,
    AUTOSCALING_TARGET,
    ERROR_RATE_THRESHOLD,
    REALTIME,
    REALTIME_INSTANCES,
    ROLLOUT_STATE,
    SIMULATED_ALARM_REASON,
    V3_CALM_ERROR_RATES,
    V3_ERROR_RATES,
    alarm_name,
    model_key,
    rolled_back_states,
)
from sluice_cli.sandbox.demo.checks import Checks, shown
from sluice_cli.sandbox.demo.harness import Demo
from sluice_cli.sandbox.demo.rollout_watch import RolloutWatch, shown_percent, watch_until_ended
from sluice_cli.sandbox.report import RolloutTimeline
from sluice_cli.sandbox.traffic import SIMULATION_LABEL, TrafficSimulator

ROLLING = frozenset({"ROLLING_BACK", "ROLLED_BACK"})
OTHER_ENDS = frozenset({"PROMOTED", "NEEDS_ATTENTION", "REFUSED"})


@dataclass(frozen=True)
class AlarmToBaseline:
    """v3's alarm as its EventBridge events told it, and the time from its ALARM to v2 back at 100 %."""

    transitions: list[AlarmTransition]
    went: AlarmTransition | None  # the first transition to ALARM
    latency: float | None  # seconds from that transition to DescribeEndpoint showing v2 at 100 %


@dataclass(frozen=True)
class Rollback:
    """What step 10 observed: v3's rollout and its outcome, its alarm, what is left of v3, and the
    rollout states the subscribers should have been told."""

    alarm: str
    run: CanaryRun
    outcome: RolloutOutcome
    to_baseline: AlarmToBaseline
    models_left: list[str]
    alarms_left: list[str]
    states: tuple[str, ...]


def canary_v3_rolled_back(demo: Demo, checks: Checks) -> None:
    """Step 10: v3 uploaded under SIMULATED traffic; once it bakes at 10 %, an error spike (8 %) on v3
    → its error-rate alarm fires from the metric data during that bake → 100 % v2 at once, v3 removed."""
    alarm = alarm_name(REALTIME, "v3")
    seen = len(demo.notifications)
    run = roll_out_v3_with_an_error_spike(demo)
    to_baseline = show_alarm_to_baseline(demo, alarm, run)
    rollback = read_rollback(demo, alarm, run, to_baseline)
    show_rollback(demo, rollback)
    check_v3_alarm_fired_from_data(checks, rollback)
    check_v3_rolled_back_on_record(checks, rollback)
    check_v3_gone(demo, checks, rollback, seen)
    record_rollback(demo, checks, rollback)


def roll_out_v3_with_an_error_spike(demo: Demo) -> CanaryRun:
    """Upload v3 under calm SIMULATED traffic, spike its errors once it bakes, and watch it until v2 is
    back at 100 % and the rollout ended."""
    traffic = start_traffic(demo, V3_CALM_ERROR_RATES, seed=10)
    try:
        demo.upload(
            f"endpoints/{REALTIME}/v3/deploy.json",
            uploads.deploy_json(uploads.V3_BAKE_SECONDS, analysis=None),
            f"v3's own: {uploads.V3_BAKE_SECONDS} s bakes (the alarm ends the bake when it fires), "
            '"analysis": null - this rollout shows the alarm path alone (v4 shows the canary analysis)',
        )
        watch = RolloutWatch(demo, REALTIME, "v3")
        demo.upload(model_key(REALTIME, "v3"), uploads.model_archive("realtime-v3"), "model v3")
        spike = spike_errors_once_v3_bakes(demo, watch, traffic)
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
    return CanaryRun(watch, ended, execution, until, traffic, totals, back=back, spike=spike)


def spike_errors_once_v3_bakes(demo: Demo, watch: RolloutWatch, traffic: TrafficSimulator) -> float | None:
    """Once v3 bakes at step 1, the SIMULATED error spike on it; returns when the spike began (seconds
    since the upload), None if v3 never baked."""
    baking = watch.until(
        lambda o: o.status == "BAKING" or o.status in ROLLING | OTHER_ENDS, "v3 baking at step 1"
    )
    if baking.status != "BAKING":
        return None
    traffic.set(error_rates=V3_ERROR_RATES)
    spike = next_simulated_second(traffic) - watch.began_at
    line = Text(f"≈ {SIMULATION_LABEL}: error spike on v3, ", style="bold yellow")
    line.append(
        f"error rates {shown(V3_ERROR_RATES)} from simulated second {traffic.simulated_seconds} on "
        f"({spike:.2f} s after the upload)"
    )
    demo.console.print(line)
    return spike


def show_alarm_to_baseline(demo: Demo, alarm: str, run: CanaryRun) -> AlarmToBaseline:
    """v3's alarm going to ALARM (its EventBridge event), and how long until v2 was back at 100 %."""
    transitions = alarm_transitions(demo, alarm)
    went = next((t for t in transitions if t.alarm == alarm and t.state == "ALARM"), None)
    if went is not None:
        line = Text(f"⚡ {ALARM_EVENT} ", style="bold red")
        line.append(f"{alarm} {went.previous} → ALARM at {went.at:%H:%M:%S.%f}"[:-3])
        line.append(f" ({went.at.timestamp() - run.watch.began_at:.2f} s after the upload; from metric data)")
        demo.console.print(line)
        demo.console.print(Text(f"    “{went.reason}”", style="dim"))
    back = run.back
    latency = (
        back.at - went.at.timestamp()
        if went is not None and back is not None and back.status in ROLLING
        else None
    )
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
    return AlarmToBaseline(transitions, went, latency)


def read_rollback(demo: Demo, alarm: str, run: CanaryRun, to_baseline: AlarmToBaseline) -> Rollback:
    """v3's outcome and the rollout states it owes the subscribers (its decision log shown as `sluice
    history` shows it), and the SageMaker models and CloudWatch alarms of v3 still there."""
    outcome = read_outcome(demo, run, baseline="v2")
    states = rolled_back_states(outcome.events.count("weights set"))
    demo.expected_notifications[ROLLOUT_STATE] += len(states)
    demo.facts["v3_states"] = states
    demo.facts.setdefault("rollout_states", []).extend(states)
    title = f"sluice history {REALTIME} (rollout {outcome.rollout_id}, from its decision log)"
    show_history(demo, title, outcome.log)
    models = [
        str(m["ModelName"])
        for m in demo.client("sagemaker").list_models()["Models"]
        if str(m["ModelName"]).startswith(f"{REALTIME}-v3")
    ]
    described = demo.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"sluice-{REALTIME}-v3")
    alarms_left = [str(a["AlarmName"]) for a in described["MetricAlarms"]]
    return Rollback(alarm, run, outcome, to_baseline, models, alarms_left, states)


def show_rollback(demo: Demo, rollback: Rollback) -> None:
    outcome = rollback.outcome
    demo.say(f"SageMaker: DescribeEndpoint {REALTIME} → {' · '.join(str(v) for v in outcome.final)}")
    demo.say(
        f"SageMaker: models of v3 left: {shown(rollback.models_left)}; "
        f"CloudWatch: alarms of v3 left: {shown(rollback.alarms_left)}"
    )
    demo.say(f"Application Auto Scaling: {shown(shown_scaling(outcome.scaling))}")
    demo.say(f"SageMaker: {shown_sagemaker(demo, REALTIME)}")
    execution = rollback.run.execution
    demo.say(f"Step Functions: execution {execution.get('status', '—')} (the RolledBack state is a Fail)")


@dataclass(frozen=True)
class WhenAlarmFired:
    """Where v3's rollout was when its alarm fired, from the decision log: the last step phase before it
    ("baking", …), the steps begun by then, and v3's share of the traffic then."""

    phase: str | None
    steps: int
    share: float


def when_alarm_fired(outcome: RolloutOutcome) -> WhenAlarmFired:
    events, log = outcome.events, outcome.log
    before_alarm = events[: events.index("alarm fired")] if "alarm fired" in events else events
    last_weights = [
        e.get("weights") or {} for e in log[: len(before_alarm)] if e.get("event") == "weights set"
    ]
    share = float((last_weights[-1] if last_weights else {}).get("v3", 0) or 0)
    phase = [e for e in before_alarm if e in {"weights set", "baking", "bake passed"}]
    return WhenAlarmFired(phase[-1] if phase else None, len(last_weights), share)


def check_v3_alarm_fired_from_data(checks: Checks, rollback: Rollback) -> None:
    """The alarm fired early (v3 at 10 or 25 %), from the metric data (the evaluator's reason), and the time
    from it to v2 at 100 % was measured."""
    alarm, went, latency = rollback.alarm, rollback.to_baseline.went, rollback.to_baseline.latency
    moment, shares = when_alarm_fired(rollback.outcome), rollback.run.watch.shares()
    checks.that(
        "when v3's alarm fired",
        "while v3 served 10 or 25 % (steps 1-2, baking or between states), never 50 %",
        f"{moment.phase or '—'}, step {moment.steps}, v3 {shown_percent(moment.share)} %; "
        f"v3 observed {shown([shown_percent(p) for p in shares])} %",
        # Compressed time makes a state change and a period's judgement near-simultaneous: the alarm may
        # land just after "weights set" or "bake passed"; what matters is that v3 never reached 50 %.
        moment.share in (10.0, 25.0) and bool(shares) and max(shares) <= 25.0,
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


def check_v3_rolled_back_on_record(checks: Checks, rollback: Rollback) -> None:
    """The rollout record and the decision log name the alarm and the evaluator's reason."""
    alarm, went, outcome = rollback.alarm, rollback.to_baseline.went, rollback.outcome
    checks.equal("rollout status", outcome.rollout.get("status"), "ROLLED_BACK")
    checks.equal("alarm in the rollout record", outcome.rollout.get("alarm"), alarm)
    reason = str(outcome.rollout.get("reason", ""))
    checks.that(
        "reason in the rollout record",
        "… the evaluator's reason (as in the event)",
        reason,
        went is not None and went.reason in reason,
    )
    fired = outcome.first("alarm fired")
    checks.that(
        "alarm fired (decision log)",
        f"{alarm}: … the evaluator's reason",
        f"{fired.get('alarm', '—')}: {fired.get('reason', '—')}",
        fired.get("alarm") == alarm and went is not None and went.reason in str(fired.get("reason", "")),
    )
    events = outcome.events
    expected_log = ["weights set", "alarm fired", "rolling back", "rolled back"]
    checks.that(
        "decision log in order",
        " → ".join(expected_log) + ", at most one bake passed, no promotion",
        " → ".join(events),
        in_order(events, expected_log) and events.count("bake passed") <= 1 and "promoting" not in events,
    )


def check_v3_gone(demo: Demo, checks: Checks, rollback: Rollback, seen: int) -> None:
    """v3 served errors, then v2 alone at 100 %, autoscaled; nothing of v3 left; the subscribers told."""
    outcome, totals = rollback.outcome, rollback.run.totals
    checks.that(
        f"v3 served {SIMULATION_LABEL}, with errors",
        "v3 errors > 0; v2 served too",
        shown_totals(totals),
        totals.get("v3", {}).get("errors", 0) > 0 and totals.get("v2", {}).get("invocations", 0) > 0,
    )
    checks.equal(
        "final variants", [str(v) for v in outcome.final], [f"v2 100 % ({REALTIME_INSTANCES} instances)"]
    )
    checks.equal("v3 models and alarms left", [*rollback.models_left, *rollback.alarms_left], [])
    checks.equal(
        "autoscaling", shown_scaling(outcome.scaling), [f"v2: min 2 max 6 target {AUTOSCALING_TARGET:.0f}"]
    )
    notified = rollout_statuses(demo, outcome.rollout_id, seen)
    checks.equal("notified rollout states (SNS)", notified, list(rollback.states))


def record_rollback(demo: Demo, checks: Checks, rollback: Rollback) -> None:
    """The step's facts, and v3's timeline for the report."""
    outcome, run, went = rollback.outcome, rollback.run, rollback.to_baseline.went
    moment = when_alarm_fired(outcome)
    checks.facts.update(
        status=outcome.rollout.get("status"),
        rollout_id=outcome.rollout_id,
        alarm=outcome.rollout.get("alarm"),
        reason=str(outcome.rollout.get("reason", "")),
        alarm_fired=dict(outcome.first("alarm fired")),
        alarm_event=None
        if went is None
        else {"alarm": went.alarm, "previous": went.previous, "state": went.state, "reason": went.reason},
        share_at_alarm=moment.share,
        phase_at_alarm=moment.phase,
        spike_seconds=run.spike,
        shares=run.watch.shares(),
        final_variants=[(v.name, v.percent, v.instances) for v in outcome.final],
        events=outcome.events,
        traffic=run.totals,
        alarm_to_baseline_seconds=rollback.to_baseline.latency,
    )
    demo.timelines.append(rollback_timeline(demo, rollback))


def rollback_timeline(demo: Demo, rollback: Rollback) -> RolloutTimeline:
    outcome, run, to_baseline = rollback.outcome, rollback.run, rollback.to_baseline
    began_at, went, latency = run.watch.began_at, to_baseline.went, to_baseline.latency
    rolled_back = log_seconds(outcome.log, "rolled back", began_at)
    back_seconds = run.back.seconds if run.back is not None and latency is not None else None
    timings = {
        "upload → first weights set": log_seconds(outcome.log, "weights set", began_at),
        "upload → alarm in ALARM (event)": None if went is None else went.at.timestamp() - began_at,
        "upload → alarm fired (decision log)": log_seconds(outcome.log, "alarm fired", began_at),
        "upload → v2 at 100 % (DescribeEndpoint)": back_seconds,
        "alarm → 100 % baseline": latency,
        "upload → rolled back": rolled_back,
    }
    spike = run.spike
    return rollout_timeline(
        demo,
        run.watch,
        outcome.rollout,
        outcome.log,
        error_rates=outcome.error_rates,
        alarms=alarm_periods(to_baseline.transitions, began_at, rolled_back),
        timings={label: seconds for label, seconds in timings.items() if seconds is not None},
        traffic=run.traffic.describe(),
        annotations=[] if spike is None else [(spike, "SIMULATED error spike on v3")],
        notes=[
            f"{SIMULATION_LABEL}: error rates {shown(V3_CALM_ERROR_RATES)} until v3 baked at 10 %, "
            f"then {shown(V3_ERROR_RATES)} (from {spike or 0:.2f} s); {shown_totals(run.totals)}.",
            f"The alarm went to ALARM from metric data: “{went.reason}”" if went else "No ALARM event.",
            'v3\'s own deploy.json has "analysis": null: its alarm alone judged it (v4 shows the canary '
            "analysis).",
        ],
    )
