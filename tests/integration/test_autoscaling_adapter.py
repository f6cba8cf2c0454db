"""The autoscaling and alarm adapters read a variant's whole scaling configuration as AWS answers it:
every page (NextToken), each item cut to the fields of the call that creates it again. botocore's
Stubber checks each request against the service model and answers AWS's documented shapes (moto pages
scheduled actions never, and lists no alarms for a step policy)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from sluice.adapters.autoscaling import AutoscalingGateway
from sluice.adapters.cloudwatch import AlarmGateway
from sluice.errors import RefusedRequest

RID = "endpoint/fraud/variant/v1"
KEY = {
    "ServiceNamespace": "sagemaker",
    "ResourceId": RID,
    "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
}
WHEN = datetime(2026, 1, 1, tzinfo=UTC)
POLICY_ARN = (
    "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:6d8972f3-efc8-437c-92d1-6270f29a66e7:"
    f"resource/sagemaker/{RID}:policyName/cpu-steps"
)


def client(service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")


def policy(name: str, **config: Any) -> dict[str, Any]:
    return {**KEY, "PolicyName": name, "PolicyARN": f"{POLICY_ARN}-{name}", "CreationTime": WHEN, **config}


def action(name: str) -> dict[str, Any]:
    return {
        **KEY,
        "ScheduledActionName": name,
        "ScheduledActionARN": f"arn:aws:autoscaling:us-east-1:123456789012:scheduledAction:x:{name}",
        "Schedule": "cron(0 8 ? * MON-FRI *)",
        "Timezone": "Europe/Berlin",
        "StartTime": WHEN,
        "ScalableTargetAction": {"MinCapacity": 4},
        "CreationTime": WHEN,
    }


def test_configuration_reads_every_page_and_keeps_what_the_puts_accept() -> None:
    aas = client("application-autoscaling")
    stub = Stubber(aas)
    target = {
        **KEY,
        "MinCapacity": 2,
        "MaxCapacity": 8,
        "RoleARN": "arn:aws:iam::123456789012:role/aws-service-role/sagemaker.application-autoscaling"
        ".amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint",
        "CreationTime": WHEN,
        "SuspendedState": {"ScheduledScalingSuspended": True},
        "ScalableTargetARN": "arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/x",
    }
    described = {"ServiceNamespace": "sagemaker", "ScalableDimension": KEY["ScalableDimension"]}
    stub.add_response(
        "describe_scalable_targets", {"ScalableTargets": [target]}, {**described, "ResourceIds": [RID]}
    )
    step = policy(
        "cpu-steps",
        PolicyType="StepScaling",
        StepScalingPolicyConfiguration={
            "AdjustmentType": "ChangeInCapacity",
            "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 2}],
        },
        Alarms=[
            {"AlarmName": "cpu-high", "AlarmARN": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:cpu-high"}
        ],
    )
    tracking = policy(
        "latency",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={"TargetValue": 250.0, "DisableScaleIn": True},
    )
    by_resource = {**described, "ResourceId": RID}
    stub.add_response(
        "describe_scaling_policies", {"ScalingPolicies": [step], "NextToken": "p2"}, by_resource
    )
    stub.add_response(
        "describe_scaling_policies", {"ScalingPolicies": [tracking]}, {**by_resource, "NextToken": "p2"}
    )
    stub.add_response(
        "describe_scheduled_actions", {"ScheduledActions": [action("a")], "NextToken": "s2"}, by_resource
    )
    stub.add_response(
        "describe_scheduled_actions", {"ScheduledActions": [action("b")]}, {**by_resource, "NextToken": "s2"}
    )

    with stub:
        found = AutoscalingGateway(aas).configuration("fraud", "v1")
    stub.assert_no_pending_responses()

    assert found is not None
    # RoleARN left out (SageMaker scales through the service-linked role), ARNs and times of creation too
    assert found["target"] == {
        **KEY,
        "MinCapacity": 2,
        "MaxCapacity": 8,
        "SuspendedState": {"ScheduledScalingSuspended": True},
    }
    assert found["policies"] == [
        {
            "request": {k: v for k, v in step.items() if k not in {"PolicyARN", "CreationTime", "Alarms"}},
            "policy_arn": step["PolicyARN"],
            "alarms": ["cpu-high"],
        },
        {
            "request": {k: v for k, v in tracking.items() if k not in {"PolicyARN", "CreationTime"}},
            "policy_arn": tracking["PolicyARN"],
            "alarms": [],
        },
    ]
    assert [a["ScheduledActionName"] for a in found["scheduled_actions"]] == ["a", "b"]
    assert found["scheduled_actions"][0] == {
        **KEY,
        "ScheduledActionName": "a",
        "Schedule": "cron(0 8 ? * MON-FRI *)",
        "Timezone": "Europe/Berlin",
        "StartTime": "2026-01-01T00:00:00+00:00",  # JSON for the rollout record; boto3 takes it back
        "ScalableTargetAction": {"MinCapacity": 4},
    }


def test_an_unregistered_variant_reads_as_none() -> None:
    aas = client("application-autoscaling")
    stub = Stubber(aas)
    stub.add_response("describe_scalable_targets", {"ScalableTargets": []})
    with stub:
        assert AutoscalingGateway(aas).configuration("fraud", "v1") is None


def test_a_put_refused_for_what_it_holds_is_a_refused_request_and_throttling_is_not() -> None:
    aas = client("application-autoscaling")
    stub = Stubber(aas)
    request = {**KEY, "ScheduledActionName": "a", "Schedule": "at(2020-01-01T00:00:00)"}
    stub.add_client_error("put_scheduled_action", "ValidationException", "Start time is in the past")
    stub.add_client_error("put_scheduled_action", "ConcurrentUpdateException", "busy")
    gateway = AutoscalingGateway(aas)
    with stub:
        with pytest.raises(RefusedRequest, match="ValidationException: Start time is in the past"):
            gateway.put_scheduled_action(request)
        with pytest.raises(aas.exceptions.ConcurrentUpdateException):
            gateway.put_scheduled_action(request)


def test_alarm_requests_keep_every_field_put_metric_alarm_takes() -> None:
    cloudwatch = client("cloudwatch")
    stub = Stubber(cloudwatch)
    alarm = {
        "AlarmName": "cpu-high",
        "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:cpu-high",
        "AlarmDescription": "scale out",
        "ActionsEnabled": True,
        "AlarmActions": [POLICY_ARN],
        "OKActions": [],
        "InsufficientDataActions": [],
        "StateValue": "OK",
        "StateReason": "fine",
        "StateUpdatedTimestamp": WHEN,
        "AlarmConfigurationUpdatedTimestamp": WHEN,
        "MetricName": "CPUUtilization",
        "Namespace": "/aws/sagemaker/Endpoints",
        "Statistic": "Maximum",
        "Dimensions": [{"Name": "EndpointName", "Value": "fraud"}, {"Name": "VariantName", "Value": "v1"}],
        "Period": 60,
        "EvaluationPeriods": 2,
        "DatapointsToAlarm": 2,
        "Threshold": 70.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "missing",
    }
    query = {"AlarmNames": ["cpu-high"], "AlarmTypes": ["MetricAlarm"]}
    stub.add_response("describe_alarms", {"MetricAlarms": [alarm], "NextToken": "n"}, query)
    stub.add_response("describe_alarms", {"MetricAlarms": []}, {**query, "NextToken": "n"})
    with stub:
        (request,) = AlarmGateway(cloudwatch).alarm_requests(["cpu-high"])
    described_only = {
        "AlarmArn",
        "StateValue",
        "StateReason",
        "StateUpdatedTimestamp",
        "AlarmConfigurationUpdatedTimestamp",
    }
    assert request == {k: v for k, v in alarm.items() if k not in described_only}
