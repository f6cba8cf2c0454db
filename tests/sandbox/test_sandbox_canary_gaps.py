"""The gap-fillers canary rollouts need: UpdateEndpoint (and its Updating phase), alarm state change
events, lambda:invoke tasks running the real handler in-process, compressed Step Functions time, state
machines provisioned from a template and started by EventBridge rules.

The first half runs the fillers on plain in-process moto (`mock_aws`); the second half a whole Sandbox
on a test template (tmp) whose state machine has a lambda:invoke task with Retry/Catch, a Wait of 10 s
and a bake on `sqs:sendMessage.waitForTaskToken`, at time_scale 0.02.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import fake_handlers
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from sluice.settings import WALL_CLOCK_SETTINGS, Settings
from sluice_cli.sandbox import Sandbox
from sluice_cli.sandbox.aws_state.cloudwatch import ALARM_DETAIL_TYPE, alarm_timestamp, set_alarm_state
from sluice_cli.sandbox.aws_state.sagemaker import endpoint_variants
from sluice_cli.sandbox.gaps.awslambda import StepFunctionsLambdaTasks
from sluice_cli.sandbox.gaps.cloudwatch import AlarmStateChangeEvents
from sluice_cli.sandbox.gaps.events import EventBridgeTargetEventAccount
from sluice_cli.sandbox.gaps.sagemaker_endpoint import UpdateEndpoint
from sluice_cli.sandbox.gaps.time_compression import TimeCompression
from sluice_cli.sandbox.lambda_runtime import ThreadEnviron, run_handler, runtime_environment
from sluice_cli.sandbox.provision.stack import EventInvokeSettings, FunctionSpec
from sluice_cli.sandbox.provision.state_machines import substitute_definition
from sluice_cli.sandbox.server import DEFAULT_TEMPLATE
from sluice_cli.sandbox.template import TemplateError, load_template

ACCOUNT = "123456789012"
REGION = "us-east-1"
Clients = Callable[[str], Any]


# --------------------------------------------------------------------------------------------------
# On plain moto
# --------------------------------------------------------------------------------------------------
@pytest.fixture
def aws() -> Iterator[Clients]:
    with mock_aws(config={"iam": {"load_aws_managed_policies": True}}):  # as the sandbox runs moto
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        yield session.client


def _variant(name: str, weight: float | None, count: int = 1) -> dict[str, Any]:
    variant: dict[str, Any] = {
        "VariantName": name,
        "ModelName": "model",
        "InitialInstanceCount": count,
        "InstanceType": "ml.m5.large",
    }
    if weight is not None:
        variant["InitialVariantWeight"] = weight
    return variant


def _endpoint(aws: Clients, configs: dict[str, list[dict[str, Any]]], endpoint: str = "ep") -> Any:
    """Model, endpoint configs and an endpoint on the first config; the sagemaker client."""
    sagemaker = aws("sagemaker")
    sagemaker.create_model(
        ModelName="model",
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/model",
        PrimaryContainer={"Image": "image"},
    )
    for name, variants in configs.items():
        sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=variants)
    sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=next(iter(configs)))
    return sagemaker


def _weights(sagemaker: Any, endpoint: str = "ep") -> dict[str, tuple[Any, ...]]:
    """variant -> (CurrentWeight, DesiredWeight, CurrentInstanceCount, DesiredInstanceCount)."""
    described = sagemaker.describe_endpoint(EndpointName=endpoint)
    keys = ("CurrentWeight", "DesiredWeight", "CurrentInstanceCount", "DesiredInstanceCount")
    return {v["VariantName"]: tuple(v.get(k) for k in keys) for v in described["ProductionVariants"]}


def _wait_status(sagemaker: Any, status: str, endpoint: str = "ep", timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sagemaker.describe_endpoint(EndpointName=endpoint)
        if described["EndpointStatus"] == status or time.monotonic() > deadline:
            return described
        time.sleep(0.05)


def test_endpoint_variants_follow_the_config_as_aws_reports_them() -> None:
    config = [_variant("base", 1.0, 2), _variant("candidate", 0.0), _variant("unweighted", None)]
    assert endpoint_variants(config) == [
        {"VariantName": "base", "CurrentWeight": 1.0, "DesiredWeight": 1.0, "CurrentInstanceCount": 2,
         "DesiredInstanceCount": 2},
        {"VariantName": "candidate", "CurrentWeight": 0.0, "DesiredWeight": 0.0, "CurrentInstanceCount": 1,
         "DesiredInstanceCount": 1},
        {"VariantName": "unweighted", "CurrentWeight": 1.0, "DesiredWeight": 1.0, "CurrentInstanceCount": 1,
         "DesiredInstanceCount": 1},
    ]  # fmt: skip
    current = {"base": {"VariantName": "base", "DesiredWeight": 90.0, "DesiredInstanceCount": 4}}
    (kept,) = endpoint_variants([_variant("base", 1.0, 2)], current, {"DesiredWeight"})
    assert (kept["CurrentWeight"], kept["CurrentInstanceCount"]) == (90.0, 2)


def test_update_endpoint_swaps_config_variants_and_weights(aws: Clients) -> None:
    with UpdateEndpoint():
        sagemaker = _endpoint(
            aws,
            {
                "one": [_variant("v1", 1.0, 2)],
                "two": [_variant("v1", 1.0, 2), _variant("v2", 0.0)],
                "three": [_variant("v1", 1.0, 2), _variant("v2", 0.0)],
            },
        )
        arn = sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="two")["EndpointArn"]
        described = sagemaker.describe_endpoint(EndpointName="ep")
        assert (arn, described["EndpointConfigName"], described["EndpointStatus"]) == (
            described["EndpointArn"],
            "two",
            "InService",
        )
        assert _weights(sagemaker) == {"v1": (1.0, 1.0, 2, 2), "v2": (0.0, 0.0, 1, 1)}

        sagemaker.update_endpoint_weights_and_capacities(
            EndpointName="ep",
            DesiredWeightsAndCapacities=[
                {"VariantName": "v1", "DesiredWeight": 90.0, "DesiredInstanceCount": 2},
                {"VariantName": "v2", "DesiredWeight": 10.0, "DesiredInstanceCount": 1},
            ],
        )
        assert _weights(sagemaker) == {"v1": (90.0, 90.0, 2, 2), "v2": (10.0, 10.0, 1, 1)}

        # RetainAllVariantProperties keeps the weights the variants have (not the config's).
        sagemaker.update_endpoint(
            EndpointName="ep",
            EndpointConfigName="three",
            RetainAllVariantProperties=True,
            ExcludeRetainedVariantProperties=[{"VariantPropertyType": "DesiredInstanceCount"}],
        )
        assert _weights(sagemaker) == {"v1": (90.0, 90.0, 2, 2), "v2": (10.0, 10.0, 1, 1)}

        # Back to one variant: the candidate is gone.
        sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="one")
        assert _weights(sagemaker) == {"v1": (1.0, 1.0, 2, 2)}


def test_update_endpoint_errors_as_aws(aws: Clients) -> None:
    with UpdateEndpoint():
        sagemaker = _endpoint(aws, {"one": [_variant("v1", 1.0)]})
        with pytest.raises(ClientError, match="Could not find endpoint configuration") as missing_config:
            sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="nope")
        assert missing_config.value.response["Error"]["Code"] == "ValidationException"
        with pytest.raises(ClientError, match="Could not find endpoint") as missing_endpoint:
            sagemaker.update_endpoint(EndpointName="nope", EndpointConfigName="one")
        assert missing_endpoint.value.response["Error"]["Code"] == "ValidationException"


def test_moto_create_endpoint_drops_a_zero_weight(aws: Clients) -> None:
    """moto 5.2.5's CreateEndpoint skips InitialVariantWeight 0 (falsy): no CurrentWeight (AWS: 0.0).
    UpdateEndpoint (the filler) reports it; when this fails, moto fixed CreateEndpoint."""
    sagemaker = _endpoint(aws, {"one": [_variant("v1", 1.0), _variant("v2", 0.0)]})
    assert _weights(sagemaker)["v2"] == (None, None, 1, 1)


def test_omitting_a_desired_field_erases_it_in_moto(aws: Clients) -> None:
    """moto's UpdateEndpointWeightsAndCapacities (kept as it is, docs/EMULATION.md): a variant sent
    without DesiredInstanceCount loses its instance counts; without DesiredWeight, its weights."""
    with UpdateEndpoint():
        sagemaker = _endpoint(aws, {"one": [_variant("v1", 1.0, 2), _variant("v2", 1.0, 3)]})
        sagemaker.update_endpoint_weights_and_capacities(
            EndpointName="ep",
            DesiredWeightsAndCapacities=[
                {"VariantName": "v1", "DesiredWeight": 0.5},
                {"VariantName": "v2", "DesiredInstanceCount": 4},
            ],
        )
        assert _weights(sagemaker) == {"v1": (0.5, 0.5, None, None), "v2": (None, None, 4, 4)}


def test_updating_phase_refuses_a_second_update_then_settles(aws: Clients) -> None:
    with UpdateEndpoint(update_delay_seconds=0.3) as gap:
        sagemaker = _endpoint(aws, {"one": [_variant("v1", 1.0, 2)], "two": [_variant("v2", 1.0, 1)]})
        sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="two")
        updating = sagemaker.describe_endpoint(EndpointName="ep")
        assert (updating["EndpointStatus"], updating["EndpointConfigName"]) == ("Updating", "one")
        assert updating["PendingDeploymentSummary"]["EndpointConfigName"] == "two"
        assert [v["VariantName"] for v in updating["PendingDeploymentSummary"]["ProductionVariants"]] == [
            "v2"
        ]
        assert gap.pending() == 1
        for call in (
            lambda: sagemaker.update_endpoint(EndpointName="ep", EndpointConfigName="one"),
            lambda: sagemaker.update_endpoint_weights_and_capacities(
                EndpointName="ep",
                DesiredWeightsAndCapacities=[
                    {"VariantName": "v1", "DesiredWeight": 1.0, "DesiredInstanceCount": 1}
                ],
            ),
        ):
            with pytest.raises(
                ClientError, match=r'Cannot update in-progress endpoint ".*:endpoint/ep"\.'
            ) as busy:
                call()
            assert busy.value.response["Error"]["Code"] == "ValidationException"

        done = _wait_status(sagemaker, "InService")
        assert (done["EndpointStatus"], done["EndpointConfigName"]) == ("InService", "two")
        assert "PendingDeploymentSummary" not in done
        assert _weights(sagemaker) == {"v2": (1.0, 1.0, 1, 1)}

        # Weights too: Desired at once, Current when the update is done.
        sagemaker.update_endpoint_weights_and_capacities(
            EndpointName="ep",
            DesiredWeightsAndCapacities=[
                {"VariantName": "v2", "DesiredWeight": 3.0, "DesiredInstanceCount": 2}
            ],
        )
        assert sagemaker.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Updating"
        assert _weights(sagemaker) == {"v2": (1.0, 3.0, 1, 2)}
        _wait_status(sagemaker, "InService")
        assert _weights(sagemaker) == {"v2": (3.0, 3.0, 2, 2)}
        assert gap.pending() == 0


def test_a_weights_only_change_may_be_updating_for_less_time_than_one_adding_instances(aws: Clients) -> None:
    """`--weights-update-seconds`: SageMaker launches nothing for a weights change that keeps every
    instance count, so the sandbox may settle it sooner than a change of capacity."""
    with UpdateEndpoint(update_delay_seconds=30.0, weights_update_delay_seconds=0.2) as gap:
        sagemaker = _endpoint(aws, {"one": [_variant("v1", 1.0, 2)]})
        sagemaker.update_endpoint_weights_and_capacities(
            EndpointName="ep",
            DesiredWeightsAndCapacities=[
                {"VariantName": "v1", "DesiredWeight": 2.0, "DesiredInstanceCount": 2}
            ],
        )
        assert sagemaker.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Updating"
        _wait_status(sagemaker, "InService")  # well before the 30 s of a capacity change
        assert _weights(sagemaker) == {"v1": (2.0, 2.0, 2, 2)}

        sagemaker.update_endpoint_weights_and_capacities(
            EndpointName="ep",
            DesiredWeightsAndCapacities=[
                {"VariantName": "v1", "DesiredWeight": 2.0, "DesiredInstanceCount": 3}
            ],
        )
        time.sleep(0.5)
        assert sagemaker.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Updating"  # launching
        assert gap.pending() == 1


def _alarm_queue(aws: Clients) -> str:
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName="alarm-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = aws("events")
    pattern = {"source": ["aws.cloudwatch"], "detail-type": [ALARM_DETAIL_TYPE]}
    events.put_rule(Name="alarm-events", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="alarm-events", Targets=[{"Id": "q", "Arn": arn}])
    return str(url)


def _received(aws: Clients, url: str) -> list[dict[str, Any]]:
    messages = aws("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        aws("sqs").delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(m["Body"]) for m in messages]


def test_alarm_state_changes_put_the_cloudwatch_event(aws: Clients) -> None:
    with EventBridgeTargetEventAccount(), AlarmStateChangeEvents():
        url = _alarm_queue(aws)
        cloudwatch = aws("cloudwatch")
        cloudwatch.put_metric_alarm(
            AlarmName="sluice-ep-v2-errors",
            AlarmDescription="candidate errors",
            Namespace="AWS/SageMaker",
            MetricName="Invocation5XXErrors",
            Dimensions=[{"Name": "EndpointName", "Value": "ep"}, {"Name": "VariantName", "Value": "v2"}],
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
        alarm_arn = cloudwatch.describe_alarms(AlarmNames=["sluice-ep-v2-errors"])["MetricAlarms"][0][
            "AlarmArn"
        ]
        cloudwatch.set_alarm_state(
            AlarmName="sluice-ep-v2-errors",
            StateValue="ALARM",
            StateReason="errors",
            StateReasonData='{"n":3}',
        )
        (event,) = _received(aws, url)
        assert (event["source"], event["detail-type"], event["resources"]) == (
            "aws.cloudwatch",
            ALARM_DETAIL_TYPE,
            [alarm_arn],
        )
        assert (event["account"], event["region"]) == (ACCOUNT, REGION)
        detail = event["detail"]
        assert detail["alarmName"] == "sluice-ep-v2-errors"
        assert {k: v for k, v in detail["state"].items() if k != "timestamp"} == {
            "value": "ALARM",
            "reason": "errors",
            "reasonData": '{"n":3}',
        }
        assert detail["previousState"]["value"] == "OK"
        assert "reasonData" not in detail["previousState"]
        assert detail["state"]["timestamp"].endswith("+0000")
        (metric,) = detail["configuration"]["metrics"]
        assert detail["configuration"]["description"] == "candidate errors"
        assert metric["metricStat"] == {
            "metric": {
                "dimensions": {"EndpointName": "ep", "VariantName": "v2"},
                "name": "Invocation5XXErrors",
                "namespace": "AWS/SageMaker",
            },
            "period": 60,
            "stat": "Sum",
        }
        assert metric["returnData"] is True

        # The same state again: a new reason, no transition, no event.
        cloudwatch.set_alarm_state(AlarmName="sluice-ep-v2-errors", StateValue="ALARM", StateReason="still")
        assert _received(aws, url) == []

        # Back to OK: previousState is the ALARM just left.
        cloudwatch.set_alarm_state(AlarmName="sluice-ep-v2-errors", StateValue="OK", StateReason="recovered")
        (recovered,) = _received(aws, url)
        assert recovered["detail"]["state"]["value"] == "OK"
        assert recovered["detail"]["previousState"]["value"] == "ALARM"
        assert recovered["detail"]["previousState"]["reason"] == "still"


def test_metric_math_alarm_configuration_and_the_evaluators_helper(aws: Clients) -> None:
    with AlarmStateChangeEvents():
        url = _alarm_queue(aws)
        metric = {"Namespace": "AWS/SageMaker", "MetricName": "Invocations", "Dimensions": []}
        aws("cloudwatch").put_metric_alarm(
            AlarmName="ratio",
            EvaluationPeriods=1,
            Threshold=0.01,
            ComparisonOperator="GreaterThanThreshold",
            Metrics=[
                {
                    "Id": "calls",
                    "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Sum"},
                    "ReturnData": False,
                },
                {"Id": "rate", "Expression": "calls / 100", "Label": "rate", "ReturnData": True},
            ],
        )
        assert set_alarm_state(ACCOUNT, REGION, "ratio", "ALARM", "threshold crossed") is True
        assert set_alarm_state(ACCOUNT, REGION, "ratio", "ALARM", "threshold crossed") is False
        (event,) = _received(aws, url)
        calls, rate = event["detail"]["configuration"]["metrics"]
        assert (calls["id"], calls["returnData"], calls["metricStat"]["stat"]) == ("calls", False, "Sum")
        assert (rate["id"], rate["expression"], rate["returnData"]) == ("rate", "calls / 100", True)


def test_alarm_timestamps_are_cloudwatchs() -> None:
    import datetime as dt

    moment = dt.datetime(2019, 10, 1, 13, 56, 40, 987654)
    assert alarm_timestamp(moment) == "2019-10-01T13:56:40.987+0000"
    assert alarm_timestamp(moment.replace(tzinfo=dt.UTC)) == "2019-10-01T13:56:40.987+0000"


def test_lambda_tasks_without_a_bound_invoker_fail_as_a_function_error() -> None:
    gap = StepFunctionsLambdaTasks()
    payload, errored, _ = gap.invoke("fn", '{"a": 1}')
    assert errored
    assert json.loads(payload)["errorType"] == "Sandbox.NoHandler"
    seen: list[tuple[str, Any]] = []
    gap.bind(lambda name, event: (seen.append((name, event)), ("{}", False, ""))[1])
    assert gap.invoke("fn", '{"a": 1}') == ("{}", False, "")
    assert gap.invoke("fn", None) == ("{}", False, "")
    assert seen == [("fn", {"a": 1}), ("fn", {})]


def test_time_compression_refuses_a_scale_that_stops_time() -> None:
    with pytest.raises(ValueError, match="time_scale"):
        TimeCompression(time_scale=0)
    assert TimeCompression(time_scale=0.02).scaled(300) == pytest.approx(6.0)


def _function(name: str, environment: dict[str, str], handler: str = "fake_handlers.sleeper") -> FunctionSpec:
    return FunctionSpec(
        logical_id=name,
        name=name,
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        handler=handler,
        environment=environment,
        timeout_seconds=120,
        memory_mb=128,
        event_invoke=EventInvokeSettings(),
    )


def test_the_waits_inside_a_function_run_at_the_sandboxs_time_scale() -> None:
    """ReadEndpoint polls within its invocation (ENDPOINT_POLL_INTERVAL_SECONDS, _BUDGET_SECONDS): at
    time_scale 0.01 its 2 s interval and 60 s budget last 0.02 s and 0.6 s, as a 15 s Wait lasts 0.15 s."""
    declared = {"ENDPOINT_POLL_INTERVAL_SECONDS": "2", "ENDPOINT_POLL_BUDGET_SECONDS": "60", "OTHER": "2"}
    environment = runtime_environment(_function("poller", declared), "us-east-1", 0.01)
    assert float(environment["ENDPOINT_POLL_INTERVAL_SECONDS"]) == pytest.approx(0.02)
    assert float(environment["ENDPOINT_POLL_BUDGET_SECONDS"]) == pytest.approx(0.6)
    assert environment["OTHER"] == "2"  # only the settings Sluice declares as wall-clock waits
    real_time = runtime_environment(_function("poller", declared), "us-east-1")
    assert real_time["ENDPOINT_POLL_BUDGET_SECONDS"] == "60.0"
    aliases = {field.alias for field in Settings.model_fields.values()}
    assert set(WALL_CLOCK_SETTINGS) <= aliases
    template = load_template(DEFAULT_TEMPLATE)
    (step,) = [f for f in template.functions if f.logical_id == "RolloutStepFunction"]
    assert set(WALL_CLOCK_SETTINGS) <= set(step.properties["Environment"]["Variables"])


def test_a_sleeping_handler_lets_other_invocations_run_and_wakes_in_its_own_environment() -> None:
    """Lambda runs each invocation in its own execution environment; the sandbox runs one at a time,
    except while a handler sleeps: a task polling an endpoint must not hold up the alarm handler."""
    fake_handlers.reset()
    results: dict[str, Any] = {}

    def slow() -> None:
        function = _function("a", {"SANDBOX_TEST_WHO": "a"})
        results["a"] = run_handler(function, {"seconds": 1.0}, "us-east-1", "r-a")

    sleeping = threading.Thread(target=slow)
    sleeping.start()
    deadline = time.monotonic() + 5
    while not fake_handlers.calls("sleeper") and time.monotonic() < deadline:
        time.sleep(0.01)
    quick, error = run_handler(_function("b", {"SANDBOX_TEST_WHO": "b"}), {"seconds": 0}, "us-east-1", "r-b")
    sleeping.join(10)

    slept, slept_error = results["a"]
    assert (error, slept_error) == (None, None)
    assert quick["who"] == "b"
    assert slept["who"] == "a"  # its own environment after the other invocation came and went
    assert quick["woke_at"] < slept["woke_at"]  # b ran while a slept
    assert not isinstance(os.environ, ThreadEnviron)  # both done: the process's own again
    assert time.sleep is not None and time.sleep.__module__ == "time"


# --------------------------------------------------------------------------------------------------
# In a Sandbox, from a template
# --------------------------------------------------------------------------------------------------
CANARY_ASL = {
    "Comment": "sandbox test: a lambda task with retries, a wait, a bake on a task token",
    "StartAt": "Work",
    "States": {
        "Work": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "${WorkerArn}", "Payload.$": "$"},
            "ResultSelector": {"result.$": "$.Payload"},
            "ResultPath": "$.work",
            "Retry": [
                {"ErrorEquals": ["RuntimeError"], "IntervalSeconds": 10, "BackoffRate": 2.0, "MaxAttempts": 2}
            ],
            "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "WorkFailed"}],
            "Next": "Pause",
        },
        "WorkFailed": {"Type": "Pass", "Result": "work failed", "ResultPath": "$.verdict", "End": True},
        "Pause": {"Type": "Wait", "Seconds": 10, "Next": "Bake"},
        "Bake": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {
                "QueueUrl": "${TokenQueueUrl}",
                "MessageBody": {"token.$": "$$.Task.Token", "key.$": "$.key"},
            },
            "TimeoutSecondsPath": "$.bake_seconds",
            "ResultPath": "$.bake",
            "Catch": [
                {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.bake", "Next": "BakeTimedOut"},
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Aborted"},
            ],
            "Next": "Approved",
        },
        "BakeTimedOut": {"Type": "Pass", "Result": "healthy", "ResultPath": "$.verdict", "End": True},
        "Aborted": {"Type": "Pass", "Result": "aborted", "ResultPath": "$.verdict", "End": True},
        "Approved": {"Type": "Pass", "Result": "approved", "ResultPath": "$.verdict", "End": True},
    },
}  # fmt: skip

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.13
    Timeout: 10
    Environment:
      Variables:
        SANDBOX_TEST_QUEUE: !Ref TokenQueue
Resources:
  TokenQueue:
    Type: AWS::SQS::Queue
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Handler: fake_handlers.flaky
  Canary:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: statemachines/canary.asl.json
      DefinitionSubstitutions:
        WorkerArn: !GetAtt Worker.Arn
        TokenQueueUrl: !Ref TokenQueue
      Events:
        Kick:
          Type: EventBridgeRule
          Properties:
            Pattern: {source: [test.canary]}
            InputPath: $.detail
  MachineRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement: [{Effect: Allow, Principal: {Service: states.amazonaws.com}, Action: sts:AssumeRole}]
  Pauser:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      RoleArn: !GetAtt MachineRole.Arn
      DefinitionString: >-
        {"StartAt": "Pause", "States": {"Pause": {"Type": "Wait", "Seconds": 10, "End": true}}}
  PauseRule:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: {source: [test.pause]}
      Targets: [{Id: pause, Arn: !Ref Pauser, RoleArn: !GetAtt MachineRole.Arn}]
  Updater:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      RoleArn: !GetAtt MachineRole.Arn
      Definition:
        StartAt: Update
        States:
          Update:
            Type: Task
            Resource: arn:aws:states:::aws-sdk:sagemaker:updateEndpoint
            Parameters: {EndpointName.$: $.endpoint, EndpointConfigName.$: $.config}
            ResultSelector: {EndpointArn.$: $.EndpointArn}
            ResultPath: $.updated
            Catch: [{ErrorEquals: [States.ALL], ResultPath: $.error, Next: Refused}]
            End: true
          Refused: {Type: Pass, End: true}
Outputs:
  CanaryArn:
    Value: !Ref Canary
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    root = tmp_path_factory.mktemp("canary")
    (root / "statemachines").mkdir()
    (root / "statemachines" / "canary.asl.json").write_text(json.dumps(CANARY_ASL, indent=2))
    (root / "template.yaml").write_text(TEMPLATE)
    # An engine test on a template without policies: IAM is not what it is about.
    with Sandbox(root / "template.yaml", stack_name="gaps", time_scale=0.02, enforce_iam=False) as running:
        yield running


def _history(sandbox: Sandbox, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = sandbox.client("stepfunctions").get_execution_history(
        executionArn=execution_arn, maxResults=1000
    )["events"]
    return events


def _bake_token(sandbox: Sandbox, key: str, timeout: float = 10.0) -> str:
    """The task token the Bake state sent for the execution of `key`."""
    sqs = sandbox.client("sqs")
    url = sandbox.outputs.ref("TokenQueue")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            body = json.loads(message["Body"])
            if body["key"] == key:
                return str(body["token"])
    raise AssertionError(f"no bake token for {key}")


def test_state_machines_are_provisioned_from_the_template(sandbox: Sandbox) -> None:
    outputs = sandbox.outputs
    assert outputs.warnings == []
    canary = outputs.state_machines["Canary"]
    assert outputs.outputs["CanaryArn"] == canary.arn == outputs.ref("Canary")
    assert outputs.attribute("Canary", "Name") == canary.name
    sfn = sandbox.client("stepfunctions")
    described = sfn.describe_state_machine(stateMachineArn=canary.arn)
    definition = json.loads(described["definition"])
    worker = outputs.functions["Worker"]
    assert definition["States"]["Work"]["Parameters"]["FunctionName"] == worker.arn
    assert definition["States"]["Bake"]["Parameters"]["QueueUrl"] == outputs.ref("TokenQueue")
    assert described["roleArn"] == outputs.attribute("CanaryRole", "Arn")  # SAM's generated role
    assert sfn.describe_state_machine(stateMachineArn=outputs.ref("Pauser"))["roleArn"] == outputs.attribute(
        "MachineRole", "Arn"
    )
    # The function exists in moto's Lambda too (ARNs resolve), with its role and environment.
    configuration = sandbox.client("lambda").get_function(FunctionName=worker.name)["Configuration"]
    assert configuration["FunctionArn"] == worker.arn
    assert configuration["Handler"] == "fake_handlers.flaky"
    assert configuration["Role"] == outputs.attribute("WorkerRole", "Arn")
    assert configuration["Environment"]["Variables"] == {"SANDBOX_TEST_QUEUE": outputs.ref("TokenQueue")}
    # Both kinds of EventBridge -> state machine wiring, each through a route queue.
    routes = {(r.state_machine, r.event_name): r for r in outputs.state_machine_routes}
    assert set(routes) == {("Canary", "Kick"), ("Pauser", "pause")}
    assert routes[("Canary", "Kick")].input_path == "$.detail"
    events = sandbox.client("events")
    for route in routes.values():
        (target,) = events.list_targets_by_rule(Rule=route.rule_name)["Targets"]
        assert target["Arn"] == route.queue_arn


def test_a_wait_of_ten_seconds_is_compressed(sandbox: Sandbox) -> None:
    started = time.monotonic()
    execution = sandbox.router.start_execution("Pauser")
    assert sandbox.wait_for_execution(execution)["status"] == "SUCCEEDED"
    assert time.monotonic() - started < 5  # 10 s declared, 0.2 s at time_scale 0.02 (noisy machine)
    types = [e["type"] for e in _history(sandbox, execution)]
    assert [t for t in types if t.startswith("Wait")] == ["WaitStateEntered", "WaitStateExited"]


def test_lambda_task_retries_then_waits_and_a_token_approves(sandbox: Sandbox) -> None:
    execution = sandbox.router.start_execution(
        "Canary", {"key": "approve", "n": 21, "fail_first": 2, "bake_seconds": 300}
    )
    token = _bake_token(sandbox, "approve")
    sandbox.client("stepfunctions").send_task_success(taskToken=token, output=json.dumps({"approved": True}))
    described = sandbox.wait_for_execution(execution)
    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    assert output["work"]["result"] == {"doubled": 42, "attempt": 3}
    assert (output["bake"], output["verdict"]) == ({"approved": True}, "approved")

    history = _history(sandbox, execution)
    failures = [e["taskFailedEventDetails"] for e in history if e["type"] == "TaskFailed"]
    assert [f["error"] for f in failures] == ["RuntimeError", "RuntimeError"]  # the handler's errorType
    assert json.loads(failures[0]["cause"])["errorMessage"] == "flaky: attempt 1 of approve fails"
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")]
    assert entered == ["Work", "Pause", "Bake", "Approved"]
    # The real handler ran in-process, once per attempt, through moto's Lambda.
    calls = fake_handlers.calls("flaky")
    assert [c["event"]["key"] for c in calls] == ["approve"] * 3
    assert calls[0]["function_name"] == sandbox.outputs.functions["Worker"].name
    attempts = [
        i for i in sandbox.router.invocations_of("Worker") if i.event_id is None and i.source == "lambda"
    ]
    assert [i.outcome for i in attempts[-3:]] == ["failed", "failed", "succeeded"]


def test_a_token_failure_is_caught(sandbox: Sandbox) -> None:
    execution = sandbox.router.start_execution("Canary", {"key": "abort", "n": 1, "bake_seconds": 300})
    token = _bake_token(sandbox, "abort")
    sandbox.client("stepfunctions").send_task_failure(
        taskToken=token, error="Sluice.Abort", cause="alarm sluice-ep-v2-errors fired"
    )
    described = sandbox.wait_for_execution(execution)
    output = json.loads(described["output"])
    assert (described["status"], output["verdict"]) == ("SUCCEEDED", "aborted")
    assert output["error"]["Error"] == "Sluice.Abort"
    assert not output["error"].get("Cause")  # moto 5.2.5 drops the Cause (docs/EMULATION.md)


def test_a_bake_times_out_from_its_timeout_seconds_path(sandbox: Sandbox) -> None:
    execution = sandbox.router.start_execution("Canary", {"key": "quiet", "n": 1, "bake_seconds": 10})
    described = sandbox.wait_for_execution(execution)
    output = json.loads(described["output"])
    assert (described["status"], output["verdict"]) == ("SUCCEEDED", "healthy")
    assert output["bake"]["Error"] == "States.Timeout"
    (scheduled,) = [
        e["taskScheduledEventDetails"]
        for e in _history(sandbox, execution)
        if e["type"] == "TaskScheduled" and e["taskScheduledEventDetails"]["resourceType"] == "sqs"
    ]
    assert scheduled["timeoutInSeconds"] == 10  # the history keeps the declared value


def test_a_handler_failing_every_attempt_is_caught_as_task_failed(sandbox: Sandbox) -> None:
    execution = sandbox.router.start_execution(
        "Canary", {"key": "broken", "fail_first": 9, "bake_seconds": 1}
    )
    described = sandbox.wait_for_execution(execution)
    output = json.loads(described["output"])
    assert (described["status"], output["verdict"]) == ("SUCCEEDED", "work failed")
    assert output["error"]["Error"] == "RuntimeError"
    assert json.loads(output["error"]["Cause"])["errorType"] == "RuntimeError"
    assert len(fake_handlers.calls("flaky")) == 3  # the first attempt and MaxAttempts 2


def test_direct_lambda_invoke_runs_the_handler(sandbox: Sandbox) -> None:
    lambda_ = sandbox.client("lambda")
    name = sandbox.outputs.functions["Worker"].name
    ok = lambda_.invoke(FunctionName=name, Payload=json.dumps({"key": "direct", "n": 5}))
    assert "FunctionError" not in ok
    assert json.loads(ok["Payload"].read()) == {"doubled": 10, "attempt": 1}
    failed = lambda_.invoke(FunctionName=name, Payload=json.dumps({"key": "direct-fail", "fail_first": 1}))
    assert failed["FunctionError"] == "Unhandled"
    assert json.loads(failed["Payload"].read())["errorType"] == "RuntimeError"


def test_eventbridge_rules_start_executions(sandbox: Sandbox) -> None:
    sandbox.client("events").put_events(
        Entries=[
            {
                "Source": "test.canary",
                "DetailType": "kick",
                "Detail": json.dumps({"key": "bus", "n": 2, "bake_seconds": 1}),
            },
            {"Source": "test.pause", "DetailType": "pause", "Detail": "{}"},
            {"Source": "test.elsewhere", "DetailType": "other", "Detail": "{}"},
        ]
    )
    deadline = time.monotonic() + 10
    started: dict[str, Any] = {}
    while time.monotonic() < deadline and len(started) < 2:
        started = {e.state_machine: e for e in sandbox.router.executions if e.trigger in {"Kick", "pause"}}
        time.sleep(0.05)
    assert set(started) == {"Canary", "Pauser"}
    kicked = started["Canary"]
    assert kicked.error is None
    assert kicked.event_id is not None
    described = sandbox.wait_for_execution(str(kicked.execution_arn))
    assert json.loads(described["input"]) == {"key": "bus", "n": 2, "bake_seconds": 1}  # InputPath $.detail
    assert (described["status"], json.loads(described["output"])["verdict"]) == ("SUCCEEDED", "healthy")
    assert sandbox.wait_for_execution(str(started["Pauser"].execution_arn))["status"] == "SUCCEEDED"
    # Unique names: the same rule starts a second execution.
    sandbox.client("events").put_events(
        Entries=[{"Source": "test.pause", "DetailType": "pause", "Detail": "{}"}]
    )
    sandbox.wait_idle()
    assert len(sandbox.router.executions_of("Pauser")) >= 2
    assert all(e.error is None for e in sandbox.router.executions)


def test_update_endpoint_from_a_state_machine_and_its_in_progress_error(sandbox: Sandbox) -> None:
    sagemaker = sandbox.client("sagemaker")
    sagemaker.create_model(
        ModelName="sfn-model",
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/model",
        PrimaryContainer={"Image": "image"},
    )
    for config in ("sfn-one", "sfn-two"):
        sagemaker.create_endpoint_config(
            EndpointConfigName=config,
            ProductionVariants=[{**_variant(config, 1.0), "ModelName": "sfn-model"}],
        )
    sagemaker.create_endpoint(EndpointName="sfn-ep", EndpointConfigName="sfn-one")
    gap = sandbox.gaps.get(UpdateEndpoint)
    gap.update_delay_seconds = 1.0
    try:
        first = sandbox.router.start_execution("Updater", {"endpoint": "sfn-ep", "config": "sfn-two"})
        updated = json.loads(sandbox.wait_for_execution(first)["output"])
        assert updated["updated"]["EndpointArn"].endswith(":endpoint/sfn-ep")
        busy = sandbox.router.start_execution("Updater", {"endpoint": "sfn-ep", "config": "sfn-one"})
        refused = json.loads(sandbox.wait_for_execution(busy)["output"])["error"]
    finally:
        gap.update_delay_seconds = 0.0
    # What a Retry/Catch sees of an aws-sdk:sagemaker error in moto (AWS: SageMaker.<exception>).
    assert refused["Error"] == "sagemaker.sagemakerException"
    assert "Cannot update in-progress endpoint" in refused["Cause"]
    assert _wait_status(sagemaker, "InService", "sfn-ep")["EndpointConfigName"] == "sfn-two"


def test_alarm_events_reach_the_bus_in_the_sandbox(sandbox: Sandbox) -> None:
    url = _alarm_queue(sandbox.client)
    cloudwatch = sandbox.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="served",
        Namespace="Test",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName="served", StateValue="ALARM", StateReason="fired")
    (event,) = _received(sandbox.client, url)
    assert (event["detail"]["alarmName"], event["detail"]["state"]["value"]) == ("served", "ALARM")


def test_invoke_endpoint_and_application_autoscaling_work(sandbox: Sandbox) -> None:
    body = sandbox.client("sagemaker-runtime").invoke_endpoint(EndpointName="any", Body=b"1,2")["Body"]
    assert body.read() == b"body"  # moto's canned answer (docs/EMULATION.md)
    scaling = sandbox.client("application-autoscaling")
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/ep/variant/v1",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    scaling.register_scalable_target(**target, MinCapacity=2, MaxCapacity=8)
    scaling.put_scaling_policy(
        **target,
        PolicyName="invocations",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 1500.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
            "ScaleInCooldown": 300,
            "ScaleOutCooldown": 60,
        },
    )
    (registered,) = scaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=["endpoint/ep/variant/v1"]
    )["ScalableTargets"]
    assert (registered["MinCapacity"], registered["MaxCapacity"]) == (2, 8)
    (policy,) = scaling.describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId="endpoint/ep/variant/v1"
    )["ScalingPolicies"]
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 1500.0
    scaling.deregister_scalable_target(**target)
    assert scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []


def test_a_template_placeholder_without_substitution_fails(tmp_path: Path) -> None:
    assert substitute_definition({"a": ["${X}-y"], "${X}": 1}, {"X": "x"}, "M") == {"a": ["x-y"], "x": 1}
    with pytest.raises(TemplateError, match=r"M: definition placeholder \$\{Y\}"):
        substitute_definition({"a": "${Y}"}, {"X": "x"}, "M")
