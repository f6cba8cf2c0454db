"""The sandbox answers as AWS does where moto is lenient, and Sluice's adapters cope with AWS's answers:
duplicate SageMaker creates, an unregistered scalable target, what deregistering deletes, a step policy's
alarms, DescribeAlarms pages, SNS subjects."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sluice.adapters.autoscaling import AutoscalingGateway
from sluice.adapters.cloudwatch import AlarmGateway
from sluice.adapters.notifications import Notifier
from sluice.adapters.sagemaker import EndpointGateway
from sluice_cli.sandbox.server import Sandbox

TEMPLATE = """
AWSTemplateFormatVersion: 2010-09-09
Resources:
  Topic:
    Type: AWS::SNS::Topic
Outputs:
  TopicArn:
    Value: !Ref Topic
"""
ROLE = "arn:aws:iam::123456789012:role/model"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    template = Path(tmp_path_factory.mktemp("strict")) / "template.yaml"
    template.write_text(TEMPLATE)
    with Sandbox(template, stack_name="strict", start_router=False, evaluate_alarms=False) as running:
        yield running


def _model(name: str) -> dict[str, Any]:
    return {"ModelName": name, "ExecutionRoleArn": ROLE, "PrimaryContainer": {"Image": "image"}}


def _config(name: str, model: str) -> dict[str, Any]:
    variant = {
        "VariantName": "v1",
        "ModelName": model,
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
        "InitialVariantWeight": 1.0,
    }
    return {"EndpointConfigName": name, "ProductionVariants": [variant]}


def test_a_duplicate_create_is_refused_with_sagemakers_message(sandbox: Sandbox) -> None:
    sagemaker = sandbox.client("sagemaker")
    sagemaker.create_model(**_model("dup-model"))
    with pytest.raises(ClientError) as refused:
        sagemaker.create_model(**_model("dup-model"))
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert refused.value.response["Error"]["Message"] == (
        'Cannot create already existing model "arn:aws:sagemaker:us-east-1:123456789012:model/dup-model".'
    )


def test_a_retried_create_goes_on_when_the_resource_is_already_there(sandbox: Sandbox) -> None:
    """A Step Functions retry of AddCandidate / Promote / CreateEndpoint after a crash between creates."""
    endpoints = EndpointGateway(sandbox.client("sagemaker"))
    for _ in range(2):
        endpoints.create_model(_model("retried-model"))
        endpoints.create_endpoint_config(_config("retried-config", "retried-model"))
        endpoints.create_endpoint("retried-ep", "retried-config", tags=[])
    assert sandbox.client("sagemaker").describe_endpoint(EndpointName="retried-ep")["EndpointStatus"]


def test_an_unregistered_variant_reads_as_not_registered(sandbox: Sandbox) -> None:
    autoscaling = AutoscalingGateway(sandbox.client("application-autoscaling"))
    assert autoscaling.deregister("never-scaled", "v1") is False


def test_a_validation_error_from_autoscaling_is_not_taken_for_not_registered(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On AWS a missing permission comes back as ValidationException: it must surface, not be swallowed."""
    from moto.applicationautoscaling.exceptions import AWSValidationException
    from moto.applicationautoscaling.models import ApplicationAutoscalingBackend

    def missing_permission(*_: Any) -> None:
        raise AWSValidationException("User is missing the following permissions: sagemaker:UpdateEndpoint")

    monkeypatch.setattr(ApplicationAutoscalingBackend, "deregister_scalable_target", missing_permission)
    with pytest.raises(ClientError, match="missing the following permissions"):
        AutoscalingGateway(sandbox.client("application-autoscaling")).deregister("ep", "v1")


def test_describe_alarms_answers_in_pages_and_every_page_is_read(sandbox: Sandbox) -> None:
    cloudwatch = sandbox.client("cloudwatch")
    names = [f"paged-{index:03d}" for index in range(75)]
    for name in names:
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/SageMaker",
            MetricName="Invocation5XXErrors",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanThreshold",
        )
    first = cloudwatch.describe_alarms(AlarmNames=names)
    assert len(first["MetricAlarms"]) == 50
    assert "NextToken" in first
    assert sorted(alarm.name for alarm in AlarmGateway(cloudwatch).states(names)) == names


def test_an_sns_subject_with_a_line_break_is_refused(sandbox: Sandbox) -> None:
    sns = sandbox.client("sns")
    with pytest.raises(ClientError, match="Invalid parameter: Subject"):
        sns.publish(TopicArn=sandbox.outputs.outputs["TopicArn"], Subject="two\nlines", Message="m")


def test_a_notification_about_a_key_with_a_line_break_is_still_published(sandbox: Sandbox) -> None:
    """S3 keys may hold any character: the notification must not be lost to its subject line."""
    notifier = Notifier(sandbox.outputs.outputs["TopicArn"])
    notifier.notify(
        "Sluice Artifact Rejected",
        {"key": "batch/m/input/a\nb.csv"},
        subject="Sluice rejected batch/m/input/a\nb.csv",
    )


def test_an_update_that_removes_a_scaled_variant_is_refused(sandbox: Sandbox) -> None:
    """SageMaker: "If you are trying to update the endpoint by calling the UpdateEndpoint API, the call
    fails" while a variant it removes is registered with Application Auto Scaling."""
    sagemaker = sandbox.client("sagemaker")
    sagemaker.create_model(**_model("scaled-model"))
    sagemaker.create_endpoint_config(**_config("scaled-config", "scaled-model"))
    other = _config("other-config", "scaled-model")
    other["ProductionVariants"][0]["VariantName"] = "v2"
    sagemaker.create_endpoint_config(**other)
    sagemaker.create_endpoint(EndpointName="scaled-ep", EndpointConfigName="scaled-config")
    autoscaling = sandbox.client("application-autoscaling")
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/scaled-ep/variant/v1",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    autoscaling.register_scalable_target(**target, MinCapacity=1, MaxCapacity=4)

    with pytest.raises(ClientError, match="registered as a scalable target"):
        sagemaker.update_endpoint(EndpointName="scaled-ep", EndpointConfigName="other-config")
    autoscaling.deregister_scalable_target(**target)
    sagemaker.update_endpoint(EndpointName="scaled-ep", EndpointConfigName="other-config")


def _scalable(sandbox: Sandbox, endpoint: str) -> tuple[Any, dict[str, str]]:
    autoscaling = sandbox.client("application-autoscaling")
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": f"endpoint/{endpoint}/variant/v1",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    autoscaling.register_scalable_target(**target, MinCapacity=1, MaxCapacity=4)
    return autoscaling, target


STEPS = {
    "AdjustmentType": "ChangeInCapacity",
    "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 2}],
    "Cooldown": 60,
}


def test_deregistering_a_scalable_target_deletes_its_policies_and_scheduled_actions(sandbox: Sandbox) -> None:
    autoscaling, target = _scalable(sandbox, "dereg-ep")
    autoscaling.put_scaling_policy(
        **target, PolicyName="steps", PolicyType="StepScaling", StepScalingPolicyConfiguration=STEPS
    )
    autoscaling.put_scheduled_action(**target, ScheduledActionName="nightly", Schedule="cron(0 20 * * ? *)")
    autoscaling.deregister_scalable_target(**target)

    by_target = {"ServiceNamespace": "sagemaker", "ResourceId": target["ResourceId"]}
    assert autoscaling.describe_scaling_policies(**by_target)["ScalingPolicies"] == []
    assert autoscaling.describe_scheduled_actions(**by_target)["ScheduledActions"] == []


def test_a_put_for_a_resource_that_is_not_a_scalable_target_is_refused(sandbox: Sandbox) -> None:
    autoscaling = sandbox.client("application-autoscaling")
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/never-registered/variant/v1",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    with pytest.raises(autoscaling.exceptions.ObjectNotFoundException, match="No scalable target registered"):
        autoscaling.put_scaling_policy(
            **target, PolicyName="steps", PolicyType="StepScaling", StepScalingPolicyConfiguration=STEPS
        )
    with pytest.raises(autoscaling.exceptions.ObjectNotFoundException, match="No scalable target registered"):
        autoscaling.put_scheduled_action(**target, ScheduledActionName="a", Schedule="rate(1 day)")


def test_a_step_policy_lists_the_alarms_that_invoke_it(sandbox: Sandbox) -> None:
    autoscaling, target = _scalable(sandbox, "alarmed-ep")
    arn = autoscaling.put_scaling_policy(
        **target, PolicyName="steps", PolicyType="StepScaling", StepScalingPolicyConfiguration=STEPS
    )["PolicyARN"]
    sandbox.client("cloudwatch").put_metric_alarm(
        AlarmName="alarmed-ep-cpu",
        Namespace="/aws/sagemaker/Endpoints",
        MetricName="CPUUtilization",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=70.0,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[arn],
    )
    (policy,) = autoscaling.describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=target["ResourceId"]
    )["ScalingPolicies"]
    assert [alarm["AlarmName"] for alarm in policy["Alarms"]] == ["alarmed-ep-cpu"]


def test_a_configuration_the_adapter_reads_is_accepted_back_as_it_was(sandbox: Sandbox) -> None:
    """What AutoscalingGateway.configuration keeps (times as ISO text, for the rollout record) goes back
    through the Put* calls and reads the same."""
    autoscaling, target = _scalable(sandbox, "roundtrip-ep")
    autoscaling.register_scalable_target(**target, SuspendedState={"ScheduledScalingSuspended": True})
    autoscaling.put_scaling_policy(
        **target, PolicyName="steps", PolicyType="StepScaling", StepScalingPolicyConfiguration=STEPS
    )
    autoscaling.put_scheduled_action(
        **target,
        ScheduledActionName="business-hours",
        Schedule="cron(0 8 ? * MON-FRI *)",
        Timezone="Europe/Berlin",
        StartTime=datetime(2026, 1, 1, tzinfo=UTC),
        EndTime=datetime(2027, 1, 1, tzinfo=UTC),
        ScalableTargetAction={"MinCapacity": 2, "MaxCapacity": 4},
    )
    gateway = AutoscalingGateway(autoscaling)
    before = gateway.configuration("roundtrip-ep", "v1")
    assert before is not None
    autoscaling.deregister_scalable_target(**target)

    gateway.register(before["target"])
    for policy in before["policies"]:
        gateway.put_policy(policy["request"])
    for action in before["scheduled_actions"]:
        gateway.put_scheduled_action(action)

    after = gateway.configuration("roundtrip-ep", "v1")
    assert after is not None
    assert after["target"] == before["target"]
    assert [p["request"] for p in after["policies"]] == [p["request"] for p in before["policies"]]
    assert after["scheduled_actions"] == before["scheduled_actions"]
    assert before["scheduled_actions"][0]["StartTime"] == "2026-01-01T00:00:00+00:00"
