"""The rollout's own role may carry a variant's whole autoscaling (issue 9, finding 11), proven by running
the adapters under a session of RolloutStepFunction's role with IAM enforced (Sandbox(enforce_iam=True),
roles from template.yaml through the SAM translator): read the configuration (DescribeScheduledActions
included), deregister it, re-create it (PutScheduledAction included), and update the user's alarm that
invoked the step policy. moto ignores the statement's `ForAnyValue:StringLike` condition on
cloudwatch:AlarmActions (it evaluates StringEquals only), so this proves the action and resource."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from sluice.adapters.autoscaling import AutoscalingGateway
from sluice.adapters.cloudwatch import AlarmGateway
from sluice.domain.rollout.scaling import ScalingSnapshot, repointed_alarm
from sluice.domain.rollout_plan import scalable_target
from sluice_cli.sandbox.iam_enforcement import RoleSessions
from sluice_cli.sandbox.server import Sandbox

pytestmark = pytest.mark.slow

ENDPOINT = "iam-scaled"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(enforce_iam=True, start_router=False, evaluate_alarms=False) as running:
        yield running


def rollout_role_client(sandbox: Sandbox, service: str) -> Any:
    function = sandbox.outputs.outputs["RolloutStepFunctionName"]
    role = sandbox.client("lambda").get_function(FunctionName=function)["Configuration"]["Role"]
    key, secret, token = RoleSessions(sandbox.outputs.account_id, sandbox.outputs.region).credentials(role)
    return boto3.client(
        service,
        endpoint_url=sandbox.endpoint_url,
        region_name=sandbox.outputs.region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
    )


def test_the_rollout_role_may_snapshot_deregister_and_re_create_a_variants_scaling(sandbox: Sandbox) -> None:
    key = scalable_target(ENDPOINT, "v1")
    admin = sandbox.client("application-autoscaling")
    admin.register_scalable_target(**key, MinCapacity=1, MaxCapacity=4)
    arn = admin.put_scaling_policy(
        **key,
        PolicyName="steps",
        PolicyType="StepScaling",
        StepScalingPolicyConfiguration={
            "AdjustmentType": "ChangeInCapacity",
            "StepAdjustments": [{"ScalingAdjustment": 1}],
        },
    )["PolicyARN"]
    admin.put_scheduled_action(**key, ScheduledActionName="nightly", Schedule="cron(0 20 * * ? *)")
    sandbox.client("cloudwatch").put_metric_alarm(
        AlarmName=f"{ENDPOINT}-cpu",
        Namespace="/aws/sagemaker/Endpoints",
        MetricName="CPUUtilization",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=70.0,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[arn],
    )
    autoscaling = AutoscalingGateway(rollout_role_client(sandbox, "application-autoscaling"))
    alarms = AlarmGateway(rollout_role_client(sandbox, "cloudwatch"))

    snapshot = ScalingSnapshot.of("v1", autoscaling.configuration(ENDPOINT, "v1"))
    assert snapshot.step_alarms() == [f"{ENDPOINT}-cpu"]
    assert autoscaling.remove(key) is True
    autoscaling.register(snapshot.target)
    for policy in snapshot.policies:
        autoscaling.put_policy(policy.request)
    for action in snapshot.scheduled_actions:
        autoscaling.put_scheduled_action(action)
    now = autoscaling.configuration(ENDPOINT, "v1")
    assert now is not None
    (alarm,) = alarms.alarm_requests(snapshot.step_alarms())
    request = repointed_alarm(alarm, {arn: now["policies"][0]["policy_arn"]}, ENDPOINT, "v1", "v1")
    assert request is not None
    alarms.update_alarm(request)

    described = sandbox.client("cloudwatch").describe_alarms(AlarmNames=[f"{ENDPOINT}-cpu"])["MetricAlarms"]
    assert described[0]["AlarmActions"] == [now["policies"][0]["policy_arn"]]
    assert [a["ScheduledActionName"] for a in now["scheduled_actions"]] == ["nightly"]
