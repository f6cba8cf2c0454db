"""Application Auto Scaling of SageMaker variants: Sluice's target tracking, and a variant's whole
configuration read and re-created as it is (carried across a rollout)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from sluice.adapters.clients import client, error_code, error_message
from sluice.domain.rollout_plan import SCALABLE_DIMENSION, scalable_target
from sluice.errors import RefusedRequest

NAMESPACE = "sagemaker"
DIMENSION = SCALABLE_DIMENSION


# Application Auto Scaling's answer for a target that is not registered. A ValidationException means
# something else (a missing permission comes back as one: "User is missing the following permissions"),
# so it is never read as "not registered".
NOT_REGISTERED = "ObjectNotFoundException"
# A put refused for what it holds: sending it again fails the same way. (A ValidationException can also be
# a missing permission: the caller records it in the decision log with AWS's message, never drops it.)
REFUSED = frozenset({"ValidationException", "LimitExceededException"})


def resource_id(endpoint: str, variant: str) -> str:
    return scalable_target(endpoint, variant)["ResourceId"]


class AutoscalingGateway:
    def __init__(self, autoscaling_client: Any | None = None) -> None:
        self._client = autoscaling_client

    @property
    def aas(self) -> Any:
        return self._client or client("application-autoscaling")

    def registration(self, endpoint: str, variant: str) -> dict[str, Any] | None:
        """{min, max, target, scale_in_cooldown, scale_out_cooldown} of a variant, or None if unregistered."""
        rid = resource_id(endpoint, variant)
        targets = self.aas.describe_scalable_targets(
            ServiceNamespace=NAMESPACE, ResourceIds=[rid], ScalableDimension=DIMENSION
        ).get("ScalableTargets", [])
        if not targets:
            return None
        registration: dict[str, Any] = {"min": targets[0]["MinCapacity"], "max": targets[0]["MaxCapacity"]}
        policies = self.aas.describe_scaling_policies(
            ServiceNamespace=NAMESPACE, ResourceId=rid, ScalableDimension=DIMENSION
        ).get("ScalingPolicies", [])
        for policy in policies:
            config = policy.get("TargetTrackingScalingPolicyConfiguration")
            if config:
                registration.update(
                    target=config["TargetValue"],
                    scale_in_cooldown=config.get("ScaleInCooldown"),
                    scale_out_cooldown=config.get("ScaleOutCooldown"),
                )
                return registration
        return None  # registered without target tracking: nothing Sluice can carry over

    def deregister(self, endpoint: str, variant: str) -> bool:
        """Remove a variant's scalable target (and its policies). False when it was not registered."""
        return self.remove(scalable_target(endpoint, variant))

    def apply(self, register: dict[str, Any], policy: dict[str, Any]) -> None:
        """A plan's RegisterScalableTarget + PutScalingPolicy requests, as planned (boto3 kwargs)."""
        self.aas.register_scalable_target(**register)
        self.aas.put_scaling_policy(**policy)

    def remove(self, deregister: dict[str, Any]) -> bool:
        """A plan's DeregisterScalableTarget request. False when the variant was not registered."""
        try:
            self.aas.deregister_scalable_target(**deregister)
        except ClientError as exc:
            if error_code(exc) == NOT_REGISTERED:
                return False
            raise
        return True

    # -- the whole configuration, carried across a rollout (sluice.domain.rollout.scaling) ----------
    def configuration(self, endpoint: str, variant: str) -> dict[str, Any] | None:
        """The variant's scalable target, every scaling policy and every scheduled action, each cut to
        the fields of the call that creates it (RegisterScalableTarget, PutScalingPolicy,
        PutScheduledAction in botocore's service model), every page read (NextToken); None when the
        variant is not a scalable target.

        RoleARN is left out: SageMaker variants scale through Application Auto Scaling's service-linked
        role, which it uses (and creates) by itself when none is given (RegisterScalableTarget), and
        passing one would need iam:PassRole. Tags are not in the Describe* answers."""
        key = scalable_target(endpoint, variant)
        rid = key["ResourceId"]
        targets = [
            t
            for t in self._pages("describe_scalable_targets", "ScalableTargets", key)
            if t["ResourceId"] == rid
        ]
        if not targets:
            return None
        policies = [
            p
            for p in self._pages("describe_scaling_policies", "ScalingPolicies", key)
            if p["ResourceId"] == rid
        ]
        actions = [
            a
            for a in self._pages("describe_scheduled_actions", "ScheduledActions", key)
            if a["ResourceId"] == rid
        ]
        return {
            "target": self._request_of(targets[0], "RegisterScalableTarget", leave_out={"RoleARN"}),
            "policies": [
                {
                    "request": self._request_of(policy, "PutScalingPolicy"),
                    "policy_arn": policy["PolicyARN"],
                    "alarms": [alarm["AlarmName"] for alarm in policy.get("Alarms", [])],
                }
                for policy in policies
            ],
            "scheduled_actions": [self._request_of(action, "PutScheduledAction") for action in actions],
        }

    def register(self, request: dict[str, Any]) -> None:
        self.aas.register_scalable_target(**request)

    def put_policy(self, request: dict[str, Any]) -> None:
        self._put(self.aas.put_scaling_policy, request)

    def put_scheduled_action(self, request: dict[str, Any]) -> None:
        self._put(self.aas.put_scheduled_action, request)

    @staticmethod
    def _put(call: Any, request: dict[str, Any]) -> None:
        """A put that AWS may refuse for what it holds (a ValidationException, a limit reached):
        RefusedRequest, so the caller records it and carries on; anything else (throttling, a conflict,
        a missing permission) raises as it is."""
        try:
            call(**request)
        except ClientError as exc:
            if error_code(exc) in REFUSED:
                raise RefusedRequest(error_code(exc), error_message(exc)) from exc
            raise

    def _pages(self, operation: str, result: str, key: dict[str, str]) -> list[dict[str, Any]]:
        arguments: dict[str, Any] = {
            "ServiceNamespace": key["ServiceNamespace"],
            "ScalableDimension": DIMENSION,
        }
        if operation == "describe_scalable_targets":
            arguments["ResourceIds"] = [key["ResourceId"]]
        else:
            arguments["ResourceId"] = key["ResourceId"]
        pages = self.aas.get_paginator(operation).paginate(**arguments)
        return [item for page in pages for item in page.get(result, [])]

    def _request_of(
        self, described: dict[str, Any], operation: str, leave_out: frozenset[str] | set[str] = frozenset()
    ) -> dict[str, Any]:
        """The fields of a Describe* item that `operation` accepts, as plain JSON (times in ISO 8601)."""
        accepted = self.aas.meta.service_model.operation_model(operation).input_shape.members
        return {k: _plain_json(v) for k, v in described.items() if k in accepted and k not in leave_out}


def _plain_json(value: Any) -> Any:
    """A botocore value as JSON types: datetimes (StartTime, EndTime) in ISO 8601, which boto3 takes back."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_json(v) for v in value]
    return value
