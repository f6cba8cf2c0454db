"""The running sandbox: S3 -> EventBridge -> route queue -> handler, Lambda retries and destinations,
SQS batches, and the transform-job gap-filler driving jobs to their end."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fake_handlers
import pytest
from botocore.exceptions import ClientError

from sluice_cli.sandbox import Sandbox

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Timeout: 10
    MemorySize: 256
    Environment:
      Variables:
        SANDBOX_TEST_BUCKET: !Ref Bucket
    EventInvokeConfig:
      MaximumRetryAttempts: 2
      DestinationConfig:
        OnFailure:
          Type: SQS
          Destination: !GetAtt FailureQueue.Arn
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {Status: Enabled}
      NotificationConfiguration:
        EventBridgeConfiguration: {EventBridgeEnabled: true}
  BucketPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Bucket
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Deny
            Principal: "*"
            Action: s3:*
            Resource: [!GetAtt Bucket.Arn, !Sub "${Bucket.Arn}/*"]
            Condition: {Bool: {aws:SecureTransport: "false"}}
  FailureQueue:
    Type: AWS::SQS::Queue
  WorkDeadQueue:
    Type: AWS::SQS::Queue
  WorkQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 1
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt WorkDeadQueue.Arn
        maxReceiveCount: 2
  TransformEvents:
    Type: AWS::SQS::Queue
  TransformEventsRule:
    Type: AWS::Events::Rule
    Properties:
      EventPattern:
        source: [aws.sagemaker]
        detail-type: [SageMaker Transform Job State Change]
      Targets: [{Id: events, Arn: !GetAtt TransformEvents.Arn}]
  Recorder:
    Type: AWS::Serverless::Function
    Properties:
      Handler: fake_handlers.record
      Events:
        Uploaded:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [aws.s3]
              detail-type: [Object Created]
              detail: {bucket: {name: [!Ref Bucket]}, object: {key: [{prefix: in/}]}}
  Exploder:
    Type: AWS::Serverless::Function
    Properties:
      Handler: fake_handlers.explode
      Events:
        Uploaded:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [aws.s3]
              detail-type: [Object Created]
              detail: {bucket: {name: [!Ref Bucket]}, object: {key: [{prefix: fail/}]}}
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Handler: fake_handlers.sqs_partial
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt WorkQueue.Arn
            BatchSize: 10
            FunctionResponseTypes: [ReportBatchItemFailures]
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    path = tmp_path_factory.mktemp("router") / "template.yaml"
    path.write_text(TEMPLATE)
    with Sandbox(path, stack_name="routed", transform_delay_seconds=0.2) as running:
        yield running


def _drain(sandbox: Sandbox, logical_id: str, expected: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    sqs = sandbox.client("sqs")
    bodies: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(bodies) < expected and time.monotonic() < deadline:
        response = sqs.receive_message(QueueUrl=sandbox.outputs.ref(logical_id), MaxNumberOfMessages=10)
        for message in response.get("Messages", []):
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(
                QueueUrl=sandbox.outputs.ref(logical_id), ReceiptHandle=message["ReceiptHandle"]
            )
    return bodies


def test_s3_put_reaches_the_handler_in_process(sandbox: Sandbox) -> None:
    bucket = sandbox.outputs.ref("Bucket")
    sandbox.client("s3").put_object(Bucket=bucket, Key="in/first file.csv", Body=b"a\n")
    sandbox.client("s3").put_object(Bucket=bucket, Key="in/second.csv", Body=b"b\n")
    sandbox.wait_idle()

    calls = fake_handlers.calls("record")
    assert [c["event"]["detail"]["object"]["key"] for c in calls] == ["in/first file.csv", "in/second.csv"]
    function = sandbox.outputs.functions["Recorder"]
    first = calls[0]
    assert first["event"]["source"] == "aws.s3"
    assert first["env"]["SANDBOX_TEST_BUCKET"] == bucket  # the template's environment, during the call
    assert first["env"]["AWS_LAMBDA_FUNCTION_NAME"] == function.name
    assert first["function_name"] == function.name
    assert first["invoked_function_arn"] == function.arn
    assert first["memory_limit_in_mb"] == 256
    assert 0 < first["remaining_ms"] <= 10_000
    assert "SANDBOX_TEST_BUCKET" not in os.environ  # and restored afterwards

    invocations = sandbox.router.invocations_of("Recorder")
    assert [i.outcome for i in invocations] == ["succeeded", "succeeded"]
    # Each S3 event has its own id (moto gives all the same one; a gap-filler fixes it).
    assert len({i.event_id for i in invocations}) == 2


def test_failing_handler_is_retried_then_lands_in_on_failure(sandbox: Sandbox) -> None:
    sandbox.client("s3").put_object(Bucket=sandbox.outputs.ref("Bucket"), Key="fail/x.csv", Body=b"x")
    sandbox.wait_idle()

    calls = fake_handlers.calls("explode")
    assert len(calls) == 3  # the first attempt and Lambda's two retries
    assert len({c["aws_request_id"] for c in calls}) == 1  # retries keep the request id
    attempts = sandbox.router.invocations_of("Exploder")
    assert [(i.attempt, i.outcome) for i in attempts] == [(1, "failed"), (2, "failed"), (3, "failed")]
    assert attempts[0].error == "RuntimeError: boom: this handler always fails"

    (record,) = _drain(sandbox, "FailureQueue", 1)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"] == sandbox.outputs.functions["Exploder"].arn + ":$LATEST"
    assert record["requestPayload"] == calls[0]["event"]
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "RuntimeError"
    assert record["responsePayload"]["errorMessage"] == "boom: this handler always fails"


def test_sqs_batch_item_failures_stay_in_the_queue(sandbox: Sandbox) -> None:
    sqs = sandbox.client("sqs")
    queue_url = sandbox.outputs.ref("WorkQueue")
    sqs.send_message_batch(
        QueueUrl=queue_url,
        Entries=[
            {"Id": "1", "MessageBody": "ok-1"},
            {
                "Id": "2",
                "MessageBody": "fail-2",
                "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "retry"}},
            },
            {"Id": "3", "MessageBody": "ok-3"},
        ],
    )
    sandbox.wait_idle()

    # moto may hand the three messages over in one batch or several, as Lambda's poller may.
    records = [r for c in fake_handlers.calls("sqs_partial") for r in c["event"]["Records"]]
    assert sorted(r["body"] for r in records) == ["fail-2", "ok-1", "ok-3"]
    (record,) = [r for r in records if r["body"] == "fail-2"]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == sandbox.outputs.attribute("WorkQueue", "Arn")
    assert record["awsRegion"] == "us-east-1"
    assert record["md5OfBody"]
    assert record["receiptHandle"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["kind"]["stringValue"] == "retry"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"

    # Only the failed message is left; it comes back after the visibility timeout (1 s), fails
    # again, and the queue's redrive policy (maxReceiveCount 2) moves it to the dead-letter queue.
    dead: dict[str, Any] = {}
    deadline = time.monotonic() + 10
    while not dead.get("Messages") and time.monotonic() < deadline:
        dead = sqs.receive_message(QueueUrl=sandbox.outputs.ref("WorkDeadQueue"), WaitTimeSeconds=1)
    assert [m["Body"] for m in dead["Messages"]] == ["fail-2"]
    redelivered = [
        r["body"]
        for c in fake_handlers.calls("sqs_partial")
        for r in c["event"]["Records"]
        if r["attributes"]["ApproximateReceiveCount"] == "2"
    ]
    assert redelivered == ["fail-2"]
    # The batch that held fail-2 (partial or failed) and its redelivery (failed); the rest succeeded.
    outcomes = [i.outcome for i in sandbox.router.invocations_of("Worker")]
    assert len([o for o in outcomes if o != "succeeded"]) == 2
    assert outcomes[-1] == "failed"


def _model(sandbox: Sandbox, name: str) -> None:
    sandbox.client("sagemaker").create_model(
        ModelName=name,
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sandbox",
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/model:1"},
    )


def _transform_request(name: str, model: str, input_uri: str, output_uri: str) -> dict[str, Any]:
    return {
        "TransformJobName": name,
        "ModelName": model,
        "BatchStrategy": "MultiRecord",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": output_uri, "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
        "Tags": [{"Key": "sluice:model", "Value": model}],
    }


def test_transform_job_runs_in_progress_to_completed(sandbox: Sandbox, tmp_path: Path) -> None:
    bucket = sandbox.outputs.ref("Bucket")
    s3 = sandbox.client("s3")
    sagemaker = sandbox.client("sagemaker")
    s3.put_object(Bucket=bucket, Key="batch/churn/input/part-1.csv", Body=b"1,2\n3,4\n")
    s3.put_object(Bucket=bucket, Key="batch/churn/input/part-2.csv", Body=b"5,6\n")
    _model(sandbox, "churn")
    sagemaker.create_transform_job(
        **_transform_request(
            "sluice-churn-1",
            "churn",
            f"s3://{bucket}/batch/churn/input/",
            f"s3://{bucket}/batch/churn/output/",
        )
    )
    started = sagemaker.describe_transform_job(TransformJobName="sluice-churn-1")
    assert started["TransformJobStatus"] == "InProgress"
    assert "TransformEndTime" not in started

    sandbox.wait_idle()
    done = sagemaker.describe_transform_job(TransformJobName="sluice-churn-1")
    assert done["TransformJobStatus"] == "Completed"
    assert done["TransformEndTime"] >= done["TransformStartTime"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="batch/churn/output/")["Contents"]
    assert [o["Key"] for o in listed] == [
        "batch/churn/output/part-1.csv.out",
        "batch/churn/output/part-2.csv.out",
    ]
    lines = s3.get_object(Bucket=bucket, Key="batch/churn/output/part-1.csv.out")["Body"].read().decode()
    assert [line.split(",", 1)[1] for line in lines.splitlines()] == ["1,2", "3,4"]

    in_progress, completed = _drain(sandbox, "TransformEvents", 2)
    assert in_progress["source"] == "aws.sagemaker"
    assert (
        in_progress["account"] == "123456789012"
    )  # moto drops it from put_events events; a filler restores it
    assert in_progress["detail-type"] == "SageMaker Transform Job State Change"
    assert in_progress["resources"] == [done["TransformJobArn"]]
    assert in_progress["detail"]["TransformJobStatus"] == "InProgress"
    assert "TransformEndTime" not in in_progress["detail"]
    detail = completed["detail"]
    assert detail["TransformJobStatus"] == "Completed"
    assert detail["TransformJobName"] == "sluice-churn-1"
    assert detail["TransformJobArn"] == done["TransformJobArn"]
    assert detail["ModelName"] == "churn"
    assert (
        detail["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == f"s3://{bucket}/batch/churn/input/"
    )
    assert detail["TransformOutput"]["S3OutputPath"] == f"s3://{bucket}/batch/churn/output/"
    assert detail["TransformResources"] == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1}
    assert detail["Tags"] == {"sluice:model": "churn"}
    assert isinstance(detail["CreationTime"], int)
    assert detail["CreationTime"] <= detail["TransformStartTime"] <= detail["TransformEndTime"]
    assert "FailureReason" not in detail


def test_transform_job_with_empty_input_fails(sandbox: Sandbox) -> None:
    bucket = sandbox.outputs.ref("Bucket")
    sandbox.client("s3").put_object(Bucket=bucket, Key="batch/empty/input/none.csv", Body=b"")
    _model(sandbox, "empty")
    sandbox.client("sagemaker").create_transform_job(
        **_transform_request(
            "sluice-empty-1",
            "empty",
            f"s3://{bucket}/batch/empty/input/none.csv",
            f"s3://{bucket}/batch/empty/out",
        )
    )
    sandbox.wait_idle()
    job = sandbox.client("sagemaker").describe_transform_job(TransformJobName="sluice-empty-1")
    assert job["TransformJobStatus"] == "Failed"
    assert job["FailureReason"] == "ClientError: input file is empty"
    assert sandbox.client("s3").list_objects_v2(Bucket=bucket, Prefix="batch/empty/out").get("KeyCount") == 0
    _, failed = _drain(sandbox, "TransformEvents", 2)
    assert failed["detail"]["TransformJobStatus"] == "Failed"
    assert failed["detail"]["FailureReason"] == "ClientError: input file is empty"


def test_transform_job_creation_is_validated(sandbox: Sandbox) -> None:
    bucket = sandbox.outputs.ref("Bucket")
    sagemaker = sandbox.client("sagemaker")
    request = _transform_request("sluice-nomodel", "no-such-model", f"s3://{bucket}/x/", f"s3://{bucket}/y/")
    with pytest.raises(ClientError, match="Could not find model"):
        sagemaker.create_transform_job(**request)
    _model(sandbox, "twice")
    sandbox.client("s3").put_object(Bucket=bucket, Key="batch/twice/input/a.csv", Body=b"1\n")
    request = _transform_request(
        "sluice-twice", "twice", f"s3://{bucket}/batch/twice/input/", f"s3://{bucket}/o/"
    )
    sagemaker.create_transform_job(**request)
    with pytest.raises(ClientError, match="Job name must be unique"):
        sagemaker.create_transform_job(**request)
    sandbox.wait_idle()
    _drain(sandbox, "TransformEvents", 2)


def test_direct_invoke_returns_or_raises(sandbox: Sandbox) -> None:
    assert sandbox.router.invoke("Recorder", {"id": "direct-1"}) == {"ok": True}
    with pytest.raises(RuntimeError, match="boom"):
        sandbox.router.invoke("Exploder", {"id": "direct-2"})
    assert [i.source for i in sandbox.router.invocations[-2:]] == ["direct", "direct"]


def test_transform_job_reads_a_manifest(sandbox: Sandbox) -> None:
    bucket = sandbox.outputs.ref("Bucket")
    s3 = sandbox.client("s3")
    s3.put_object(Bucket=bucket, Key="batch/m/input/a.csv", Body=b"1\n")
    s3.put_object(Bucket=bucket, Key="batch/m/input/sub/b.csv", Body=b"2\n3\n")
    manifest = [{"prefix": f"s3://{bucket}/batch/m/input/"}, "a.csv", "sub/b.csv"]
    s3.put_object(Bucket=bucket, Key="batch/m/input.manifest", Body=json.dumps(manifest).encode())
    _model(sandbox, "m")
    request = _transform_request(
        "sluice-m-1", "m", f"s3://{bucket}/batch/m/input.manifest", f"s3://{bucket}/m-out"
    )
    request["TransformInput"]["DataSource"]["S3DataSource"]["S3DataType"] = "ManifestFile"
    sandbox.client("sagemaker").create_transform_job(**request)
    sandbox.wait_idle()
    assert (
        sandbox.client("sagemaker").describe_transform_job(TransformJobName="sluice-m-1")[
            "TransformJobStatus"
        ]
        == "Completed"
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="m-out/")["Contents"]]
    assert keys == ["m-out/a.csv.out", "m-out/sub/b.csv.out"]
    body = s3.get_object(Bucket=bucket, Key="m-out/sub/b.csv.out")["Body"].read().decode()
    assert len(body.splitlines()) == 2
    _drain(sandbox, "TransformEvents", 2)
