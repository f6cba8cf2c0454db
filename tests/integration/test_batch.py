"""StartBatchFunction, RetryBatchStartFunction and BatchJobStateFunction on moto."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator

import pytest
from integration_kit import Stack, sample_event

START = "StartBatchFunction"
RETRY = "RetryBatchStartFunction"
STATE = "BatchJobStateFunction"
BATCH_SAMPLE = "s3_object_created_batch.json"
CSV = b"".join(f"{i},{i * 0.5}\n".encode() for i in range(1000))


def start(stack: Stack, key: str, body: bytes = CSV, *, key_in_event: str | None = None) -> tuple[dict, dict]:
    put = stack.put(key, body)
    result = stack.invoke(START, stack.s3_event(key, put, sample=BATCH_SAMPLE, key_in_event=key_in_event))
    return put, result


def describe(stack: Stack, job_name: str) -> dict:
    return stack.client("sagemaker").describe_transform_job(TransformJobName=job_name)


def test_a_csv_upload_starts_one_job_with_line_defaults(clean_notifications: Stack) -> None:
    stack = clean_notifications
    model = stack.batch_model()
    key = f"batch/{model}/input/2026-11-25/records.csv"
    put, result = start(stack, key)

    assert result["status"] == "STARTED"
    job = describe(stack, result["job_name"])
    assert job["ModelName"] == model
    assert job["TransformInput"]["DataSource"]["S3DataSource"] == {
        "S3DataType": "S3Prefix",
        "S3Uri": f"s3://{stack.bucket}/{key}",
    }
    assert job["TransformInput"]["ContentType"] == "text/csv"
    assert job["TransformInput"]["SplitType"] == "Line"
    assert job["BatchStrategy"] == "MultiRecord"
    assert (
        job["TransformOutput"]["S3OutputPath"]
        == f"s3://{stack.bucket}/batch/{model}/output/{result['job_name']}/"
    )
    assert job["TransformOutput"]["AssembleWith"] == "Line"
    tags = stack.client("sagemaker").list_tags(ResourceArn=job["TransformJobArn"])["Tags"]
    assert {"Key": "sluice:managed", "Value": "true"} in tags
    record = stack.job(result["job_name"])
    assert record is not None
    assert record["status"] == "STARTED"
    assert record["source_key"] == key
    assert stack.intake(key, put)["job_name"] == result["job_name"]  # type: ignore[index]
    ((detail_type, detail),) = stack.notifications()
    assert detail_type == "Sluice Batch Job State Change"
    assert detail["status"] == "STARTED"


def test_batch_json_settings_apply_and_a_single_object_on_many_instances_warns(
    clean_notifications: Stack,
) -> None:
    stack = clean_notifications
    model = stack.batch_model()
    settings = {
        "instance_count": 3,
        "instance_type": "ml.c5.2xlarge",
        "max_payload_in_mb": 10,
        "max_concurrent_transforms": 4,
        "environment": {"THRESHOLD": "0.7"},
    }
    stack.put(f"batch/{model}/batch.json", json.dumps(settings).encode())
    _, result = start(stack, f"batch/{model}/input/records.jsonl", b'{"x": 1}\n')

    job = describe(stack, result["job_name"])
    assert job["TransformResources"] == {"InstanceType": "ml.c5.2xlarge", "InstanceCount": 3}
    assert job["MaxPayloadInMB"] == 10
    assert job["MaxConcurrentTransforms"] == 4
    assert job["Environment"] == {"THRESHOLD": "0.7"}
    assert job["TransformInput"]["ContentType"] == "application/jsonlines"
    warnings = stack.job(result["job_name"])["warnings"]  # type: ignore[index]
    assert any("idle" in w for w in warnings)


def test_a_manifest_starts_one_job_over_the_listed_objects(clean_notifications: Stack) -> None:
    stack = clean_notifications
    model = stack.batch_model()
    for part in ("a.csv", "b.csv"):
        stack.put(f"data/{model}/{part}", CSV)
    manifest = json.dumps([{"prefix": f"s3://{stack.bucket}/data/{model}/"}, "a.csv", "b.csv"]).encode()
    _, result = start(stack, f"batch/{model}/input/nightly.manifest.json", manifest)
    assert result["status"] == "STARTED"
    source = describe(stack, result["job_name"])["TransformInput"]["DataSource"]["S3DataSource"]
    assert source["S3DataType"] == "ManifestFile"


def test_a_manifest_reaching_into_another_bucket_is_rejected_and_kept(clean_notifications: Stack) -> None:
    """Issue 13: SageMaker reads what a manifest lists with the model's role, in any bucket it can read."""
    stack = clean_notifications
    model = stack.batch_model()
    stack.client("s3").create_bucket(Bucket="payroll-exports")
    stack.client("s3").put_object(Bucket="payroll-exports", Key="2026/salaries.csv", Body=CSV)
    key = f"batch/{model}/input/steal.manifest.json"
    manifest = json.dumps([{"prefix": "s3://payroll-exports/2026/"}, "salaries.csv"]).encode()

    put, result = start(stack, key, manifest)

    assert result["status"] == "REJECTED"
    assert result["code"] == "InvalidConfiguration"
    assert result["reason"].startswith(
        f"{key}: the manifest's prefix 's3://payroll-exports/2026/' puts entry 1 ('salaries.csv') in "
        f"bucket 'payroll-exports', which batch jobs may not read: batch input comes from the artifact "
        f"bucket '{stack.bucket}' or a bucket of the stack parameter BatchInputBuckets (now: none)"
    )
    assert stack.intake(key, put)["reason"] == result["reason"]  # type: ignore[index]
    assert stack.client("sagemaker").list_transform_jobs(NameContains=model)["TransformJobSummaries"] == []
    kept = stack.client("s3").get_object(Bucket=stack.bucket, Key=key, VersionId=put["VersionId"])
    assert kept["Body"].read() == manifest
    assert stack.tags(key, put["VersionId"]) == {"sluice:status": "rejected"}
    assert [t for t, _ in stack.notifications()] == ["Sluice Artifact Rejected"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (b"{not json", "line 1"),
        (b'{"instance_count": 0}', "instance_count"),
        (b'{"max_payload_in_mb": 50, "max_concurrent_transforms": 4}', "100"),
        (b'{"instanceCount": 2}', "instance_count"),
    ],
    ids=["not-json", "zero-instances", "payload-times-concurrency", "unknown-key"],
)
def test_invalid_batch_json_is_rejected_with_a_precise_reason(
    clean_notifications: Stack, settings: bytes, message: str
) -> None:
    stack = clean_notifications
    model = stack.batch_model()
    stack.put(f"batch/{model}/batch.json", settings)
    key = f"batch/{model}/input/records.csv"
    put, result = start(stack, key)
    assert result["status"] == "REJECTED"
    assert result["code"] == "InvalidConfiguration"
    assert message in result["reason"]
    assert stack.client("sagemaker").list_transform_jobs(NameContains=model)["TransformJobSummaries"] == []
    assert stack.tags(key, put["VersionId"]) == {"sluice:status": "rejected"}
    assert [t for t, _ in stack.notifications()] == ["Sluice Artifact Rejected"]


def test_a_missing_model_is_rejected(clean_notifications: Stack) -> None:
    stack = clean_notifications
    _, result = start(stack, "batch/no-such-model/input/records.csv")
    assert result["status"] == "REJECTED"
    assert "SageMaker model 'no-such-model' does not exist" in result["reason"]


@pytest.mark.parametrize("encoding", ["raw", "url"])
def test_input_keys_with_spaces_plus_percent_and_unicode(stack: Stack, encoding: str) -> None:
    from urllib.parse import quote_plus

    model = stack.batch_model()
    key = f"batch/{model}/input/day one/100% café+data.csv"
    in_event = key if encoding == "raw" else quote_plus(key, safe="/")
    _, result = start(stack, key, key_in_event=in_event)
    assert result["status"] == "STARTED"
    source = describe(stack, result["job_name"])["TransformInput"]["DataSource"]["S3DataSource"]
    assert source["S3Uri"] == f"s3://{stack.bucket}/{key}"


def test_a_duplicate_event_cannot_start_a_second_job(stack: Stack) -> None:
    model = stack.batch_model()
    key = f"batch/{model}/input/records.csv"
    put = stack.put(key, CSV)
    event = stack.s3_event(key, put, sample=BATCH_SAMPLE)
    first = stack.invoke(START, event)
    # Forget the idempotency records: the deterministic job name alone must still prevent a second job.
    idempotency = stack.sandbox.outputs.outputs["IdempotencyTableName"]
    ddb = stack.client("dynamodb")
    for item in ddb.scan(TableName=idempotency)["Items"]:
        ddb.delete_item(TableName=idempotency, Key={"id": item["id"]})
    intake = stack.intake(key, put)
    assert intake is not None
    ddb.delete_item(TableName=stack.table, Key={"pk": {"S": intake["pk"]}, "sk": {"S": intake["sk"]}})
    stack.client("dynamodb").update_item(
        TableName=stack.table,
        Key={"pk": {"S": f"job#{first['job_name']}"}, "sk": {"S": "job"}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "STARTING"}},
    )
    second = stack.invoke(START, event)
    assert second["job_name"] == first["job_name"]
    assert second["already_running"] is True
    jobs = stack.client("sagemaker").list_transform_jobs(NameContains=first["job_name"])[
        "TransformJobSummaries"
    ]
    assert len(jobs) == 1


@pytest.fixture
def sagemaker_at_capacity(stack: Stack) -> Iterator[list[int]]:
    """SageMaker answers ResourceLimitExceeded while the list holds a positive count."""
    from moto.sagemaker.exceptions import SagemakerClientError
    from moto.sagemaker.models import SageMakerModelBackend

    class ResourceLimitExceeded(SagemakerClientError):
        code = "ResourceLimitExceeded"

    remaining = [1]
    original = SageMakerModelBackend.create_transform_job

    def limited(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if remaining[0] > 0:
            remaining[0] -= 1
            raise ResourceLimitExceeded(
                "The account-level service limit 'ml.m5.xlarge for transform job usage' is 0"
            )
        return original(self, *args, **kwargs)

    SageMakerModelBackend.create_transform_job = limited  # type: ignore[method-assign]
    try:
        yield remaining
    finally:
        SageMakerModelBackend.create_transform_job = original  # type: ignore[method-assign]


def test_capacity_errors_queue_the_job_and_a_retry_starts_it(
    clean_notifications: Stack, sagemaker_at_capacity: list[int]
) -> None:
    stack = clean_notifications
    model = stack.batch_model()
    key = f"batch/{model}/input/records.csv"
    put, result = start(stack, key)

    assert result["status"] == "QUEUED"
    record = stack.job(result["job_name"])
    assert record is not None
    assert record["status"] == "QUEUED"
    assert "ResourceLimitExceeded" in record["reason"]
    assert record["next_attempt_at"]
    assert stack.intake(key, put)["status"] == "BATCH_QUEUED"  # type: ignore[index]
    queue = stack.sandbox.outputs.outputs["BatchRetryQueueUrl"]
    sqs = stack.client("sqs")
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )
    assert attributes["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"

    response = stack.invoke(RETRY, retry_event(stack, result, record, attempt=2))
    assert response == {"batchItemFailures": []}
    assert stack.job(result["job_name"])["status"] == "STARTED"  # type: ignore[index]
    assert describe(stack, result["job_name"])["ModelName"] == model
    statuses = [d["status"] for _, d in stack.notifications()]
    assert statuses == ["QUEUED", "STARTED"]


def test_a_retry_refused_again_is_queued_again_with_the_next_attempt(
    clean_notifications: Stack, sagemaker_at_capacity: list[int]
) -> None:
    stack = clean_notifications
    key = f"batch/{stack.batch_model()}/input/records.csv"
    _, result = start(stack, key)
    record = stack.job(result["job_name"])
    assert record is not None and record["status"] == "QUEUED"
    sagemaker_at_capacity[0] = 1  # still at capacity when the retry comes

    response = stack.invoke(RETRY, retry_event(stack, result, record, attempt=2))

    assert response == {"batchItemFailures": []}
    again = stack.job(result["job_name"])
    assert again is not None and again["status"] == "QUEUED"
    attempts = [b["attempt"] for b in queued_bodies(stack) if b["job_name"] == result["job_name"]]
    assert attempts == [2, 3]  # the first refusal's message (still delayed) and the retry's own


def retry_event(stack: Stack, result: dict, record: dict, *, attempt: int) -> dict:
    """The buffered request as Lambda's SQS integration delivers it to the retry function."""
    sqs_event = copy.deepcopy(sample_event("batch_retry_message.json"))
    body = {
        "job_name": result["job_name"],
        "attempt": attempt,
        "intake_pk": record["intake_pk"],
        "intake_sk": record["intake_sk"],
        "request": describe_request(stack, result),
    }
    sqs_event["Records"][0]["body"] = json.dumps(body)
    sqs_event["Records"][0]["messageId"] = str(uuid.uuid4())
    return sqs_event


def queued_bodies(stack: Stack) -> list[dict]:
    """The bodies in BatchRetryQueue (delayed, so read from moto's queue, not received)."""
    from moto.sqs.models import sqs_backends

    queue = stack.sandbox.outputs.outputs["BatchRetryQueueUrl"]
    backend_queue = sqs_backends["123456789012"]["us-east-1"].queues[queue.rsplit("/", 1)[-1]]
    return [json.loads(m.body) for m in backend_queue._messages]


def describe_request(stack: Stack, result: dict) -> dict:
    """The queued request, read back from the retry queue's message (as the retry function receives it)."""
    return next(b["request"] for b in queued_bodies(stack) if b["job_name"] == result["job_name"])


def state_event(job_name: str, status: str, **detail: object) -> dict:
    event = copy.deepcopy(sample_event("transform_job_state_change.json"))
    event["id"] = str(uuid.uuid4())
    event["detail"].update({"TransformJobName": job_name, "TransformJobStatus": status, **detail})
    event["detail"].pop("FailureReason", None) if status != "Failed" else None
    return event


def test_job_state_changes_complete_the_record_and_never_regress(clean_notifications: Stack) -> None:
    stack = clean_notifications
    model = stack.batch_model()
    _, result = start(stack, f"batch/{model}/input/records.csv")
    name = result["job_name"]
    stack.notifications()

    assert stack.invoke(STATE, state_event(name, "InProgress"))["status"] == "InProgress"
    done = stack.invoke(STATE, state_event(name, "Completed"))
    assert done["status"] == "Completed"
    late = stack.invoke(STATE, state_event(name, "InProgress"))
    assert late["status"] == "IGNORED"
    record = stack.job(name)
    assert record is not None
    assert record["status"] == "Completed"
    assert record["duration_seconds"] == 960.0  # TransformEndTime - TransformStartTime of the sample event
    assert record["output_uri"].startswith("s3://")
    assert [d["status"] for _, d in stack.notifications()] == ["InProgress", "Completed"]


def test_a_failed_job_keeps_its_failure_reason(stack: Stack) -> None:
    model = stack.batch_model()
    _, result = start(stack, f"batch/{model}/input/records.csv")
    stack.invoke(
        STATE, state_event(result["job_name"], "Failed", FailureReason="ClientError: bad CSV on line 7")
    )
    record = stack.job(result["job_name"])
    assert record is not None
    assert record["status"] == "Failed"
    assert record["failure_reason"] == "ClientError: bad CSV on line 7"


def test_events_of_jobs_sluice_did_not_start_are_ignored(stack: Stack) -> None:
    result = stack.invoke(STATE, sample_event("transform_job_state_change.json"))
    assert result["status"] == "IGNORED"
    assert "not started by Sluice" in result["message"]


def test_batch_output_never_re_triggers_intake(stack: Stack) -> None:
    model = stack.batch_model()
    key = f"batch/{model}/output/sluice-x/records.csv.out"
    put = stack.put(key, b"1\n")
    result = stack.invoke(START, stack.s3_event(key, put, sample=BATCH_SAMPLE))
    assert result["status"] == "IGNORED"
