"""The provision package: each resource type created with the template's settings (on in-process moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sluice_cli.sandbox.gaps.s3 import S3BucketPolicyTransportCondition
from sluice_cli.sandbox.provision.clients import Clients
from sluice_cli.sandbox.provision.properties import physical_name
from sluice_cli.sandbox.provision.stack_creation import provision_stack
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
    # As the sandbox runs moto: AWS managed policies (SAM's roles attach AWSLambdaBasicExecutionRole).
    with mock_aws(config={"iam": {"load_aws_managed_policies": True}}):
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
    text = "Resources:\n  Machine:\n    Type: AWS::EC2::VPC\n    Properties: {}\n"
    with pytest.raises(TemplateError, match="AWS::EC2::VPC"):
        provision_stack(clients, _template(tmp_path, text))
    stack = provision_stack(
        clients,
        _template(tmp_path, text),
        skipped_types={"AWS::EC2::VPC": "not in this test"},
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
    machines = {
        k: v
        for k, v in body["Resources"].items()
        if v["Type"] in {"AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"}
    }
    assert set(stack.state_machines) == set(machines)
    for logical_id, raw in machines.items():
        for event_name in raw["Properties"].get("Events") or {}:
            (machine_route,) = [
                r for r in stack.state_machine_routes_of(logical_id) if r.event_name == event_name
            ]
            targets = events.list_targets_by_rule(
                Rule=machine_route.rule_name, EventBusName=machine_route.event_bus_name
            )
            assert [t["Arn"] for t in targets["Targets"]] == [machine_route.queue_arn]


OBSERVABILITY = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Retention:
    Type: Number
    Default: 14
Resources:
  Key:
    Type: AWS::KMS::Key
    Properties:
      Description: test key
      EnableKeyRotation: true
      RotationPeriodInDays: 180
      PendingWindowInDays: 7
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {AWS: !Sub "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
            Action: kms:*
            Resource: "*"
      Tags: [{Key: team, Value: ml}]
  Alias:
    Type: AWS::KMS::Alias
    Properties:
      AliasName: !Sub alias/${AWS::StackName}-test
      TargetKeyId: !Ref Key
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      KmsMasterKeyId: !Ref Key
  Queue:
    Type: AWS::SQS::Queue
  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !Sub /test/${AWS::StackName}/Fn
      RetentionInDays: !Ref Retention
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: fake_handlers.record
      LoggingConfig:
        LogGroup: !Ref Logs
        LogFormat: JSON
        ApplicationLogLevel: DEBUG
  Plain:
    Type: AWS::Serverless::Function
    Properties:
      Handler: fake_handlers.record
  Backlog:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: !Sub ${AWS::StackName}-backlog
      AlarmDescription: the queue keeps messages
      ActionsEnabled: true
      Metrics:
        - Id: visible
          ReturnData: false
          MetricStat:
            Metric:
              Namespace: AWS/SQS
              MetricName: ApproximateNumberOfMessagesVisible
              Dimensions: [{Name: QueueName, Value: !GetAtt Queue.QueueName}]
            Period: 300
            Stat: Maximum
            Unit: Count
        - Id: total
          Expression: visible * 2
          Label: doubled
          ReturnData: true
      EvaluationPeriods: 3
      DatapointsToAlarm: 2
      Threshold: 10
      ComparisonOperator: GreaterThanOrEqualToThreshold
      TreatMissingData: missing
      InsufficientDataActions: [!Ref Topic]
      Tags: [{Key: team, Value: ml}]
Outputs:
  KeyArn:
    Value: !GetAtt Key.Arn
  KeyId:
    Value: !GetAtt Key.KeyId
  AliasName:
    Value: !Ref Alias
  AlarmArn:
    Value: !GetAtt Backlog.Arn
"""


def test_kms_key_alias_log_group_and_metric_math_alarm(clients: Clients, tmp_path: Path) -> None:
    stack = provision_stack(clients, _template(tmp_path, OBSERVABILITY), stack_name="demo")
    assert stack.warnings == []
    kms = clients.client("kms")
    key_id = stack.ref("Key")
    metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert stack.outputs["KeyArn"] == metadata["Arn"]
    assert stack.outputs["KeyId"] == key_id
    assert metadata["Description"] == "test key"
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]
    policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "team", "TagValue": "ml"}]
    (alias,) = kms.list_aliases(KeyId=key_id)["Aliases"]
    assert alias["AliasName"] == stack.outputs["AliasName"] == "alias/demo-test"
    topic = clients.client("sns").get_topic_attributes(TopicArn=stack.ref("Topic"))["Attributes"]
    assert topic["KmsMasterKeyId"] == key_id

    (group,) = clients.client("logs").describe_log_groups(logGroupNamePrefix="/test/demo/")["logGroups"]
    assert (group["logGroupName"], group["retentionInDays"]) == ("/test/demo/Fn", 14)
    function = stack.functions["Fn"]
    assert (function.log_group, function.log_format, function.application_log_level) == (
        "/test/demo/Fn",
        "JSON",
        "DEBUG",
    )
    plain = stack.functions["Plain"]
    assert (plain.log_group, plain.log_format, plain.application_log_level) == (
        f"/aws/lambda/{plain.name}",
        "Text",
        None,
    )

    (alarm,) = clients.client("cloudwatch").describe_alarms(AlarmNames=["demo-backlog"])["MetricAlarms"]
    assert stack.outputs["AlarmArn"] == alarm["AlarmArn"]
    assert alarm["InsufficientDataActions"] == [stack.ref("Topic")]
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"], alarm["Threshold"]) == (3, 2, 10.0)
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    visible, total = alarm["Metrics"]
    assert visible["MetricStat"]["Metric"]["Dimensions"] == [
        {"Name": "QueueName", "Value": stack.attribute("Queue", "QueueName")}
    ]
    assert (visible["MetricStat"]["Period"], visible["ReturnData"]) == (300, False)
    assert (total["Expression"], total["ReturnData"]) == ("visible * 2", True)


def test_disabled_key_is_disabled(clients: Clients, tmp_path: Path) -> None:
    text = "Resources:\n  Key:\n    Type: AWS::KMS::Key\n    Properties:\n      Enabled: false\n"
    stack = provision_stack(clients, _template(tmp_path, text))
    metadata = clients.client("kms").describe_key(KeyId=stack.ref("Key"))["KeyMetadata"]
    assert not metadata["Enabled"]
    assert not clients.client("kms").get_key_rotation_status(KeyId=stack.ref("Key"))["KeyRotationEnabled"]


@pytest.mark.skipif(not REPO_TEMPLATE.exists(), reason="template.yaml not written yet")
def test_real_template_alarms_key_and_log_groups(clients: Clients) -> None:
    """Nothing is lost, visibly: FailureQueue and a starved BatchRetryQueue alarm on the (customer-key
    encrypted) notification topic; every function logs to its own group with the stack's retention."""
    stack = provision_stack(clients, REPO_TEMPLATE, parameters={"LogRetentionDays": "90"})
    assert stack.warnings == []
    topic_arn = stack.outputs["NotificationTopicArn"]
    cloudwatch = clients.client("cloudwatch")

    (failures,) = cloudwatch.describe_alarms(AlarmNames=[stack.outputs["FailureQueueAlarmName"]])[
        "MetricAlarms"
    ]
    assert (failures["Namespace"], failures["MetricName"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    assert failures["Dimensions"] == [
        {"Name": "QueueName", "Value": stack.attribute("FailureQueue", "QueueName")}
    ]
    assert (failures["Statistic"], failures["Period"], failures["EvaluationPeriods"]) == ("Maximum", 60, 1)
    assert (failures["ComparisonOperator"], failures["Threshold"]) == ("GreaterThanThreshold", 0.0)
    assert failures["TreatMissingData"] == "notBreaching"
    assert failures["AlarmActions"] == failures["OKActions"] == [topic_arn]
    assert "redrive" in failures["AlarmDescription"]

    (backlog,) = cloudwatch.describe_alarms(AlarmNames=[stack.ref("BatchRetryBacklogAlarm")])["MetricAlarms"]
    assert backlog["MetricName"] == "ApproximateNumberOfMessagesDelayed"
    assert backlog["Dimensions"] == [
        {"Name": "QueueName", "Value": stack.attribute("BatchRetryQueue", "QueueName")}
    ]
    # Delayed retries present in every one of 4 hours' worth of periods.
    assert backlog["Period"] * backlog["DatapointsToAlarm"] == 4 * 3600
    assert backlog["EvaluationPeriods"] == backlog["DatapointsToAlarm"]
    assert backlog["AlarmActions"] == backlog["OKActions"] == [topic_arn]

    kms = clients.client("kms")
    key_id = stack.ref("NotificationKey")
    assert stack.outputs["NotificationKeyArn"] == kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]
    (alias,) = kms.list_aliases(KeyId=key_id)["Aliases"]
    assert alias["AliasName"] == f"alias/{stack.stack_name}-notifications"
    services = {
        service
        for statement in json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])[
            "Statement"
        ]
        for service in statement["Principal"].get("Service", [])
    }
    assert "cloudwatch.amazonaws.com" in services
    topic = clients.client("sns").get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    assert topic["KmsMasterKeyId"] == key_id
    statements = json.loads(topic["Policy"])["Statement"]
    assert any(
        s["Effect"] == "Allow"
        and s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        and s["Condition"]["StringEquals"]["aws:SourceAccount"] == stack.account_id
        for s in statements
    )

    groups = {
        g["logGroupName"]: g.get("retentionInDays")
        for g in clients.client("logs").describe_log_groups()["logGroups"]
    }
    assert stack.functions
    for function in stack.functions.values():
        assert function.log_group == f"/sluice/{stack.stack_name}/{function.logical_id}"
        assert groups[function.log_group] == 90
        assert function.log_format == "JSON"
        assert function.application_log_level == "INFO"


@pytest.mark.skipif(not REPO_TEMPLATE.exists(), reason="template.yaml not written yet")
@pytest.mark.parametrize(("log_level", "lambda_level"), [("DEBUG", "DEBUG"), ("WARNING", "WARN")])
def test_real_template_lambda_log_level_follows_powertools(
    clients: Clients, log_level: str, lambda_level: str
) -> None:
    """With JSON logs Powertools obeys AWS_LAMBDA_LOG_LEVEL over POWERTOOLS_LOG_LEVEL: they must agree."""
    stack = provision_stack(clients, REPO_TEMPLATE, parameters={"LogLevel": log_level})
    for function in stack.functions.values():
        assert function.environment["POWERTOOLS_LOG_LEVEL"] == log_level
        assert function.application_log_level == lambda_level


# (Tags on the resource: SAM's Globals.StateMachine takes only PropagateTags, and the sandbox runs SAM's
# translator on every template.)
MACHINE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: fake_handlers.record
      Runtime: python3.13
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: !Sub "${AWS::StackName}-machine"
      Type: EXPRESS
      Tags: {team: ml}
      Definition:
        StartAt: Call
        States:
          Call:
            Type: Task
            Resource: arn:aws:states:::lambda:invoke
            Parameters: {FunctionName: "${FnArn}", Payload.$: $}
            End: true
      DefinitionSubstitutions:
        FnArn: !GetAtt Fn.Arn
      Policies: [AWSLambdaRole]
Outputs:
  MachineArn:
    Value: !Ref Machine
  MachineName:
    Value: !GetAtt Machine.Name
"""


def test_state_machines_and_functions_exist_in_the_emulator(clients: Clients, tmp_path: Path) -> None:
    stack = provision_stack(clients, _template(tmp_path, MACHINE), stack_name="demo")
    assert stack.warnings == []
    machine = stack.state_machines["Machine"]
    assert (machine.name, machine.type) == ("demo-machine", "EXPRESS")
    assert (stack.outputs["MachineArn"], stack.outputs["MachineName"]) == (machine.arn, "demo-machine")
    assert machine.definition["States"]["Call"]["Parameters"]["FunctionName"] == stack.functions["Fn"].arn
    sfn = clients.client("stepfunctions")
    described = sfn.describe_state_machine(stateMachineArn=machine.arn)
    assert json.loads(described["definition"]) == machine.definition
    assert described["roleArn"] == stack.attribute("MachineRole", "Arn")
    assert sfn.list_tags_for_resource(resourceArn=machine.arn)["tags"] == [{"key": "team", "value": "ml"}]
    assert (
        clients.client("iam").get_role(RoleName=stack.ref("MachineRole"))["Role"]["Arn"] == machine.role_arn
    )
    function = clients.client("lambda").get_function(FunctionName=stack.ref("Fn"))["Configuration"]
    assert (function["Runtime"], function["Handler"]) == ("python3.13", "fake_handlers.record")


@pytest.mark.parametrize(
    ("machine", "message"),
    [
        ("DefinitionUri: missing.asl.json", "cannot read DefinitionUri missing.asl.json"),
        ("DefinitionUri: {Bucket: b, Key: k}", "a definition in S3 is not supported"),
        ("Definition: {StartAt: A, States: {A: {Type: Pass, Result: '${Nope}', End: true}}}", r"\$\{Nope\}"),
        (
            "Definition: {StartAt: A, States: {A: {Type: Pass, End: true}}}\n"
            "      Events: {Nightly: {Type: Schedule, Properties: {Schedule: rate(1 day)}}}",
            "Nightly of type Schedule is not routed",
        ),
    ],
)
def test_state_machine_problems_fail_loudly(
    clients: Clients, tmp_path: Path, machine: str, message: str
) -> None:
    text = (
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Machine:\n"
        f"    Type: AWS::Serverless::StateMachine\n    Properties:\n      {machine}\n"
    )
    with pytest.raises(TemplateError, match=message):
        provision_stack(clients, _template(tmp_path, text))


def test_a_rule_target_outside_the_stack_fails(clients: Clients, tmp_path: Path) -> None:
    text = (
        "Resources:\n  Rule:\n    Type: AWS::Events::Rule\n    Properties:\n"
        "      EventPattern: {source: [x]}\n"
        "      Targets: [{Id: m, Arn: 'arn:aws:states:us-east-1:123456789012:stateMachine:elsewhere'}]\n"
    )
    with pytest.raises(TemplateError, match="not a state machine of this stack"):
        provision_stack(clients, _template(tmp_path, text))
