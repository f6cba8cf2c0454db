"""Resolving a rollout that needs attention (`sluice resolve`), and dropping a queued version
(`sluice dequeue`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sluice.domain.rollout.intake import start_next_queued
from sluice.domain.rollout.log import decide, utc_iso
from sluice.domain.rollout.record import auto_alarm_names, stored_plan
from sluice.domain.rollout.scaling_carry import recreate_scaling, stored_snapshot
from sluice.domain.rollout.services import RolloutServices
from sluice.domain.rollout.traffic import Traffic, split_text, traffic_of
from sluice.domain.rollout_plan import RolloutPlan
from sluice.errors import NotResolvable


def state_machine_of(execution_arn: str) -> str:
    """arn:...:execution:<machine>:<name> -> arn:...:stateMachine:<machine>."""
    machine = execution_arn.replace(":execution:", ":stateMachine:", 1)
    return machine.rsplit(":", 1)[0]


def needing_attention(services: RolloutServices, endpoint: str) -> dict[str, Any] | None:
    """The endpoint's rollout that NEEDS_ATTENTION (the newest, if ever more than one)."""
    for rollout in services.rollouts.rollouts(endpoint, limit=20):
        if rollout.get("status") == "NEEDS_ATTENTION":
            return rollout
    return None


def _resolvable(endpoint: str, current: dict[str, Any] | None) -> Traffic:
    """The endpoint's traffic when it is in one piece; NotResolvable while it is changing, failed, or
    still splits traffic between variants."""
    traffic = traffic_of(current)
    if traffic.status is not None and traffic.status != "InService":
        raise NotResolvable(
            f"endpoint {endpoint} is {traffic.status}, not InService: wait for it to settle (or fix it), "
            "then resolve; the lease stays held"
        )
    if not traffic.in_one_piece:
        raise NotResolvable(
            f"endpoint {endpoint} still splits traffic ({split_text(traffic.shares)}): put all of it on one "
            "variant first, e.g. "
            f"aws sagemaker update-endpoint-weights-and-capacities --endpoint-name {endpoint} "
            "--desired-weights-and-capacities VariantName=<other>,DesiredWeight=0, then resolve again; "
            "the lease stays held"
        )
    return traffic


def _autoscaling_for(
    services: RolloutServices, endpoint: str, stuck: dict[str, Any], plan: RolloutPlan, serving: str
) -> str | None:
    """Give the serving variant the autoscaling the rollout would have left it with, what it lost of it:
    the baseline's snapshot (taken when promotion began) on the baseline, or on the promoted variant
    unless deploy.json had its own; deploy.json's when it did."""
    snapshot = stored_snapshot(stuck)
    carried = serving == plan.names.baseline_variant or (
        serving == plan.names.candidate_variant and plan.autoscaling is None
    )
    if snapshot is not None and carried:
        done = recreate_scaling(services, snapshot, endpoint, serving)
        return done.text(snapshot) if done.changed else None
    if serving == plan.names.baseline_variant:
        wanted = plan.baseline_autoscaling
    elif serving == plan.names.candidate_variant:
        wanted = plan.autoscaling
    else:
        return None
    if wanted is None or services.autoscaling.registration(endpoint, serving) is not None:
        return None
    services.autoscaling.apply(wanted.register_scalable_target, wanted.put_scaling_policy)
    return f"autoscaling registered again on {serving}"


def resolve(
    services: RolloutServices,
    endpoint: str,
    reason: str,
    by: str,
    now: datetime,
    *,
    cancel_queued: bool = False,
) -> dict[str, Any]:
    """A human has dealt with a rollout that NEEDS_ATTENTION: check the endpoint is in one piece again
    (InService, all traffic on one variant, or deleted), record who resolved it and why, remove the
    rollout's own alarms, give the serving variant its autoscaling back, and hand the lease on - to the
    newest queued version, or, with `cancel_queued`, to nobody (the queued version is CANCELLED)."""
    stuck = needing_attention(services, endpoint)
    if stuck is None:
        raise NotResolvable(f"no rollout of endpoint {endpoint} needs attention: nothing to resolve")
    rollout_id = str(stuck["rollout_id"])
    traffic = _resolvable(endpoint, services.endpoints.state(endpoint))
    serving, shares, idle = traffic.serving, traffic.shares, traffic.idle
    plan = stored_plan(stuck) if stuck.get("mode") == "rollout" and stuck.get("plan") else None
    waiting = None if cancel_queued else services.rollouts.queued(endpoint)
    if idle and waiting:
        _refuse_to_waste(endpoint, waiting, traffic, plan)
    alarms, notes = _clean_up(services, endpoint, stuck, traffic, plan)
    where = f"{serving} serves 100 %" if serving else f"endpoint {endpoint} no longer exists"
    resolution = {"by": by, "reason": reason, "at": utc_iso(now), "weights": shares}
    services.rollouts.update_rollout(
        endpoint, rollout_id, {"status": "RESOLVED", "resolved": resolution, "finished_at": utc_iso(now)}
    )
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "resolved",
        "; ".join([f"by {by}: {reason}", where, *notes]),
        notify="RESOLVED",
        by=by,
        weights=shares or None,
        alarms_deleted=alarms or None,
    )
    cancelled = None
    if cancel_queued:
        dropped = cancel_queued_version(services, endpoint, f"while resolving rollout {rollout_id}", by, now)
        cancelled = str(dropped["rollout_id"]) if dropped else None
    started = start_next_queued(services, endpoint, rollout_id, now)
    return {
        "rollout_id": rollout_id,
        "version": stuck.get("version"),
        "serving": serving,
        "weights": shares,
        "alarms_deleted": alarms,
        "notes": notes,
        "cancelled": cancelled,
        "started": started,
    }


def _refuse_to_waste(
    endpoint: str, waiting: dict[str, Any], traffic: Traffic, plan: RolloutPlan | None
) -> None:
    """Pre-flight refuses an endpoint with more than one variant: starting the queued version onto
    variants left idle at weight 0 would only waste it."""
    serving, idle = traffic.serving, traffic.idle
    back = (
        f"aws sagemaker update-endpoint --endpoint-name {endpoint} --endpoint-config-name "
        f"{plan.names.baseline_config}"
        if plan and serving == plan.names.baseline_variant
        else f"UpdateEndpoint to an endpoint config holding only {serving}"
    )
    raise NotResolvable(
        f"endpoint {endpoint} still has {', '.join(idle)} deployed at weight 0, and version "
        f"{waiting.get('version')} is queued to run next: a rollout needs an endpoint with a single "
        f"production variant, so it would be refused. Remove {', '.join(idle)} first ({back}), wait "
        "for InService, then resolve again - or resolve with --cancel-queued; the lease stays held"
    )


def _clean_up(
    services: RolloutServices,
    endpoint: str,
    stuck: dict[str, Any],
    traffic: Traffic,
    plan: RolloutPlan | None,
) -> tuple[list[str], list[str]]:
    """The rollout's own alarms deleted and the serving variant's autoscaling restored: (alarms deleted,
    notes for the log)."""
    rollout_id = str(stuck["rollout_id"])
    serving, idle = traffic.serving, traffic.idle
    notes: list[str] = []
    alarms: list[str] = []
    if plan is not None:
        alarms = sorted(auto_alarm_names(plan))
        services.alarms.delete_alarms(alarms)
        services.rollouts.disown_alarms(plan.alarm_names, endpoint, rollout_id)
        restored = _autoscaling_for(services, endpoint, stuck, plan, serving) if serving else None
        notes += [restored] if restored else []
    if idle:
        notes.append(
            f"{', '.join(idle)} still deployed at weight 0 (instances billed): remove with UpdateEndpoint"
        )
    return alarms, notes


def cancel_queued_version(
    services: RolloutServices, endpoint: str, reason: str, by: str, now: datetime
) -> dict[str, Any] | None:
    """Drop the version waiting to run next on the endpoint (`sluice dequeue`): it is CANCELLED, with who
    and why in its log, and will not start. Returns its rollout record, or None when nothing was queued."""
    queued = services.rollouts.pop_queued(endpoint)
    if not queued:
        return None
    rollout_id = str(queued["rollout_id"])
    services.rollouts.update_rollout(
        endpoint, rollout_id, {"status": "CANCELLED", "finished_at": utc_iso(now), "cancelled_by": by}
    )
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "cancelled",
        f"by {by} {reason}".strip(),
        notify="CANCELLED",
        by=by,
    )
    return services.rollouts.rollout(endpoint, rollout_id) or dict(queued)
