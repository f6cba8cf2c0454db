"""Application Auto Scaling gaps (docs/EMULATION.md): the error for a scalable target that is not
registered, what deregistering deletes, puts that need a scalable target, a step policy's alarms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sluice_cli.sandbox.gaps.base import Gap
from sluice_cli.sandbox.gaps.probes import plain_moto


class AutoscalingObjectNotFound(Gap):
    """DeregisterScalableTarget of a target that is not registered answers ObjectNotFoundException, as
    AWS does ("No scalable target registered for service namespace: …", quoted in public reports such as
    ansible/ansible#40237). moto answers ValidationException, which on AWS means something else (a
    missing permission, an invalid request): code that swallowed it as "not registered" would hide those."""

    name = "autoscaling-object-not-found"
    reason = (
        "moto answers ValidationException for an unregistered scalable target (AWS: ObjectNotFoundException)"
    )

    def _patch(self) -> None:
        from moto.applicationautoscaling.models import ApplicationAutoscalingBackend
        from moto.core.exceptions import JsonRESTError

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def deregister_scalable_target(backend: Any, namespace: str, r_id: str, dimension: str) -> None:
                if not backend._scalable_target_exists(r_id, dimension):
                    raise JsonRESTError(
                        "ObjectNotFoundException",
                        f"No scalable target registered for service namespace: {namespace}, resource ID: "
                        f"{r_id}, scalable dimension: {dimension}",
                    )
                original(backend, namespace, r_id, dimension)

            return deregister_scalable_target

        self._apply(ApplicationAutoscalingBackend, "deregister_scalable_target", make)

    @classmethod
    def still_present(cls) -> bool:
        from botocore.exceptions import ClientError

        with plain_moto() as clients:
            try:
                clients("application-autoscaling").deregister_scalable_target(
                    ServiceNamespace="sagemaker",
                    ResourceId="endpoint/gap-probe/variant/v1",
                    ScalableDimension="sagemaker:variant:DesiredInstanceCount",
                )
            except ClientError as error:
                return bool(error.response["Error"]["Code"] != "ObjectNotFoundException")
            return False


PROBE_KEY = {
    "ServiceNamespace": "sagemaker",
    "ResourceId": "endpoint/gap-probe/variant/v1",
    "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
}
PROBE_STEPS = {"AdjustmentType": "ChangeInCapacity", "StepAdjustments": [{"ScalingAdjustment": 1}]}


def _not_registered(namespace: str, r_id: str, dimension: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(
        "ObjectNotFoundException",
        f"No scalable target registered for service namespace: {namespace}, resource ID: {r_id}, "
        f"scalable dimension: {dimension}",
    )


class DeregisterDeletesScalingConfiguration(Gap):
    """DeregisterScalableTarget deletes the target's scaling policies and scheduled actions, as AWS does:
    "Deregistering a scalable target deletes the scaling policies and the scheduled actions that are
    associated with it" (DeregisterScalableTarget API reference). moto deletes the target only, so a
    variant deregistered and registered again showed its old policies: a rollout that lost the user's
    scaling configuration looked as if it had kept it."""

    name = "autoscaling-deregister-deletes-policies"
    reason = "moto's DeregisterScalableTarget leaves the target's policies and scheduled actions behind"

    def _patch(self) -> None:
        from moto.applicationautoscaling.models import ApplicationAutoscalingBackend

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def deregister_scalable_target(backend: Any, namespace: str, r_id: str, dimension: str) -> None:
                original(backend, namespace, r_id, dimension)
                for policy in list(backend.policies.values()):
                    if (policy.service_namespace, policy.resource_id, policy.scalable_dimension) == (
                        namespace,
                        r_id,
                        dimension,
                    ):
                        backend.delete_scaling_policy(policy.policy_name, namespace, r_id, dimension)
                backend.scheduled_actions = [
                    action
                    for action in backend.scheduled_actions
                    if (action.service_namespace, action.resource_id, action.scalable_dimension)
                    != (namespace, r_id, dimension)
                ]

            return deregister_scalable_target

        self._apply(ApplicationAutoscalingBackend, "deregister_scalable_target", make)

    @classmethod
    def still_present(cls) -> bool:
        with plain_moto() as clients:
            aas = clients("application-autoscaling")
            aas.register_scalable_target(**PROBE_KEY, MinCapacity=1, MaxCapacity=2)
            aas.put_scaling_policy(
                **PROBE_KEY,
                PolicyName="probe",
                PolicyType="StepScaling",
                StepScalingPolicyConfiguration=PROBE_STEPS,
            )
            aas.put_scheduled_action(**PROBE_KEY, ScheduledActionName="probe", Schedule="rate(1 day)")
            aas.deregister_scalable_target(**PROBE_KEY)
            by_target = {"ServiceNamespace": "sagemaker", "ResourceId": PROBE_KEY["ResourceId"]}
            policies = aas.describe_scaling_policies(**by_target)["ScalingPolicies"]
            actions = aas.describe_scheduled_actions(**by_target)["ScheduledActions"]
            return bool(policies or actions)


class PutNeedsScalableTarget(Gap):
    """PutScalingPolicy and PutScheduledAction for a resource that is not a scalable target answer
    ObjectNotFoundException, as AWS does ("For any operation that depends on the existence of a scalable
    target, this exception is thrown if the scalable target ... does not exist": ObjectNotFoundException,
    API reference). moto accepts them, so a put made before its RegisterScalableTarget went unnoticed."""

    name = "autoscaling-put-needs-scalable-target"
    reason = "moto accepts a scaling policy or scheduled action for a resource that is not a scalable target"

    def _patch(self) -> None:
        from moto.applicationautoscaling.models import ApplicationAutoscalingBackend

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def put(backend: Any, **kwargs: Any) -> Any:  # moto's responses pass every argument by name
                namespace, r_id, dimension = (
                    kwargs["service_namespace"],
                    kwargs["resource_id"],
                    kwargs["scalable_dimension"],
                )
                if not backend._scalable_target_exists(r_id, dimension):
                    raise _not_registered(namespace, r_id, dimension)
                return original(backend, **kwargs)

            return put

        self._apply(ApplicationAutoscalingBackend, "put_scaling_policy", make)
        self._apply(ApplicationAutoscalingBackend, "put_scheduled_action", make)

    @classmethod
    def still_present(cls) -> bool:
        from botocore.exceptions import ClientError

        with plain_moto() as clients:
            try:
                clients("application-autoscaling").put_scheduled_action(
                    **PROBE_KEY, ScheduledActionName="probe", Schedule="rate(1 day)"
                )
            except ClientError as error:
                return bool(error.response["Error"]["Code"] != "ObjectNotFoundException")
            return True


class StepScalingPolicyAlarms(Gap):
    """DescribeScalingPolicies lists, for a step scaling policy, the CloudWatch alarms that invoke it (its
    ARN in their actions), as AWS does (the API reference's example: policy web-app-cpu-gt-75 with
    "Alarms": [{"AlarmName": "web-app-cpu-gt-75", ...}]). moto lists only alarms it made itself for
    target tracking, so nothing could find the user's alarms of a step policy."""

    name = "autoscaling-step-policy-alarms"
    reason = "moto's DescribeScalingPolicies lists no alarms for a step scaling policy"

    def _patch(self) -> None:
        from moto.applicationautoscaling import responses

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def _build_policy(policy: Any) -> dict[str, Any]:
                built: dict[str, Any] = original(policy)
                if policy.policy_type == "StepScaling":
                    built["Alarms"] = _alarms_invoking(policy)
                return built

            return _build_policy

        self._apply(responses, "_build_policy", make)

    @classmethod
    def still_present(cls) -> bool:
        with plain_moto() as clients:
            aas = clients("application-autoscaling")
            aas.register_scalable_target(**PROBE_KEY, MinCapacity=1, MaxCapacity=2)
            arn = aas.put_scaling_policy(
                **PROBE_KEY,
                PolicyName="probe",
                PolicyType="StepScaling",
                StepScalingPolicyConfiguration=PROBE_STEPS,
            )["PolicyARN"]
            clients("cloudwatch").put_metric_alarm(
                AlarmName="gap-probe",
                Namespace="AWS/SageMaker",
                MetricName="Invocations",
                Statistic="Sum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=1.0,
                ComparisonOperator="GreaterThanThreshold",
                AlarmActions=[arn],
            )
            (policy,) = aas.describe_scaling_policies(
                ServiceNamespace="sagemaker", ResourceId=PROBE_KEY["ResourceId"]
            )["ScalingPolicies"]
            return not policy.get("Alarms")


def _alarms_invoking(policy: Any) -> list[dict[str, str]]:
    from moto.cloudwatch.models import cloudwatch_backends

    alarms = cloudwatch_backends[policy.account_id][policy.region_name].alarms.values()
    return [
        {"AlarmName": alarm.name, "AlarmARN": alarm.alarm_arn}
        for alarm in alarms
        if policy.policy_arn
        in [*(alarm.alarm_actions or []), *alarm.ok_actions, *alarm.insufficient_data_actions]
    ]
