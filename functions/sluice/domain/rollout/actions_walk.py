"""State machine actions of the step loop: signals and alarms at each step boundary, the next step's
weights, and the waits (bake, pause, approval) that signals answer."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sluice.domain.rollout.log import decide, utc_iso
from sluice.domain.rollout.record import (
    load_rollout,
    plan_weights,
    raise_if_abort_requested,
    stored_plan,
)
from sluice.domain.rollout.services import RolloutServices
from sluice.domain.rollout.status import ABORT_ERROR
from sluice.domain.rollout_plan import RolloutPlan
from sluice.errors import RolloutAborted


def raise_if_aborted(
    services: RolloutServices, rollout: dict[str, Any], plan: RolloutPlan, now: datetime
) -> None:
    """Step boundary: an abort already requested, or any of the rollout's alarms in ALARM, ends it here."""
    raise_if_abort_requested(rollout)
    firing = services.alarms.firing(plan.alarm_names)
    if firing:
        alarm = firing[0]
        reason = f"alarm {alarm.name} is in ALARM: {alarm.reason}"
        abort_at_boundary(services, rollout, alarm.name, reason, now)


def abort_at_boundary(
    services: RolloutServices, rollout: dict[str, Any], alarm: str, reason: str, now: datetime
) -> None:
    """Record why at the step boundary (the first reason stays), then end the rollout: RolloutAborted."""
    services.rollouts.signal(
        rollout["endpoint"],
        rollout["rollout_id"],
        {
            "abort_requested": {
                "by": "step boundary check",
                "alarm": alarm,
                "reason": reason,
                "at": utc_iso(now),
            }
        },
    )
    raise RolloutAborted(reason)


def raise_if_no_evidence(
    services: RolloutServices, rollout: dict[str, Any], plan: RolloutPlan, step: int, now: datetime
) -> str | None:
    """A step judged by alarms alone ends without evidence when an automatic alarm of the candidate still
    has no data (INSUFFICIENT_DATA: with on_insufficient_data hold or rollback its alarms treat missing
    data as missing, see rollout_plan.MISSING_DATA_TREATMENT): rollback raises RolloutAborted, hold gets
    the reason back (the caller holds the rollout), continue ignores it. The user's own alarms are left to
    their own missing-data treatment."""
    if plan.on_insufficient_data == "continue":
        return None
    automatic = set(plan.cleanup_after_rollback.alarms)
    silent = [
        alarm
        for alarm in services.alarms.states([name for name in plan.alarm_names if name in automatic])
        if alarm.state == "INSUFFICIENT_DATA"
    ]
    if not silent:
        return None
    alarm = silent[0]
    reason = f"step {step}: alarm {alarm.name} had no data by the end of the bake ({alarm.reason})"
    if plan.on_insufficient_data == "rollback":
        abort_at_boundary(
            services,
            rollout,
            alarm.name,
            f"{reason}, and on_insufficient_data is rollback (no evidence, no promotion)",
            now,
        )
    return f"not enough traffic to judge: {reason}"


def next_step(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Signals first (abort, promote, pause), then the next step's weights, or promote after the last."""
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    rollout = load_rollout(services, state)
    plan = stored_plan(rollout)
    raise_if_aborted(services, rollout, plan, now)
    if rollout.get("promote_requested"):
        decide(
            services,
            endpoint,
            rollout_id,
            now,
            "skipping to promotion",
            f"promote requested by {rollout['promote_requested'].get('by', 'operator')}: "
            "remaining steps skipped",
        )
        if rollout.get("held"):
            services.rollouts.update_rollout(endpoint, rollout_id, {"held": None})
        return {**state, "action": "promote"}
    if rollout.get("pause_requested"):
        return {**state, "action": "pause"}
    index = int(state.get("step_index", -1)) + 1
    if index >= len(plan.steps):
        return {**state, "action": "promote"}
    step = plan.steps[index]
    if step.awaits_approval and not rollout.get("approved"):
        return {**state, "action": "approve"}
    services.endpoints.set_weights(endpoint, step.desired_weights_and_capacities)
    weights = plan_weights(plan, index)
    services.rollouts.update_rollout(
        endpoint, rollout_id, {"status": "SHIFTING", "step_index": index, "weights": weights, "held": None}
    )
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "weights set",
        f"step {index + 1}/{len(plan.steps)}: {plan.names.candidate_variant} {step.percent} % on "
        f"{step.candidate_instances} instance(s), {plan.names.baseline_variant} {100 - step.percent} % on "
        f"{step.baseline_instances}",
        notify="STEP",
        weights=weights,
        step=index + 1,
        # The evidence the previous step passed on (the canary analysis' last look), for subscribers.
        analysis=rollout.get("analysis") if index > 0 else None,
    )
    return {**state, "action": "wait", "after": "weights_set", "step_index": index, "weights": weights}


def wait_for_signal(
    services: RolloutServices, state: dict[str, Any], token: str, waiting_for: str, now: datetime
) -> dict[str, Any]:
    """Store the wait's token, then act on any signal that arrived before it was stored (no window)."""
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    attrs: dict[str, Any] = {"wait_token": token, "waiting_for": waiting_for, "wait_started_at": utc_iso(now)}
    first_wait = waiting_for == "bake" and not int(state.get("baked_seconds", 0))
    if waiting_for == "bake":
        attrs["status"] = "BAKING"
        if first_wait:
            attrs["bake_ends_at"] = utc_iso(now + timedelta(seconds=int(state.get("bake_seconds", 0))))
    else:
        attrs.update(status="PAUSED" if waiting_for == "pause" else "AWAITING_APPROVAL")
    rollout = services.rollouts.signal(endpoint, rollout_id, attrs) or {}
    if rollout.get("abort_requested"):
        services.workflow.fail(token, ABORT_ERROR, str(rollout["abort_requested"].get("reason", "abort")))
    elif rollout.get("promote_requested"):
        # A paused rollout continues into NextStep, which sees the request and promotes.
        services.workflow.succeed(token, {"action": "promote"})
    elif waiting_for == "pause" and not rollout.get("pause_requested"):
        services.workflow.succeed(token, {"action": "continue"})
    elif first_wait:
        decide(
            services,
            endpoint,
            rollout_id,
            now,
            "baking",
            f"step {int(state.get('step_index', 0)) + 1} bakes for {state.get('bake_seconds')} s",
        )
    elif waiting_for != "bake":
        held = rollout.get("held") if waiting_for == "pause" else None
        decide(
            services,
            endpoint,
            rollout_id,
            now,
            "held" if held else waiting_for,
            f"{held.get('reason')}: `sluice promote` promotes, `sluice resume` goes on to the next step, "
            "`sluice abort` rolls back"
            if held
            else "paused at a step boundary: `sluice resume` continues"
            if waiting_for == "pause"
            else "the final step waits for `sluice promote`",
            notify=attrs["status"],
        )
    return state
