"""State machine actions that end a rollout: promotion, rollback, an unhealthy endpoint, and a rollout
that needs a human."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sluice.domain.rollout.intake import start_next_queued
from sluice.domain.rollout.log import decide, hold_for_a_human, utc_iso
from sluice.domain.rollout.record import CLEARED_WAIT, error_reason, load_rollout, plan_weights, stored_plan
from sluice.domain.rollout.scaling import ScalingSnapshot, not_carried
from sluice.domain.rollout.scaling_carry import (
    recreate_scaling,
    snapshot_before_deregistering,
    stored_snapshot,
)
from sluice.domain.rollout.services import RolloutServices
from sluice.domain.rollout.traffic import variants_seen
from sluice.domain.rollout_plan import RolloutPlan, scalable_target


def promote(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A config with only the candidate. The baseline's scalable target is deregistered first, whatever its
    policies (target tracking, step scaling, scheduled actions): UpdateEndpoint fails while a variant it
    removes is a scalable target ("Update or delete endpoints that use auto scaling"). Its whole scaling
    configuration is snapshotted into the rollout record before, to be re-created afterwards."""
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    rollout = load_rollout(services, state)
    plan = stored_plan(rollout)
    baseline = plan.names.baseline_variant
    snapshot_before_deregistering(services, endpoint, rollout_id, rollout, baseline, now)
    if services.autoscaling.remove(scalable_target(endpoint, baseline)):
        decide(
            services,
            endpoint,
            rollout_id,
            now,
            "autoscaling removed",
            f"{baseline}'s scalable target was deregistered for the promotion, which deletes its policies "
            "and scheduled actions; the snapshot re-creates them on the variant that serves afterwards",
        )
    services.endpoints.create_endpoint_config(plan.promote_config)
    services.endpoints.update_endpoint(endpoint, plan.names.promote_config)
    services.rollouts.update_rollout(endpoint, rollout_id, {"status": "PROMOTING", **CLEARED_WAIT})
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "promoting",
        f"UpdateEndpoint to {plan.names.promote_config}: only {plan.names.candidate_variant}",
    )
    return {**state, "phase": "promote", "after": "promoted"}


def finish_promotion(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    rollout = load_rollout(services, state)
    plan = stored_plan(rollout)
    _scale_the_promoted_variant(services, plan, stored_snapshot(rollout), endpoint, rollout_id, now)
    _cleanup(services, plan, plan.cleanup_after_promotion, endpoint, rollout_id, now)
    weights = {plan.names.candidate_variant: 100}
    services.rollouts.update_rollout(
        endpoint, rollout_id, {"status": "PROMOTED", "weights": weights, "finished_at": utc_iso(now)}
    )
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "promoted",
        f"{plan.names.candidate_variant} serves 100 % of {endpoint}",
        notify="PROMOTED",
        weights=weights,
    )
    start_next_queued(services, endpoint, rollout_id, now)
    return state


def _scale_the_promoted_variant(
    services: RolloutServices,
    plan: RolloutPlan,
    snapshot: ScalingSnapshot | None,
    endpoint: str,
    rollout_id: str,
    now: datetime,
) -> None:
    """deploy.json's autoscaling when it has some (the log names what of the baseline's is not carried),
    else the baseline's whole configuration re-created on the promoted variant."""
    candidate = plan.names.candidate_variant
    if plan.autoscaling:
        services.autoscaling.apply(
            plan.autoscaling.register_scalable_target, plan.autoscaling.put_scaling_policy
        )
        if snapshot is not None and snapshot.registered:
            decide(
                services,
                endpoint,
                rollout_id,
                now,
                "autoscaling not carried",
                not_carried(snapshot, candidate),
                policies=snapshot.policy_names,
                scheduled_actions=snapshot.action_names,
            )
    elif snapshot is not None and snapshot.registered:
        carried = recreate_scaling(services, snapshot, endpoint, candidate)
        decide(
            services,
            endpoint,
            rollout_id,
            now,
            "autoscaling carried",
            carried.text(snapshot),
            refused=carried.refused or None,
        )


def _cleanup(
    services: RolloutServices, plan: RolloutPlan, cleanup: Any, endpoint: str, rollout_id: str, now: datetime
) -> None:
    """Remove what the rollout leaves behind. The baseline's model and config are removed only when
    Sluice created them (an earlier rollout): a user's own resources are kept, and the log says so."""
    services.alarms.delete_alarms(list(cleanup.alarms))
    services.rollouts.disown_alarms(plan.alarm_names, endpoint, rollout_id)
    kept = []
    for config_name in cleanup.endpoint_configs:
        ours = config_name in (plan.names.candidate_config, plan.names.promote_config)
        if not services.endpoints.delete_endpoint_config(config_name, only_if_managed=not ours) and not ours:
            kept.append(f"endpoint config {config_name}")
    for model in cleanup.models:
        ours = model == plan.names.model
        if not services.endpoints.delete_model(model, only_if_managed=not ours) and not ours:
            kept.append(f"model {model}")
    if kept:
        decide(
            services,
            endpoint,
            rollout_id,
            now,
            "kept",
            f"{', '.join(kept)}: not created by Sluice (or already gone), left in place",
        )


def rollback_weights(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    """First, in one fast call: all traffic back to the baseline (skipped if the candidate never joined)."""
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    rollout = load_rollout(services, state)
    plan = stored_plan(rollout)
    requested = rollout.get("abort_requested") or {}
    reason = str(requested.get("reason") or error_reason(state.get("error")))
    current = services.endpoints.state(endpoint)
    index = int(state.get("step_index", -1))
    joined = current is not None and any(
        v["variant_name"] == plan.names.candidate_variant for v in current["variants"]
    )
    if joined:
        desired = plan.steps[index].rollback_weights_and_capacities if index >= 0 else plan.rollback_weights
        services.endpoints.set_weights(endpoint, desired)
    services.rollouts.update_rollout(
        endpoint,
        rollout_id,
        {
            "status": "ROLLING_BACK",
            "reason": reason,
            "alarm": requested.get("alarm"),
            **CLEARED_WAIT,
            "weights": plan_weights(plan, -1),
        },
    )
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "rolling back",
        _rolling_back(reason, endpoint, joined=joined, gone=current is None),
        notify="ROLLING_BACK",
        alarm=requested.get("alarm"),
        weights=plan_weights(plan, -1),
    )
    return {**state, "phase": "rollback", "weights": plan_weights(plan, -1)}


def _rolling_back(reason: str, endpoint: str, *, joined: bool, gone: bool) -> str:
    """The rollback's reason, and why no weights call goes out when none does."""
    if gone:
        return f"{reason} (endpoint {endpoint} no longer exists: no traffic to put back)"
    return reason if joined else f"{reason} (the candidate never received traffic)"


def rollback_config(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    plan = stored_plan(load_rollout(services, state))
    current = services.endpoints.state(endpoint)
    if current is not None and current["config_name"] != plan.names.baseline_config:
        # The baseline keeps the capacity it has now (an autoscaling scale-out during the canary), not
        # its config's initial count (RetainAllVariantProperties).
        services.endpoints.update_endpoint(
            endpoint, plan.names.baseline_config, retain_variant_properties=True
        )
        decide(
            services,
            endpoint,
            rollout_id,
            now,
            "candidate removed",
            f"UpdateEndpoint back to {plan.names.baseline_config}",
        )
    return {**state, "phase": "rollback", "after": "rolled_back"}


def finish_rollback(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    rollout = load_rollout(services, state)
    plan = stored_plan(rollout)
    snapshot = stored_snapshot(rollout)
    if snapshot is not None:  # promotion began: the baseline may have been deregistered
        restored = recreate_scaling(services, snapshot, endpoint, plan.names.baseline_variant)
        if snapshot.registered and restored.changed:
            decide(
                services,
                endpoint,
                rollout_id,
                now,
                "autoscaling restored",
                restored.text(snapshot),
                refused=restored.refused or None,
            )
    elif (
        plan.baseline_autoscaling
        and services.autoscaling.registration(endpoint, plan.names.baseline_variant) is None
    ):
        services.autoscaling.apply(
            plan.baseline_autoscaling.register_scalable_target, plan.baseline_autoscaling.put_scaling_policy
        )
    _cleanup(services, plan, plan.cleanup_after_rollback, endpoint, rollout_id, now)
    services.rollouts.update_rollout(
        endpoint, rollout_id, {"status": "ROLLED_BACK", "finished_at": utc_iso(now)}
    )
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "rolled back",
        f"{plan.names.baseline_variant} serves 100 %; {rollout.get('reason', '')}".strip("; "),
        notify="ROLLED_BACK",
        alarm=rollout.get("alarm"),
        weights={plan.names.baseline_variant: 100},
    )
    start_next_queued(services, endpoint, rollout_id, now)
    return state


def endpoint_unhealthy(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    reading = state.get("endpoint_state") or {}
    if reading.get("reason"):  # read_endpoint compared the endpoint with what was asked
        reason = f"endpoint {endpoint}: {reading['reason']}"
    else:
        current = services.endpoints.state(endpoint) or {}
        reason = (
            f"endpoint {endpoint} is {current.get('status', 'missing')}: "
            f"{current.get('failure_reason') or '-'}"
        )
    if state.get("phase") != "rollback":
        services.rollouts.signal(
            endpoint,
            rollout_id,
            {"abort_requested": {"by": "endpoint status", "reason": reason, "at": utc_iso(now)}},
        )
    decide(services, endpoint, rollout_id, now, "endpoint unhealthy", reason)
    # As a Catch would: what comes next (Rollback, NeedsAttention) reads its reason from $.error.
    return {**state, "error": {"Error": "EndpointUnhealthy", "Cause": json.dumps({"errorMessage": reason})}}


def needs_attention(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A rollback (or a cleanup) kept failing: record the exact endpoint state, notify, keep the lease."""
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    current = services.endpoints.state(endpoint)
    reason = error_reason(state.get("error"))
    explanation = (
        f"{reason}; endpoint {endpoint} is {(current or {}).get('status', 'missing')} "
        f"with {json.dumps(variants_seen(current))}"
    )
    hold_for_a_human(services, endpoint, rollout_id, reason, explanation, current, now)
    return state
