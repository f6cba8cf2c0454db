"""Whole flows through the sandbox, driven only through AWS APIs: S3 upload → EventBridge rule from
template.yaml → real handler → SageMaker / S3 / registry, exactly as a user's upload travels in AWS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from integration_kit import Stack, make_archive

from sluice.domain.registry import model_pk
from sluice_cli.sandbox.server import Sandbox

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Sandbox(transform_delay_seconds=0.2, poll_wait_seconds=1) as sandbox:
        outputs = sandbox.outputs.outputs
        yield Stack(sandbox, outputs["ArtifactBucketName"], outputs["RegistryTableName"], "", "")


def registered(stack: Stack, function: str) -> list[str]:
    return [i.outcome for i in stack.sandbox.router.invocations_of(function)]


def test_a_serving_prefix_inside_multi_model_does_not_loop(stack: Stack) -> None:
    """The published copy lands under multi-model/ and raises its own "Object Created": it must be
    delivered to the register function and ignored there, not registered as a model of its own."""
    endpoint = stack.multi_model_endpoint(prefix=f"s3://{stack.bucket}/multi-model/")
    before = len(registered(stack, "RegisterModelFunction"))
    stack.put(f"multi-model/{endpoint}/churn.tar.gz", make_archive())
    stack.sandbox.wait_idle(timeout=30, include_delayed=False)

    outcomes = registered(stack, "RegisterModelFunction")[before:]
    assert outcomes == ["succeeded", "succeeded"]  # the upload, then the copy's own event
    assert stack.keys("multi-model/churn/") == ["multi-model/churn/v1.tar.gz"]
    assert stack.latest(endpoint, "churn")["version"] == 1  # type: ignore[index]
    # Nothing registered for the copy read as endpoint "churn", model "v1".
    found = stack.client("dynamodb").query(
        TableName=stack.table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": model_pk("churn", "v1")}},
    )
    assert found["Items"] == []


def test_a_batch_upload_runs_to_completion_and_its_output_does_not_loop(stack: Stack) -> None:
    model = stack.batch_model()
    key = f"batch/{model}/input/records.csv"
    put = stack.put(key, b"".join(f"{i},1\n".encode() for i in range(50)))
    stack.sandbox.wait_idle(timeout=30, include_delayed=False)

    intake = stack.intake(key, put)
    assert intake is not None
    job = stack.job(intake["job_name"])
    assert job is not None
    assert job["status"] == "Completed"
    outputs = stack.keys(f"batch/{model}/output/{intake['job_name']}/")
    assert outputs == [f"batch/{model}/output/{intake['job_name']}/records.csv.out"]
    # Only the input started a job: the output object's event was ignored.
    jobs = stack.client("sagemaker").list_transform_jobs(NameContains=model)["TransformJobSummaries"]
    assert len(jobs) == 1


def test_a_user_sees_notifications_through_their_own_subscription(stack: Stack) -> None:
    sqs = stack.client("sqs")
    queue = sqs.create_queue(QueueName="my-team-notifications")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stack.client("sns").subscribe(
        TopicArn=stack.sandbox.outputs.outputs["NotificationTopicArn"],
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"FilterPolicy": json.dumps({"detail_type": ["Sluice Artifact Rejected"]})},
    )
    endpoint = stack.multi_model_endpoint()
    stack.put(f"multi-model/{endpoint}/evil.tar.gz", make_archive({"../../etc/passwd": b"x"}))
    stack.put(f"multi-model/{endpoint}/good.tar.gz", make_archive())
    stack.sandbox.wait_idle(timeout=30, include_delayed=False)

    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    details = [json.loads(json.loads(m["Body"])["Message"]) for m in messages]
    assert [d["key"] for d in details] == [f"multi-model/{endpoint}/evil.tar.gz"]  # the filter policy held
    assert ".." in details[0]["reason"]
