"""A variant's whole Application Auto Scaling configuration, and the requests that re-create it on the
variant that serves after a rollout (issue 9, finding 11). Pure: no I/O.

Why it is needed: promotion removes the baseline variant, SageMaker refuses to remove a variant that is
still a scalable target, so the baseline is deregistered first - and "Deregistering a scalable target
deletes the scaling policies and the scheduled actions that are associated with it"
(DeregisterScalableTarget, Application Auto Scaling API reference). So the configuration is snapshotted
before (kept in the rollout record) and re-created afterwards: on the baseline after a rollback, on the
promoted variant unless deploy.json has its own `autoscaling`.

The adapter reads the snapshot with the Describe* calls and keeps, of each description, exactly the
fields the matching Put*/Register* call accepts (botocore's service model), so nothing is re-typed here
and a field AWS adds later passes through. This module changes only what a new variant changes:
- the scalable-target key of every request (ResourceId `endpoint/<ep>/variant/<name>`);
- a metric dimension `VariantName=<old>` next to `EndpointName=<endpoint>` (a customized target-tracking
  metric, or a step-scaling alarm's metric), so a policy watches the variant it scales;
- a step-scaling policy is invoked by the user's CloudWatch alarms through its ARN, and a re-created
  policy has a new ARN (it holds a generated id): `repointed_alarm` moves those alarms to the new one.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from sluice.domain.records import Record
from sluice.domain.rollout_plan import scalable_target

STEP_SCALING = "StepScaling"
ALARM_ACTION_FIELDS = ("AlarmActions", "OKActions", "InsufficientDataActions")
ENDPOINT_DIMENSION = "EndpointName"
VARIANT_DIMENSION = "VariantName"


class CarriedPolicy(Record):
    """A scaling policy: its PutScalingPolicy request, its ARN, and the CloudWatch alarms that invoke it
    (for step scaling the user's own; for target tracking the ones AWS manages)."""

    request: dict[str, Any]
    policy_arn: str
    alarms: list[str] = Field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.request["PolicyName"])

    @property
    def step_scaling(self) -> bool:
        return self.request.get("PolicyType") == STEP_SCALING


class ScalingSnapshot(Record):
    """A variant's scaling configuration when it was read: `target`, the RegisterScalableTarget request
    (min, max, suspended state); every scaling policy; every scheduled action. `registered` False: the
    variant was not a scalable target, nothing to carry."""

    variant: str
    registered: bool
    target: dict[str, Any] = Field(default_factory=dict)
    policies: list[CarriedPolicy] = Field(default_factory=list)
    scheduled_actions: list[dict[str, Any]] = Field(default_factory=list)

    @classmethod
    def of(cls, variant: str, configuration: dict[str, Any] | None) -> ScalingSnapshot:
        """From the adapter's reading (AutoscalingPort.configuration); None: not registered."""
        if configuration is None:
            return cls(variant=variant, registered=False)
        return cls(variant=variant, registered=True, **configuration)

    @property
    def policy_names(self) -> list[str]:
        return [policy.name for policy in self.policies]

    @property
    def action_names(self) -> list[str]:
        return [str(action["ScheduledActionName"]) for action in self.scheduled_actions]

    def step_alarms(self) -> list[str]:
        """The alarms that invoke the step-scaling policies (the user's: they outlive the policies)."""
        return sorted({alarm for policy in self.policies if policy.step_scaling for alarm in policy.alarms})

    def summary(self) -> str:
        if not self.registered:
            return f"{self.variant} is not a scalable target: no autoscaling to carry"
        policies = ", ".join(f"{p.name} ({p.request.get('PolicyType', '?')})" for p in self.policies)
        actions = ", ".join(
            f"{a['ScheduledActionName']} ({a.get('Schedule', '?')})" for a in self.scheduled_actions
        )
        suspended = self.target.get("SuspendedState")
        return (
            f"{self.variant}: min {self.target.get('MinCapacity')}, max {self.target.get('MaxCapacity')}"
            + (f", suspended {suspended}" if suspended else "")
            + f"; policies {policies or 'none'}; scheduled actions {actions or 'none'}"
        )


class ScalingRequests(Record):
    """The requests that re-create a snapshot on one variant, in the order they must run."""

    register_scalable_target: dict[str, Any]
    put_scaling_policies: list[dict[str, Any]]
    put_scheduled_actions: list[dict[str, Any]]


def requests_for(snapshot: ScalingSnapshot, endpoint: str, variant: str) -> ScalingRequests:
    """The snapshot's requests for endpoint/variant: the same configuration, the key of that variant, and
    its metrics renamed when the variant is another one."""
    key = scalable_target(endpoint, variant)

    def moved(request: dict[str, Any]) -> dict[str, Any]:
        return {**renamed_dimensions(request, endpoint, snapshot.variant, variant), **key}

    return ScalingRequests(
        register_scalable_target={**snapshot.target, **key},
        put_scaling_policies=[moved(policy.request) for policy in snapshot.policies],
        put_scheduled_actions=[{**action, **key} for action in snapshot.scheduled_actions],
    )


def renamed_dimensions(value: Any, endpoint: str, old: str, new: str) -> Any:
    """`value` with every metric dimension list that names endpoint `endpoint` and variant `old` naming
    variant `new` instead (at any depth: Dimensions of a metric, of a metric-math query's MetricStat)."""
    if isinstance(value, list):
        return [renamed_dimensions(item, endpoint, old, new) for item in value]
    if not isinstance(value, dict):
        return value
    renamed = {key: renamed_dimensions(item, endpoint, old, new) for key, item in value.items()}
    dimensions = renamed.get("Dimensions")
    if old != new and isinstance(dimensions, list) and _names(dimensions, endpoint, old):
        renamed["Dimensions"] = [
            {**d, "Value": new} if d.get("Name") == VARIANT_DIMENSION and d.get("Value") == old else d
            for d in dimensions
        ]
    return renamed


def _names(dimensions: list[Any], endpoint: str, variant: str) -> bool:
    pairs = {(d.get("Name"), d.get("Value")) for d in dimensions if isinstance(d, dict)}
    return (ENDPOINT_DIMENSION, endpoint) in pairs and (VARIANT_DIMENSION, variant) in pairs


def repointed_alarm(
    alarm: dict[str, Any], arns: dict[str, str], endpoint: str, old: str, new: str
) -> dict[str, Any] | None:
    """The PutMetricAlarm request that keeps `alarm` (a PutMetricAlarm request of it as it is) invoking
    the re-created policies: each old policy ARN in its actions replaced by the new one (`arns`), its
    metric moved to variant `new`. None when it invokes none of the old ARNs (already re-pointed, or a
    policy that could not be re-created: then it is left as it is) or nothing changes."""
    actions = [action for field in ALARM_ACTION_FIELDS for action in alarm.get(field, [])]
    if not any(action in arns for action in actions):
        return None
    request = renamed_dimensions(alarm, endpoint, old, new)
    for field in ALARM_ACTION_FIELDS:
        if field in request:
            request[field] = [arns.get(action, action) for action in request[field]]
    return None if request == alarm else request


def not_carried(snapshot: ScalingSnapshot, serving: str) -> str:
    """Why the baseline's scaling is not on `serving`: deploy.json's `autoscaling` replaced it."""
    alarms = snapshot.step_alarms()
    return (
        f"deploy.json's autoscaling replaces {snapshot.variant}'s on {serving}; not carried: policies "
        f"{', '.join(snapshot.policy_names) or 'none'}, scheduled actions "
        f"{', '.join(snapshot.action_names) or 'none'} (the snapshot in this rollout's record has them)"
        + (f"; alarms {', '.join(alarms)} still name the deleted step policies" if alarms else "")
    )
