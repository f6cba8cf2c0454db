"""Carrying the baseline's autoscaling across a rollout: the snapshot taken before promotion deregisters
the baseline (kept in the rollout record, so a retried task finds it and the decision log shows it), and
its re-creation on the variant that serves afterwards (sluice.domain.rollout.scaling has the rules)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sluice.domain.rollout.log import decide
from sluice.domain.rollout.scaling import ScalingSnapshot, repointed_alarm, requests_for
from sluice.domain.rollout.services import RolloutServices
from sluice.errors import RefusedRequest

# The rollout record's attribute holding the snapshot. Written once, just before the deregistration:
# its presence also says that promotion may have deregistered the baseline.
SNAPSHOT_ATTRIBUTE = "baseline_scaling"


def stored_snapshot(rollout: dict[str, Any]) -> ScalingSnapshot | None:
    stored = rollout.get(SNAPSHOT_ATTRIBUTE)
    return ScalingSnapshot.from_dict(stored) if stored else None


def snapshot_before_deregistering(
    services: RolloutServices,
    endpoint: str,
    rollout_id: str,
    rollout: dict[str, Any],
    variant: str,
    now: datetime,
) -> ScalingSnapshot:
    """The variant's whole scaling configuration, read now and stored in the rollout record - or the one
    already stored: a retried promotion reads nothing after its first attempt deregistered the target."""
    kept = stored_snapshot(rollout)
    if kept is not None:
        return kept
    snapshot = ScalingSnapshot.of(variant, services.autoscaling.configuration(endpoint, variant))
    item = services.rollouts.signal(
        endpoint, rollout_id, {SNAPSHOT_ATTRIBUTE: snapshot.to_dict()}, keep_existing=True
    )
    kept = stored_snapshot(item or {}) or snapshot
    if snapshot.registered:
        decide(
            services,
            endpoint,
            rollout_id,
            now,
            "autoscaling snapshot",
            f"before deregistering {variant}: {kept.summary()}",
            scaling=kept.to_dict(),
        )
    return kept


@dataclass
class Recreated:
    """What a re-creation did, for the decision log."""

    variant: str
    registered: bool = False
    policies: list[str] = field(default_factory=list)
    scheduled_actions: list[str] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.registered or self.policies or self.scheduled_actions or self.alarms or self.refused)

    def text(self, snapshot: ScalingSnapshot) -> str:
        done = [
            f"scalable target min {snapshot.target.get('MinCapacity')} max "
            f"{snapshot.target.get('MaxCapacity')}"
            if self.registered
            else "scalable target already registered",
            f"policies {', '.join(self.policies) or 'none missing'}",
            f"scheduled actions {', '.join(self.scheduled_actions) or 'none missing'}",
        ]
        if self.alarms:
            done.append(f"alarms {', '.join(self.alarms)} now invoke the re-created step policies")
        text = f"{snapshot.variant}'s autoscaling on {self.variant}: " + "; ".join(done)
        return text + (f"; NOT re-created: {'; '.join(self.refused)}" if self.refused else "")


def recreate_scaling(
    services: RolloutServices, snapshot: ScalingSnapshot, endpoint: str, variant: str
) -> Recreated:
    """Re-create the snapshot on endpoint/variant, whatever is missing there: the scalable target when it
    is not registered, then each policy and scheduled action absent by name (one put by hand meanwhile
    stays as it is; a retry puts only the rest), then the step policies' alarms pointed at the new ARNs.
    A request AWS refuses for what it holds is recorded and the others go on; other errors raise."""
    done = Recreated(variant)
    if not snapshot.registered:
        return done
    requests = requests_for(snapshot, endpoint, variant)
    current = services.autoscaling.configuration(endpoint, variant)
    if current is None:
        services.autoscaling.register(requests.register_scalable_target)
        done.registered = True
        current = {}
    have_policies = {str(p["request"]["PolicyName"]) for p in current.get("policies", [])}
    have_actions = {str(a["ScheduledActionName"]) for a in current.get("scheduled_actions", [])}
    for request in requests.put_scaling_policies:
        name = str(request["PolicyName"])
        if name not in have_policies:
            put_policy = services.autoscaling.put_policy
            _put(put_policy, request, f"policy {name}", name, done.policies, done.refused)
    for request in requests.put_scheduled_actions:
        name = str(request["ScheduledActionName"])
        if name not in have_actions:
            _put(
                services.autoscaling.put_scheduled_action,
                request,
                f"scheduled action {name}",
                name,
                done.scheduled_actions,
                done.refused,
            )
    _repoint_alarms(services, snapshot, endpoint, variant, done)
    return done


def _put(
    call: Callable[[dict[str, Any]], None],
    request: dict[str, Any],
    what: str,
    name: str,
    done: list[str],
    refused: list[str],
) -> None:
    try:
        call(request)
    except RefusedRequest as refusal:
        refused.append(f"{what}: {refusal}")
    else:
        done.append(name)


def _repoint_alarms(
    services: RolloutServices, snapshot: ScalingSnapshot, endpoint: str, variant: str, done: Recreated
) -> None:
    """The user's alarms that invoked a step policy by its old ARN invoke the re-created one."""
    names = snapshot.step_alarms()
    if not names:
        return
    now_there = services.autoscaling.configuration(endpoint, variant) or {}
    arn_by_name = {
        str(policy["request"]["PolicyName"]): str(policy["policy_arn"])
        for policy in now_there.get("policies", [])
    }
    arns = {p.policy_arn: arn_by_name[p.name] for p in snapshot.policies if p.name in arn_by_name}
    found = services.alarms.alarm_requests(names)
    for alarm in found:
        request = repointed_alarm(alarm, arns, endpoint, snapshot.variant, variant)
        if request is None:
            continue
        try:
            services.alarms.update_alarm(request)
        except RefusedRequest as refusal:
            done.refused.append(f"alarm {alarm['AlarmName']}: {refusal}")
        else:
            done.alarms.append(str(alarm["AlarmName"]))
    missing = sorted(set(names) - {str(alarm["AlarmName"]) for alarm in found})
    if missing:
        done.refused.append(f"alarm(s) {', '.join(missing)} that invoked step policies no longer exist")
