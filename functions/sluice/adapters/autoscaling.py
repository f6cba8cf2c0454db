"""Application Auto Scaling: SageMakerVariantInvocationsPerInstance target tracking per variant."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from sluice.adapters.clients import client, error_code
from sluice.domain.rollout_plan import SCALABLE_DIMENSION, scalable_target

NAMESPACE = "sagemaker"
DIMENSION = SCALABLE_DIMENSION
POLICY_NAME = "sluice-invocations-per-instance"


# Application Auto Scaling's answer for a target that is not registered. A ValidationException means
# something else (a missing permission comes back as one: "User is missing the following permissions"),
# so it is never read as "not registered".
NOT_REGISTERED = "ObjectNotFoundException"


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

    def register(self, endpoint: str, variant: str, registration: dict[str, Any]) -> None:
        """Target tracking on SageMakerVariantInvocationsPerInstance with the registration's bounds."""
        rid = resource_id(endpoint, variant)
        self.aas.register_scalable_target(
            ServiceNamespace=NAMESPACE,
            ResourceId=rid,
            ScalableDimension=DIMENSION,
            MinCapacity=int(registration["min"]),
            MaxCapacity=int(registration["max"]),
        )
        if registration.get("target") is None:
            return
        self.aas.put_scaling_policy(
            PolicyName=POLICY_NAME,
            ServiceNamespace=NAMESPACE,
            ResourceId=rid,
            ScalableDimension=DIMENSION,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": float(registration["target"]),
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                },
                "ScaleInCooldown": int(registration.get("scale_in_cooldown", 300)),
                "ScaleOutCooldown": int(registration.get("scale_out_cooldown", 60)),
            },
        )
