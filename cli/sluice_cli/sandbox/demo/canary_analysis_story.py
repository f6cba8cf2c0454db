"""Steps 11 and 12: the canary analysis on its own. v4 is 25 % slower than v2 with no alarm to fire, and the
analysis rolls it back; a low-traffic endpoint cannot be judged, its bake extends, then it holds (PAUSED)
until an operator aborts it with `sluice abort`."""

from __future__ import annotations

import logging
import subprocess  # nosec B404 - the demo runs the sluice CLI as an operator would
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from sluice.domain.rollout_plan import alarm_names
from sluice_cli.sandbox import seed
from sluice_cli.sandbox.demo import uploads
from sluice_cli.sandbox.demo.canary_observation import (
    ALPHA,
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
    show_history,
    show_looks,
    show_traffic_totals,
    shown_latency,
    shown_ms,
    shown_totals,
    start_traffic,
)
from sluice_cli.sandbox.demo.cast import (
    HELD_STATES,
    LATENCY_P99_MS,
    OPERATOR,
    QUIET,
    QUIET_DEPLOY_JSON_KEY,
    QUIET_ERROR_RATES,
    QUIET_RPS,
    REALTIME,
    REALTIME_INSTANCES,
    ROLLOUT_STATE,
    V4_ERROR_RATES,
    V4_LATENCY_MS,
    V4_STATES,
    model_key,
)
from sluice_cli.sandbox.demo.checks import Checks, shown
from sluice_cli.sandbox.demo.harness import Demo
from sluice_cli.sandbox.demo.rollout_watch import RolloutWatch, watch_until_ended
from sluice_cli.sandbox.traffic import SIMULATION_LABEL, TrafficSimulator

NOT_ENOUGH_TRAFFIC = "not enough traffic to judge"  # sluice.domain.rollout.actions_analyse's wording
ENDS = frozenset({"PROMOTED", "ROLLED_BACK", "NEEDS_ATTENTION", "REFUSED"})
ABORT_REASON = "not enough traffic to judge v2 on demo-quiet; retry when the endpoint is busier"
CLI_TIMEOUT_SECONDS = 120.0


# -- step 11: v4, slower, rolled back by the analysis ---------------------------------------------------
@dataclass(frozen=True)
class AnalysisRollback:
    run: CanaryRun
    outcome: RolloutOutcome
    alarm_changes: list[AlarmTransition]
    latency_alarm: dict[str, Any]  # v4's p99 alarm as it was armed (DescribeAlarms while v4 baked)
    states: tuple[str, ...]


def canary_v4_rolled_back_by_analysis(demo: Demo, checks: Checks) -> None:
    """Step 11: v4 uploaded under SIMULATED traffic, 25 % slower than v2 (50 ms against 40 ms), no errors:
    no alarm fires, the canary analysis finds it slower at step 1 and rolls it back."""
    seen = len(demo.notifications)
    run, latency_alarm = roll_out_slower_v4(demo)
    outcome = read_outcome(demo, run, baseline="v2")
    rollback = AnalysisRollback(
        run, outcome, alarm_transitions(demo, f"sluice-{REALTIME}-v4-"), latency_alarm, V4_STATES
    )
    demo.expected_notifications[ROLLOUT_STATE] += len(V4_STATES)
    demo.facts.setdefault("rollout_states", []).extend(V4_STATES)
    show_history(demo, f"sluice history {REALTIME} (rollout {outcome.rollout_id})", outcome.log)
    show_looks(demo, outcome.log)
    fail = (outcome.first("analysis fail").get("analysis")) or {}
    demo.say(
        f"why v4 was rolled back: the canary analysis (look {fail.get('look', '—')}, step "
        f"{fail.get('step', '—')}, {fail.get('baked_seconds', '—')} s into the bake) - {shown_latency(fail)}"
    )
    demo.say(
        f"CloudWatch: state changes of v4's alarms while it rolled out: "
        f"{shown([f'{t.alarm} {t.previous} → {t.state}' for t in rollback.alarm_changes])}; "
        f"its p99 alarm: {rollback.latency_alarm.get('AlarmName', '—')} over "
        f"{rollback.latency_alarm.get('Threshold', '—')} µs, {rollback.latency_alarm.get('StateValue', '—')}"
    )
    check_v4_rolled_back_by_analysis(demo, checks, rollback, seen)
    demo.facts["analysis_rollback"] = (
        f"v4 (ModelLatency {shown_ms(V4_LATENCY_MS)}) rolled back by the canary analysis at step "
        f"{fail.get('step', '—')}, no alarm fired: {shown_latency(fail)}"
    )
    demo.timelines.append(analysis_rollback_timeline(demo, rollback))


class _ExpectedAbort(logging.Filter):
    """The analysis' fail ends the rollout by raising RolloutAborted from the RolloutStep Lambda (the state
    machine catches it → Rollback); the sandbox's router logs every handler error with its traceback. Here
    it is the expected outcome, told by the decision log: not shown."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "sluice.errors.RolloutAborted: " not in record.getMessage()


@contextmanager
def expected_abort_not_logged() -> Iterator[None]:
    router, quiet = logging.getLogger("sluice_cli.sandbox.router"), _ExpectedAbort()
    router.addFilter(quiet)
    try:
        yield
    finally:
        router.removeFilter(quiet)


def roll_out_slower_v4(demo: Demo) -> tuple[CanaryRun, dict[str, Any]]:
    traffic = start_traffic(demo, V4_ERROR_RATES, seed=11, latency_ms=V4_LATENCY_MS)
    with expected_abort_not_logged():
        return _watch_v4(demo, traffic)


def _watch_v4(demo: Demo, traffic: TrafficSimulator) -> tuple[CanaryRun, dict[str, Any]]:
    latency_alarm: dict[str, Any] = {}
    try:
        watch = RolloutWatch(demo, REALTIME, "v4")
        demo.upload(
            model_key(REALTIME, "v4"),
            uploads.model_archive("realtime-v4"),
            f"model v4: {SIMULATION_LABEL} 25 % slower than v2 ({shown_ms(V4_LATENCY_MS)}), no errors",
        )
        watch.observe()
        baking = watch.until(
            lambda o: o.status == "BAKING" or o.status in ENDS | {"ROLLING_BACK"}, "v4 baking"
        )
        if baking.status == "BAKING":
            latency_alarm = _alarm(demo, alarm_names(REALTIME, "v4")[1])
        ended, execution = watch_until_ended(demo, watch, "ROLLED_BACK")
        until = time.time()
    finally:
        traffic.stop()
    totals = show_traffic_totals(demo, traffic)
    demo.settle()
    return CanaryRun(watch, ended, execution, until, traffic, totals), latency_alarm


def _alarm(demo: Demo, name: str) -> dict[str, Any]:
    found = demo.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return dict(found[0]) if found else {}


def check_v4_rolled_back_by_analysis(
    demo: Demo, checks: Checks, rollback: AnalysisRollback, seen: int
) -> None:
    outcome, run = rollback.outcome, rollback.run
    looks = analysis_entries(outcome.log)
    fail = outcome.first("analysis fail").get("analysis") or {}
    latency = fail.get("latency") or {}
    checks.equal("rollout status", outcome.rollout.get("status"), "ROLLED_BACK")
    checks.that(
        "rolled back by the canary analysis (decision log)",
        "analysis fail → rolling back → rolled back, no alarm fired",
        " → ".join(outcome.events),
        in_order(outcome.events, ["weights set", "analysis fail", "rolling back", "rolled back"])
        and "alarm fired" not in outcome.events,
    )
    checks.that(
        "the failing test",
        f"latency worse (p < {ALPHA}), errors not",
        f"latency worse {latency.get('worse')}, p {latency.get('p_value')}; errors worse "
        f"{(fail.get('errors') or {}).get('worse')}",
        latency.get("worse") is True and (fail.get("errors") or {}).get("worse") is False,
    )
    checks.that(
        "reason in the rollout record",
        "… canary analysis found the candidate worse …",
        str(outcome.rollout.get("reason", "")),
        "canary analysis" in str(outcome.rollout.get("reason", "")),
    )
    went = [t.alarm for t in rollback.alarm_changes if t.state == "ALARM"]
    checks.equal("v4's alarms in ALARM (EventBridge)", went, [])
    threshold_ms = float(rollback.latency_alarm.get("Threshold") or 0) / 1000.0
    checks.that(
        "v4's p99 latency alarm",
        f"armed at {LATENCY_P99_MS:g} ms, not in ALARM",
        f"{rollback.latency_alarm.get('AlarmName', '—')} {threshold_ms:g} ms, "
        f"{rollback.latency_alarm.get('StateValue', '—')}",
        threshold_ms == LATENCY_P99_MS and rollback.latency_alarm.get("StateValue") != "ALARM",
    )
    checks.equal(
        "final variants", [str(v) for v in outcome.final], [f"v2 100 % ({REALTIME_INSTANCES} instances)"]
    )
    checks.that(
        f"v4 served {SIMULATION_LABEL}",
        "invocations on v4 and on v2",
        shown_totals(run.totals),
        run.totals.get("v4", {}).get("invocations", 0) > 0,
    )
    notified = rollout_statuses(demo, outcome.rollout_id, seen)
    checks.equal("notified rollout states (SNS)", notified, list(rollback.states))
    checks.facts.update(
        status=outcome.rollout.get("status"),
        rollout_id=outcome.rollout_id,
        reason=str(outcome.rollout.get("reason", "")),
        events=outcome.events,
        looks=[(e.get("analysis", {}).get("step"), e.get("analysis", {}).get("outcome")) for e in looks],
        verdict=dict(fail),
        alarm_transitions=[(t.alarm, t.previous, t.state) for t in rollback.alarm_changes],
        latency_alarm={
            "name": rollback.latency_alarm.get("AlarmName"),
            "threshold_ms": threshold_ms,
            "state": rollback.latency_alarm.get("StateValue"),
        },
        final_variants=[(v.name, v.percent, v.instances) for v in outcome.final],
        traffic=run.totals,
    )


def analysis_rollback_timeline(demo: Demo, rollback: AnalysisRollback) -> Any:
    outcome, run = rollback.outcome, rollback.run
    began_at = run.watch.began_at
    rolled_back = log_seconds(outcome.log, "rolled back", began_at)
    timings = {
        "upload → first weights set": log_seconds(outcome.log, "weights set", began_at),
        "upload → analysis fail": log_seconds(outcome.log, "analysis fail", began_at),
        "upload → rolled back": rolled_back,
    }
    fail = outcome.first("analysis fail").get("analysis") or {}
    return rollout_timeline(
        demo,
        run.watch,
        outcome.rollout,
        outcome.log,
        error_rates=outcome.error_rates,
        alarms=alarm_periods(rollback.alarm_changes, began_at, rolled_back),
        timings={label: seconds for label, seconds in timings.items() if seconds is not None},
        traffic=run.traffic.describe(),
        notes=[
            f"{SIMULATION_LABEL}: ModelLatency {shown_ms(V4_LATENCY_MS)} (v4 25 % slower), "
            f"error rates {shown(V4_ERROR_RATES)}; {shown_totals(run.totals)}.",
            "No alarm fired: v4's p99 latency alarm "
            f"({LATENCY_P99_MS:g} ms) had nothing to fire on, its error alarm no errors.",
            f"The canary analysis rolled it back: {shown_latency(fail)}.",
        ],
    )


# -- step 12: too little traffic to judge: the bake extends, then holds; the operator aborts ------------
@dataclass(frozen=True)
class Hold:
    run: CanaryRun
    outcome: RolloutOutcome
    held: dict[str, Any]  # the rollout record while PAUSED
    cli: subprocess.CompletedProcess[str]


def low_traffic_held_then_aborted(demo: Demo, checks: Checks) -> None:
    """Step 12: a second endpoint with little traffic; v2's bake at 10 % extends up to max_bake_seconds,
    then the rollout holds (PAUSED, "not enough traffic to judge"); the operator runs `sluice abort`."""
    seed.create_realtime_endpoint(demo, demo.bucket, QUIET, "v1", 1, autoscaling=False)
    demo.say(
        f"SageMaker: CreateModel {QUIET}-v1, CreateEndpointConfig (variant v1 x 1), CreateEndpoint {QUIET}"
    )
    demo.upload(
        QUIET_DEPLOY_JSON_KEY,
        uploads.quiet_deploy_json(),
        f"steps {'/'.join(map(str, uploads.QUIET_STEPS))} %, {uploads.QUIET_BAKE_SECONDS} s bakes, analysis "
        f"max_bake_seconds {uploads.QUIET_MAX_BAKE_SECONDS}, on_insufficient_data hold (the default)",
    )
    demo.settle()
    seen = len(demo.notifications)
    hold = hold_then_abort(demo)
    demo.expected_notifications[ROLLOUT_STATE] += len(HELD_STATES)
    demo.facts.setdefault("rollout_states", []).extend(HELD_STATES)
    outcome = hold.outcome
    show_history(demo, f"sluice history {QUIET} (rollout {outcome.rollout_id})", outcome.log)
    check_held_then_aborted(demo, checks, hold, seen)
    demo.facts["analysis_hold"] = (
        f"{QUIET} v2 held (PAUSED): {(hold.held.get('held') or {}).get('reason', '—')}; then `sluice abort` "
        f"→ {outcome.rollout.get('status', '—')}"
    )
    began_at = hold.run.watch.began_at
    timings = {
        "upload → first weights set": log_seconds(outcome.log, "weights set", began_at),
        "upload → bake extended": log_seconds(outcome.log, "bake extended", began_at),
        "upload → held": log_seconds(outcome.log, "held", began_at),
        "upload → abort requested": log_seconds(outcome.log, "abort requested", began_at),
        "upload → rolled back": log_seconds(outcome.log, "rolled back", began_at),
    }
    demo.timelines.append(
        rollout_timeline(
            demo,
            hold.run.watch,
            outcome.rollout,
            outcome.log,
            error_rates=outcome.error_rates,
            timings={label: seconds for label, seconds in timings.items() if seconds is not None},
            traffic=hold.run.traffic.describe(),
            notes=[
                f"{SIMULATION_LABEL}: {QUIET_RPS} request per simulated second; "
                f"{shown_totals(hold.run.totals)}.",
                f"Held: {hold.held.get('held', {}).get('reason', '—')}.",
                f"Resolved by the operator: sluice abort {QUIET} --reason '{ABORT_REASON}'.",
            ],
        )
    )


def hold_then_abort(demo: Demo) -> Hold:
    traffic = start_traffic(demo, QUIET_ERROR_RATES, seed=12, endpoint=QUIET, rps=QUIET_RPS)
    try:
        watch = RolloutWatch(demo, QUIET, "v2")
        demo.upload(model_key(QUIET, "v2"), uploads.model_archive("quiet-v2"), "model v2")
        watch.observe()
        demo.say(
            f"{SIMULATION_LABEL}: {QUIET_RPS} request per simulated second; at 10 % v2's share is "
            f"{QUIET_RPS * uploads.QUIET_STEPS[0] / 100:g} a second (the simulator routes each second's "
            "whole requests to the largest shares, so v2 gets hardly any): far below min_invocations 200"
        )
        held = watch.until(lambda o: o.status == "PAUSED" or o.status in ENDS, "v2 held (PAUSED)")
        record = dict(held.rollout)
        demo.console.print(
            Text("⏸  held: ", style="bold yellow") + Text(str((record.get("held") or {}).get("reason", "—")))
        )
        cli = sluice_abort(demo) if held.status == "PAUSED" else subprocess.CompletedProcess([], 1, "", "")
        ended, execution = watch_until_ended(demo, watch, "ROLLED_BACK")
        until = time.time()
    finally:
        traffic.stop()
    totals = show_traffic_totals(demo, traffic)
    demo.settle()
    run = CanaryRun(watch, ended, execution, until, traffic, totals)
    return Hold(run, read_outcome(demo, run, baseline="v1"), record, cli)


def sluice_abort(demo: Demo) -> subprocess.CompletedProcess[str]:
    """`sluice abort` as the operator runs it: the CLI in its own process, against the sandbox."""
    args = ["--endpoint-url", demo.sandbox.endpoint_url, "--stack", demo.sandbox.stack_name]
    args += ["abort", QUIET, "--reason", ABORT_REASON, "--by", OPERATOR]
    demo.console.print(
        Text(f"$ sluice abort {QUIET} --reason '{ABORT_REASON}' --by {OPERATOR}", style="bold")
    )
    completed = subprocess.run(  # noqa: S603  # nosec B603 - our own interpreter, fixed arguments
        [sys.executable, "-c", "from sluice_cli.main import app; app()", *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
        check=False,
    )
    for line in (completed.stdout + completed.stderr).strip().splitlines():
        demo.console.print(Text(f"  {line}", style="dim"))
    return completed


def check_held_then_aborted(demo: Demo, checks: Checks, hold: Hold, seen: int) -> None:
    outcome, run = hold.outcome, hold.run
    looks = analysis_entries(outcome.log)
    held = hold.held.get("held") or {}
    checks.equal("status while held", hold.held.get("status"), "PAUSED")
    checks.that(
        "held reason",
        f"“{NOT_ENOUGH_TRAFFIC}: after {uploads.QUIET_MAX_BAKE_SECONDS} s of step 1 …”",
        str(held.get("reason", "—")),
        str(held.get("reason", "")).startswith(NOT_ENOUGH_TRAFFIC) and held.get("step") == 1,
    )
    checks.that(
        "every look inconclusive (decision log)",
        f"looks until {uploads.QUIET_MAX_BAKE_SECONDS} s, none judged",
        ", ".join(f"{(e.get('analysis') or {}).get('baked_seconds')} s {e['event']}" for e in looks),
        bool(looks) and all(e["event"] == "analysis inconclusive" for e in looks),
    )
    expected = [
        "weights set",
        "analysis inconclusive",
        "bake extended",
        "held",
        "abort requested",
        "rolled back",
    ]
    checks.that(
        "decision log in order",
        " → ".join(expected),
        " → ".join(dict.fromkeys(outcome.events)),
        in_order(outcome.events, expected) and "promoting" not in outcome.events,
    )
    checks.that(
        "sluice abort",
        "exit 0",
        f"exit {hold.cli.returncode}",
        hold.cli.returncode == 0,
    )
    checks.equal("rollout status", outcome.rollout.get("status"), "ROLLED_BACK")
    checks.equal("final variants", [str(v) for v in outcome.final], ["v1 100 % (1 instance)"])
    checks.that(
        f"v2 served {SIMULATION_LABEL}, too little",
        "fewer invocations on v2 than min_invocations (200), v1 served",
        shown_totals(run.totals),
        run.totals.get("v2", {}).get("invocations", 0) < 200
        and run.totals.get("v1", {}).get("invocations", 0) > 0,
    )
    notified = rollout_statuses(demo, outcome.rollout_id, seen)
    checks.equal("notified rollout states (SNS)", notified, list(HELD_STATES))
    checks.facts.update(
        held=dict(held),
        held_status=hold.held.get("status"),
        status=outcome.rollout.get("status"),
        events=outcome.events,
        looks=[
            (e.get("analysis", {}).get("baked_seconds"), e.get("analysis", {}).get("outcome")) for e in looks
        ],
        cli_exit=hold.cli.returncode,
        cli_output=hold.cli.stdout,
        final_variants=[(v.name, v.percent, v.instances) for v in outcome.final],
        traffic=run.totals,
    )
