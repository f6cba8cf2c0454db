"""IAM enforcement in the sandbox (opt-in: Sandbox(enforce_iam=True)): the SAM translator's roles, the
dummy key as administrator, role sessions judged by their policies with AWS's resource ARNs and
dependent actions (gaps/iam.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sluice_cli.sandbox.gaps.iam import IamRequestResources, S3RequestActions, StepFunctionsTaskCredentials
from sluice_cli.sandbox.iam_enforcement import RoleSessions, iam_enforced

ACCOUNT, REGION = "123456789012", "us-east-1"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


@pytest.fixture
def admin() -> Iterator[boto3.session.Session]:
    with mock_aws():
        session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            aws_session_token="testing",
            region_name=REGION,
        )
        with iam_enforced("testing"), IamRequestResources(), S3RequestActions():
            yield session


def _role_session(admin: boto3.session.Session, statements: list[dict[str, Any]]) -> boto3.session.Session:
    iam = admin.client("iam")
    iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument=json.dumps(TRUST))
    policy = {"Version": "2012-10-17", "Statement": statements}
    iam.put_role_policy(RoleName="fn-role", PolicyName="p", PolicyDocument=json.dumps(policy))
    key, secret, token = RoleSessions(ACCOUNT, REGION).credentials(f"arn:aws:iam::{ACCOUNT}:role/fn-role")
    return boto3.session.Session(
        aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token, region_name=REGION
    )


def _table(admin: boto3.session.Session) -> str:
    return str(
        admin.client("dynamodb").create_table(
            TableName="registry",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )["TableDescription"]["TableArn"]
    )


def test_the_dummy_key_is_the_administrator(admin: boto3.session.Session) -> None:
    assert _table(admin).endswith(":table/registry")
    admin.client("sns").create_topic(Name="t")


def test_a_role_scoped_to_the_table_arn_may_read_it_and_nothing_else(admin: boto3.session.Session) -> None:
    table_arn = _table(admin)
    role = _role_session(admin, [{"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": table_arn}])
    dynamodb = role.client("dynamodb")
    dynamodb.get_item(TableName="registry", Key={"id": {"S": "x"}})
    with pytest.raises(
        Exception, match=r"assumed-role/fn-role/.* is not authorized to perform: dynamodb:PutItem"
    ):
        dynamodb.put_item(TableName="registry", Item={"id": {"S": "x"}})


def test_put_metric_alarm_with_tags_also_needs_tag_resource(admin: boto3.session.Session) -> None:
    alarm = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:sluice-*"
    role = _role_session(
        admin, [{"Effect": "Allow", "Action": "cloudwatch:PutMetricAlarm", "Resource": alarm}]
    )
    request: dict[str, Any] = {
        "AlarmName": "sluice-canary",
        "MetricName": "m",
        "Namespace": "n",
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    cloudwatch = role.client("cloudwatch")
    cloudwatch.put_metric_alarm(**request)
    with pytest.raises(Exception, match="is not authorized to perform: cloudwatch:TagResource"):
        cloudwatch.put_metric_alarm(**request, Tags=[{"Key": "rollout", "Value": "r1"}])


def test_sns_publish_is_judged_on_the_topic_arn(admin: boto3.session.Session) -> None:
    topic = admin.client("sns").create_topic(Name="notifications")["TopicArn"]
    other = admin.client("sns").create_topic(Name="other")["TopicArn"]
    role = _role_session(admin, [{"Effect": "Allow", "Action": "sns:Publish", "Resource": topic}])
    role.client("sns").publish(TopicArn=topic, Message="m")
    with pytest.raises(Exception, match="is not authorized to perform: sns:Publish"):
        role.client("sns").publish(TopicArn=other, Message="m")


def test_iam_gaps_are_still_present_in_moto() -> None:
    assert IamRequestResources.still_present()
    assert StepFunctionsTaskCredentials.still_present()
    assert S3RequestActions.still_present()


def _versioned_bucket(admin: boto3.session.Session) -> str:
    s3 = admin.client("s3")
    s3.create_bucket(Bucket="artifacts")
    s3.put_bucket_versioning(Bucket="artifacts", VersioningConfiguration={"Status": "Enabled"})
    return str(s3.put_object(Bucket="artifacts", Key="in/model.tar.gz", Body=b"x")["VersionId"])


def test_s3_requests_naming_a_version_need_the_version_actions(admin: boto3.session.Session) -> None:
    version = _versioned_bucket(admin)
    objects = "arn:aws:s3:::artifacts/*"
    role = _role_session(
        admin, [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObjectTagging"], "Resource": objects}]
    )
    s3 = role.client("s3")
    s3.head_object(Bucket="artifacts", Key="in/model.tar.gz")
    tags = {"TagSet": [{"Key": "sluice:status", "Value": "published"}]}
    s3.put_object_tagging(Bucket="artifacts", Key="in/model.tar.gz", Tagging=tags)
    with pytest.raises(Exception, match=r"\(403\)|AccessDenied"):  # a HEAD answer has no body to say more
        s3.head_object(Bucket="artifacts", Key="in/model.tar.gz", VersionId=version)
    with pytest.raises(Exception, match="AccessDenied"):
        s3.put_object_tagging(Bucket="artifacts", Key="in/model.tar.gz", VersionId=version, Tagging=tags)


def test_a_copy_needs_read_access_to_its_source_version(admin: boto3.session.Session) -> None:
    version = _versioned_bucket(admin)
    role = _role_session(
        admin,
        [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::artifacts/published/*"}],
    )
    source = {"Bucket": "artifacts", "Key": "in/model.tar.gz", "VersionId": version}
    role.client("s3").put_object(Bucket="artifacts", Key="published/own.tar.gz", Body=b"y")  # PutObject ok
    with pytest.raises(Exception, match="AccessDenied"):  # S3 says only "Access Denied"
        role.client("s3").copy_object(Bucket="artifacts", Key="published/model.tar.gz", CopySource=source)


def test_tags_given_with_an_object_need_put_object_tagging(admin: boto3.session.Session) -> None:
    _versioned_bucket(admin)
    role = _role_session(
        admin,
        [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::artifacts/published/*"}],
    )
    role.client("s3").put_object(Bucket="artifacts", Key="published/a", Body=b"a")
    with pytest.raises(Exception, match="AccessDenied"):
        role.client("s3").put_object(Bucket="artifacts", Key="published/b", Body=b"b", Tagging="k=v")
