"""provision.py: each resource type created with the template's settings (on in-process moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sluice_cli.sandbox.emulator_gaps import S3BucketPolicyTransportCondition
from sluice_cli.sandbox.provision import Clients, physical_name, provision_stack
from sluice_cli.sandbox.template import TemplateError, load_yaml

REPO_TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"

STACK = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Retention:
    Type: Number
    Default: 1209600
Globals:
  Function:
    Timeout: 20
    MemorySize: 256
    Environment:
      Variables:
        SANDBOX_TEST_BUCKET: !Ref Bucket
        SANDBOX_TEST_QUEUE: !Ref WorkQueue
    EventInvokeConfig:
      MaximumRetryAttempts: 2
      DestinationConfig:
        OnFailure:
          Type: SQS
          Destination: !GetAtt DeadQueue.Arn
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {Status: Enabled}
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault: {SSEAlgorithm: AES256}
      PublicAccessBlockConfiguration:
        BlockPublicAcls: true
        BlockPublicPolicy: true
        IgnorePublicAcls: true
        RestrictPublicBuckets: true
      NotificationConfiguration:
        EventBridgeConfiguration: {EventBridgeEnabled: true}
      Tags: [{Key: team, Value: ml}]
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
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: S}
        - {AttributeName: gsi1pk, AttributeType: S}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
      GlobalSecondaryIndexes:
        - IndexName: gsi1
          KeySchema: [{AttributeName: gsi1pk, KeyType: HASH}]
          Projection: {ProjectionType: ALL}
      TimeToLiveSpecification: {AttributeName: expiration, Enabled: true}
      PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: Demo
      Subscription:
        - {Protocol: sqs, Endpoint: !GetAtt TopicQueue.Arn}
  TopicQueue:
    Type: AWS::SQS::Queue
  DeadQueue:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: !Ref Retention
  WorkQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 120
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt DeadQueue.Arn
        maxReceiveCount: 3
  WorkQueuePolicy:
    Type: AWS::SQS::QueuePolicy
    Properties:
      Queues: [!Ref WorkQueue]
      PolicyDocument:
        Version: "2012-10-17"
        Statement: [{Effect: Allow, Principal: {Service: events.amazonaws.com}, Action: sqs:SendMessage,
                     Resource: !GetAtt WorkQueue.Arn}]
  Forward:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: {source: [sluice]}
      Targets: [{Id: work, Arn: !GetAtt WorkQueue.Arn}]
  OnUpload:
    Type: AWS::Serverless::Function
    Properties:
      Handler: fake_handlers.record
      Timeout: 5
      Events:
        Uploaded:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [aws.s3]
              detail-type: [Object Created]
              detail: {bucket: {name: [!Ref Bucket]}, object: {key: [{prefix: in/}]}}
  OnWork:
    Type: AWS::Serverless::Function
    Properties:
      Handler: fake_handlers.sqs_partial
      EventInvokeConfig:
        MaximumRetryAttempts: 0
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt WorkQueue.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
  Dashboard:
    Type: AWS::CloudWatch::Dashboard
    Properties:
      DashboardBody: "{}"
Outputs:
  BucketName:
    Value: !Ref Bucket
  UploadRuleArn:
    Value: !GetAtt OnUploadUploaded.Arn
  FunctionArn:
    Value: !GetAtt OnUpload.Arn
"""


@pytest.fixture
def clients() -> Iterator[Clients]:
    with mock_aws():
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        yield Clients(session)


def _template(tmp_path: Path, text: str = STACK) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(text)
    return path


def test_physical_names_are_deterministic_and_bounded() -> None:
    name = physical_name("Sluice", "ArtifactBucket", max_length=63, lowercase=True)
    assert name == physical_name("Sluice", "ArtifactBucket", max_length=63, lowercase=True)
    assert name.startswith("sluice-artifactbucket-")
    long = physical_name("stack", "X" * 200, max_length=63, lowercase=True)
    assert len(long) <= 63
    assert long == long.lower()
    assert physical_name("stack", "A", max_length=80) != physical_name("other", "A", max_length=80)


def test_provisions_every_resource_with_its_settings(clients: Clients, tmp_path: Path) -> None:
    stack = provision_stack(clients, _template(tmp_path), stack_name="demo")
    s3 = clients.client("s3")
    bucket = stack.ref("Bucket")
    assert bucket.startswith("demo-bucket-")
    assert stack.outputs["BucketName"] == bucket
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert policy["Statement"][0]["Resource"] == [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "team", "Value": "ml"}]

    dynamodb = clients.client("dynamodb")
    table = dynamodb.describe_table(TableName=stack.ref("Table"))["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    assert table["GlobalSecondaryIndexes"][0]["IndexName"] == "gsi1"
    ttl = dynamodb.describe_time_to_live(TableName=stack.ref("Table"))["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"}
    backups = dynamodb.describe_continuous_backups(TableName=stack.ref("Table"))[
        "ContinuousBackupsDescription"
    ]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"

    sns = clients.client("sns")
    topic_arn = stack.ref("Topic")
    assert sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]["DisplayName"] == "Demo"
    (subscription,) = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert subscription["Endpoint"] == stack.attribute("TopicQueue", "Arn")

    sqs = clients.client("sqs")
    work = sqs.get_queue_attributes(QueueUrl=stack.ref("WorkQueue"), AttributeNames=["All"])["Attributes"]
    assert work["VisibilityTimeout"] == "120"
    assert json.loads(work["RedrivePolicy"]) == {
        "deadLetterTargetArn": stack.attribute("DeadQueue", "Arn"),
        "maxReceiveCount": 3,
    }
    assert "events.amazonaws.com" in work["Policy"]
    dead = sqs.get_queue_attributes(
        QueueUrl=stack.ref("DeadQueue"), AttributeNames=["MessageRetentionPeriod"]
    )
    assert dead["Attributes"]["MessageRetentionPeriod"] == "1209600"

    events = clients.client("events")
    (target,) = events.list_targets_by_rule(Rule=stack.ref("Forward"))["Targets"]
    assert target["Arn"] == stack.attribute("WorkQueue", "Arn")

    assert stack.resources["Dashboard"].skipped_reason
    assert stack.warnings == []


def test_functions_are_registered_with_resolved_settings(clients: Clients, tmp_path: Path) -> None:
    stack = provision_stack(clients, _template(tmp_path), stack_name="demo")
    upload = stack.functions["OnUpload"]
    assert upload.handler == "fake_handlers.record"
    assert upload.timeout_seconds == 5
    assert upload.memory_mb == 256
    assert upload.environment == {
        "SANDBOX_TEST_BUCKET": stack.ref("Bucket"),
        "SANDBOX_TEST_QUEUE": stack.ref("WorkQueue"),
    }
    assert upload.arn == f"arn:aws:lambda:us-east-1:123456789012:function:{upload.name}"
    assert stack.outputs["FunctionArn"] == upload.arn
    assert upload.event_invoke.maximum_retry_attempts == 2
    assert upload.event_invoke.on_failure is not None
    assert upload.event_invoke.on_failure.arn == stack.attribute("DeadQueue", "Arn")
    # Function-level EventInvokeConfig merges over Globals' (retries 0, destination kept).
    work = stack.functions["OnWork"]
    assert work.event_invoke.maximum_retry_attempts == 0
    assert work.event_invoke.on_failure == upload.event_invoke.on_failure

    (route,) = stack.routes
    assert (route.function, route.event_name) == ("OnUpload", "Uploaded")
    assert stack.outputs["UploadRuleArn"] == route.rule_arn
    events = clients.client("events")
    rule = events.describe_rule(Name=route.rule_name)
    assert json.loads(rule["EventPattern"])["detail"]["bucket"]["name"] == [stack.ref("Bucket")]
    (target,) = events.list_targets_by_rule(Rule=route.rule_name)["Targets"]
    assert target["Arn"] == route.queue_arn  # a route queue, never a Lambda ARN

    (mapping,) = stack.event_source_mappings
    assert (mapping.function, mapping.queue_url, mapping.batch_size) == ("OnWork", stack.ref("WorkQueue"), 5)
    assert mapping.report_batch_item_failures


def test_s3_put_reaches_the_route_queue(clients: Clients, tmp_path: Path) -> None:
    stack = provision_stack(clients, _template(tmp_path), stack_name="demo")
    s3 = clients.client("s3")
    with S3BucketPolicyTransportCondition():  # the bucket has a TLS-only policy
        s3.put_object(Bucket=stack.ref("Bucket"), Key="in/data file.csv", Body=b"1\n")
        s3.put_object(Bucket=stack.ref("Bucket"), Key="elsewhere/x.csv", Body=b"1\n")
    (route,) = stack.routes
    messages = clients.client("sqs").receive_message(QueueUrl=route.queue_url, MaxNumberOfMessages=10)[
        "Messages"
    ]
    assert [json.loads(m["Body"])["detail"]["object"]["key"] for m in messages] == ["in/data file.csv"]


def test_unknown_resource_type_fails_loudly(clients: Clients, tmp_path: Path) -> None:
    text = "Resources:\n  Machine:\n    Type: AWS::StepFunctions::StateMachine\n    Properties: {}\n"
    with pytest.raises(TemplateError, match="AWS::StepFunctions::StateMachine"):
        provision_stack(clients, _template(tmp_path, text))
    stack = provision_stack(
        clients,
        _template(tmp_path, text),
        skipped_types={"AWS::StepFunctions::StateMachine": "not in this test"},
    )
    assert stack.resources["Machine"].skipped_reason == "not in this test"


def test_unrouted_function_event_type_fails_loudly(clients: Clients, tmp_path: Path) -> None:
    text = (
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
        "    Properties:\n      Handler: fake_handlers.record\n      Events:\n"
        "        Nightly:\n          Type: Schedule\n          Properties: {Schedule: rate(1 day)}\n"
    )
    with pytest.raises(TemplateError, match="Nightly of type Schedule"):
        provision_stack(clients, _template(tmp_path, text))


def test_unread_properties_are_reported(clients: Clients, tmp_path: Path) -> None:
    text = "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      Mystery: 1\n"
    stack = provision_stack(clients, _template(tmp_path, text))
    assert stack.warnings == ["Q (AWS::SQS::Queue): property Mystery is not emulated"]


@pytest.mark.skipif(not REPO_TEMPLATE.exists(), reason="template.yaml not written yet")
def test_real_template_wires_every_function_and_event(clients: Clients) -> None:
    stack = provision_stack(clients, REPO_TEMPLATE)
    body: dict[str, Any] = load_yaml(REPO_TEMPLATE.read_text())
    events = clients.client("events")
    functions = {k: v for k, v in body["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
    assert functions, "the template declares no function"
    assert set(stack.functions) == set(functions)
    for logical_id, raw in functions.items():
        spec = stack.functions[logical_id]
        assert spec.handler == raw["Properties"]["Handler"]
        assert spec.environment, f"{logical_id} has no environment"
        for event_name, event in (raw["Properties"].get("Events") or {}).items():
            if event["Type"] in {"EventBridgeRule", "CloudWatchEvent"}:
                (route,) = [r for r in stack.routes_of(logical_id) if r.event_name == event_name]
                targets = events.list_targets_by_rule(Rule=route.rule_name, EventBusName=route.event_bus_name)
                assert [t["Arn"] for t in targets["Targets"]] == [route.queue_arn]
            elif event["Type"] == "SQS":
                (mapping,) = [m for m in stack.mappings_of(logical_id) if m.event_name == event_name]
                assert mapping.queue_url.endswith(mapping.queue_arn.rsplit(":", 1)[1])
            else:
                pytest.fail(f"{logical_id}.{event_name}: event type {event['Type']} is not wired")
