"""The end of each bake wait: the canary analysis' look, then bake on, extend, pass, hold or roll back.

A step's bake is a series of waits (Bake, `wait_seconds` each) with a look after each one (Analyse):
- with the analysis on (deploy.json `rollout.analysis`) and both variants taking traffic, every wait is
  at most LOOK_SECONDS (CloudWatch's SageMaker metrics are per minute: looking more often reads nothing
  new), and each look compares candidate and baseline over the step's window so far
  (sluice.domain.analysis). A fail rolls back at once, as an alarm does. The step passes when its
  bake_seconds are over and the look passes; while traffic is too low to judge, the bake extends up to
  max_bake_seconds; then on_insufficient_data applies: hold (PAUSED, "not enough traffic to judge",
  notified, until `sluice promote`, `sluice resume` or `sluice abort`), continue, or rollback.
- with the analysis off, or at a step of 100 % (the baseline takes no traffic: nothing to compare with),
  one wait of bake_seconds, and alarms alone judge the step; an automatic alarm still without data at
  its end is what on_insufficient_data applies to.

The bake's progress is counted in the seconds the waits declared (`baked_seconds`), not read from the
clock: Step Functions timed each wait out. The window's bounds are clock readings (the metrics' time).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sluice.domain.analysis.look import Window, look, spends_alpha, verdict_record
from sluice.domain.analysis.verdict import Criteria, Verdict, look_alpha
from sluice.domain.deploy_config import AnalysisSettings
from sluice.domain.rollout.actions_walk import abort_at_boundary, raise_if_aborted, raise_if_no_evidence
from sluice.domain.rollout.log import decide, utc_iso
from sluice.domain.rollout.record import CLEARED_WAIT, load_rollout, stored_plan
from sluice.domain.rollout.services import RolloutServices
from sluice.domain.rollout_plan import RolloutPlan
from sluice.errors import MetricsUnavailable

LOOK_SECONDS = 60
NOT_ENOUGH_TRAFFIC = "not enough traffic to judge"


def analysed(plan: RolloutPlan, step_index: int) -> AnalysisSettings | None:
    """The analysis settings when step `step_index` is analysed: on, and the baseline takes traffic."""
    if plan.analysis is None or plan.steps[step_index].percent >= 100:
        return None
    return plan.analysis


def first_wait(plan: RolloutPlan, step_index: int, bake_seconds: int) -> int:
    """The step's first wait: a look's interval when the step is analysed, else the whole bake."""
    return min(LOOK_SECONDS, bake_seconds) if analysed(plan, step_index) else bake_seconds


def criteria(settings: AnalysisSettings) -> Criteria:
    return Criteria(
        min_invocations=settings.min_invocations,
        error_rate_tolerance=settings.error_rate_tolerance,
        latency_tolerance=settings.latency_tolerance,
        latency_percentile=settings.latency_percentile,
        confidence=settings.confidence,
    )


def check_alarms(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The step's weights applied: alarms and signals first, then its bake starts (its window, its first
    wait)."""
    rollout = load_rollout(services, state)
    plan = stored_plan(rollout)
    raise_if_aborted(services, rollout, plan, now)
    index = int(state.get("step_index", 0))
    return {
        **{key: value for key, value in state.items() if key not in ("analysis", "extended_step")},
        "bake_started_at": utc_iso(now),
        "baked_seconds": 0,
        "wait_seconds": first_wait(plan, index, int(state.get("bake_seconds", 1))),
    }


def analyse(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    services.rollouts.update_rollout(endpoint, rollout_id, dict(CLEARED_WAIT))
    rollout = load_rollout(services, state)
    plan = stored_plan(rollout)
    index = int(state.get("step_index", 0))
    number = index + 1
    bake = int(state.get("bake_seconds", 0))
    baked = int(state.get("baked_seconds", 0)) + int(state.get("wait_seconds", bake))
    progress = {**state, "baked_seconds": baked}
    settings = analysed(plan, index)
    if settings is None:
        return _alarms_only(services, rollout, plan, progress, number, now)
    started = _parse(state.get("bake_started_at")) or now - timedelta(seconds=baked)
    window = Window(endpoint, plan.names.baseline_variant, plan.names.candidate_variant, started, now)
    judged = int(state.get("analysis_looks", 0))
    rules = criteria(settings)
    if services.metrics is None:
        raise RuntimeError("the rollout's services have no metrics reader: the canary analysis cannot look")
    try:
        verdict = look(services.metrics, rules, judged + 1, window)
    except MetricsUnavailable as exc:
        # A read CloudWatch did not answer judges nothing: like too little traffic, the bake goes on
        # (and extends, then on_insufficient_data) rather than rolling a healthy candidate back.
        alpha = look_alpha(rules.alpha, judged + 1)
        verdict = Verdict("inconclusive", judged + 1, alpha, f"CloudWatch did not answer: {exc}", None, None)
    judged += 1 if spends_alpha(verdict) else 0
    record = {**verdict_record(verdict, window, rules), "step": number, "baked_seconds": baked}
    services.rollouts.update_rollout(endpoint, rollout_id, {"analysis": record})
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        f"analysis {verdict.outcome}",
        f"step {number}, {baked} s into the bake: {verdict.reason}",
        step=number,
        analysis=record,
    )
    if verdict.outcome == "fail":
        abort_at_boundary(
            services,
            rollout,
            "canary analysis",
            f"step {number}: the canary analysis found the candidate worse than the baseline "
            f"(look {verdict.look}, {baked} s into the bake): {verdict.reason}",
            now,
        )
    progress["analysis_looks"] = judged
    if baked < bake:
        return _bake_on(progress, bake - baked)
    if verdict.outcome == "pass":
        decide(
            services,
            endpoint,
            rollout_id,
            now,
            "bake passed",
            f"step {number}: {baked} s without an alarm, and the canary analysis passed "
            f"(look {verdict.look})",
            step=number,
            analysis=record,
        )
        return {**progress, "analysis": {"next": "next_step"}}
    horizon = max(settings.max_bake_seconds, bake)
    if baked < horizon:
        if int(state.get("extended_step", 0)) != number:
            services.rollouts.update_rollout(
                endpoint, rollout_id, {"bake_ends_at": utc_iso(now + timedelta(seconds=horizon - baked))}
            )
            decide(
                services,
                endpoint,
                rollout_id,
                now,
                "bake extended",
                f"step {number}: {verdict.reason}; the bake goes on up to {horizon} s (max_bake_seconds), "
                f"then on_insufficient_data ({plan.on_insufficient_data}) applies",
                step=number,
            )
        return _bake_on({**progress, "extended_step": number}, horizon - baked)
    return _without_evidence(
        services,
        rollout,
        plan,
        progress,
        number,
        f"{NOT_ENOUGH_TRAFFIC}: after {baked} s of step {number} (max_bake_seconds {horizon}), "
        f"{verdict.reason.removeprefix(f'{NOT_ENOUGH_TRAFFIC}: ')}",
        now,
    )


def _bake_on(state: dict[str, Any], remaining: int) -> dict[str, Any]:
    return {**state, "wait_seconds": max(1, min(LOOK_SECONDS, remaining)), "analysis": {"next": "bake"}}


def _alarms_only(
    services: RolloutServices,
    rollout: dict[str, Any],
    plan: RolloutPlan,
    state: dict[str, Any],
    number: int,
    now: datetime,
) -> dict[str, Any]:
    """The step without an analysis: the alarms judged it. When no look judges any step of the rollout
    (the analysis off, or no step that splits traffic), an automatic alarm still without data is no
    evidence. When the analysis judged the split steps, their looks are the evidence: the 100 % step's
    alarms only guard (an alarm's latest period may lack data because SageMaker's metrics arrive late,
    which is no reason to hold a rollout the analysis passed)."""
    judged_elsewhere = plan.analysis is not None and any(step.percent < 100 for step in plan.steps)
    silent = None if judged_elsewhere else raise_if_no_evidence(services, rollout, plan, number, now)
    if silent is not None:
        return _without_evidence(services, rollout, plan, state, number, silent, now)
    why = (
        "the canary analysis does not run at 100 % (the baseline takes no traffic: nothing to compare with)"
        if plan.analysis is not None
        else 'no canary analysis (deploy.json: "analysis": null)'
    )
    decide(
        services,
        state["endpoint"],
        state["rollout_id"],
        now,
        "bake passed",
        f"step {number}: {state.get('baked_seconds')} s without an alarm; {why}",
        step=number,
    )
    return {**state, "analysis": {"next": "next_step"}}


def _without_evidence(
    services: RolloutServices,
    rollout: dict[str, Any],
    plan: RolloutPlan,
    state: dict[str, Any],
    number: int,
    reason: str,
    now: datetime,
) -> dict[str, Any]:
    """The step ended without evidence: on_insufficient_data decides (hold by default)."""
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    if plan.on_insufficient_data == "rollback":
        abort_at_boundary(
            services,
            rollout,
            "no evidence",
            f"{reason}; on_insufficient_data is rollback (no evidence, no promotion)",
            now,
        )
    if plan.on_insufficient_data == "continue":
        decide(
            services,
            endpoint,
            rollout_id,
            now,
            "bake passed without evidence",
            f"{reason}; on_insufficient_data is continue: the rollout goes on unjudged",
            notify="STEP_UNJUDGED",
            step=number,
        )
        return {**state, "analysis": {"next": "next_step"}}
    services.rollouts.signal(
        endpoint,
        rollout_id,
        {"pause_requested": True, "held": {"reason": reason, "step": number, "at": utc_iso(now)}},
    )
    return {**state, "analysis": {"next": "hold"}}


def _parse(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
