"""Faults of the upload intakes and batch starts (issue 13, "Faults"), each injected the way AWS produces it,
each ending with nothing lost (`assert_nothing_lost`): the uploaded object version kept with its bytes, no
half-published model (every object under the serving prefix complete, written once, no multipart upload
left open), the registry telling the truth (every version it lists published where it says, or reserved
with nothing written; every transform job SageMaker runs recorded past STARTING), and FailureQueue empty
unless the README says the event waits there.

Events are delivered with `router.invoke_async`: Lambda's asynchronous invocation, with its two retries
(at once in the sandbox) and the OnFailure destination (FailureQueue). README, "Rejections, failures,
notifications" → "Faults and what each ends in" lists each case with what it ends in.
"""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from integration_kit import Stack, failure_records, make_archive, sample_event

from sluice.adapters.rollouts import LEASE_SK, lease_pk, rollout_pk
from sluice.domain.registry import model_pk

REGISTER = "RegisterModelFunction"
START = "StartBatchFunction"
RETRY = "RetryBatchStartFunction"
ROLLOUT = "StartRolloutFunction"
FIRST_DEPLOYMENT = {
    "image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3-cpu-py311",
    "instance_type": "ml.m5.xlarge",
}
BATCH_SAMPLE = "s3_object_created_batch.json"
CSV = b"".join(f"{i},{i * 0.5}\n".encode() for i in range(100))

# SageMaker's refusal of an instance quota, word for word as it answers CreateTransformJob (quoted in
# public issues and notebooks, e.g. aws/amazon-sagemaker-examples#1543 for the wording with utilization
# above the limit, data-science-on-aws/data-science-on-aws#200; `ResourceLimitExceeded` is an error of
# CreateTransformJob in botocore's SageMaker model).
QUOTA = (
    "The account-level service limit 'ml.m5.xlarge for transform job usage' is {limit} Instances, with "
    "current utilization of {used} Instances and a request delta of 1 Instances. Please use AWS Service "
    "Quotas to request an increase for this quota. If AWS Service Quotas is not available, contact AWS "
    "support to request an increase for this quota."
)
# S3's InternalError (S3 API reference, "Error responses"); during a copy it comes in a 200 OK.
S3_INTERNAL_ERROR = "We encountered an internal error. Please try again."


@dataclass(frozen=True, eq=False)  # one per upload (a dict key by identity)
class Uploaded:
    key: str
    put: dict[str, Any]
    body: bytes


@pytest.fixture
def faults_cleared(clean_notifications: Stack) -> Iterator[Stack]:
    failure_records(clean_notifications)  # what an earlier test left
    yield clean_notifications
    clean_notifications.sandbox.faults.clear()


def upload(stack: Stack, key: str, body: bytes) -> Uploaded:
    return Uploaded(key, stack.put(key, body), body)


def event_of(stack: Stack, uploaded: Uploaded, sample: str = "s3_object_created_multi_model.json") -> dict:
    return stack.s3_event(uploaded.key, uploaded.put, sample=sample)


def deliver(stack: Stack, function: str, event: dict) -> bool:
    """One EventBridge delivery: Lambda's asynchronous invocation (True when some attempt succeeded)."""
    return stack.sandbox.router.invoke_async(function, event)


def attempts(stack: Stack, event: dict) -> list[tuple[str, str | None]]:
    """(outcome, error type) of each invocation that received `event`."""
    runs = [i for i in stack.sandbox.router.invocations if i.event_id == event["id"]]
    return [(i.outcome, i.error.split(":")[0] if i.error else None) for i in runs]


def assert_nothing_lost(
    stack: Stack,
    uploads: Sequence[Uploaded],
    statuses: Sequence[str],
    *,
    serving: str | None = None,
    published: Mapping[str, bytes] | None = None,
    batch_model: str | None = None,
    jobs: int = 0,
    rollout_endpoint: str | None = None,
    failures: int = 0,
) -> list[dict[str, Any]]:
    """The invariant every fault ends in; returns the FailureQueue records (`failures` of them).

    `serving`: a multi-model endpoint whose prefix (`serving/<endpoint>/`) holds exactly `published`
    (key → bytes), each key written once; `batch_model`: SageMaker holds exactly `jobs` transform jobs
    of it, each recorded; `rollout_endpoint`: one rollout of it, one execution, the lease its own."""
    s3 = stack.client("s3")
    for uploaded, status in zip(uploads, statuses, strict=True):
        kept = s3.get_object(Bucket=stack.bucket, Key=uploaded.key, VersionId=uploaded.put["VersionId"])
        assert kept["Body"].read() == uploaded.body, f"{uploaded.key} changed"
        intake = stack.intake(uploaded.key, uploaded.put)
        assert intake is not None and intake["status"] == status, (uploaded.key, intake)

    if serving is not None:
        prefix = f"serving/{serving}/"
        versions = s3.list_object_versions(Bucket=stack.bucket, Prefix=prefix).get("Versions", [])
        written = [v["Key"] for v in versions]
        assert sorted(written) == sorted(published or {}), "each published key written once, nothing else"
        for key, body in (published or {}).items():
            assert s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read() == body
        assert s3.list_multipart_uploads(Bucket=stack.bucket, Prefix=prefix).get("Uploads", []) == []
        for version in registry_versions(stack, serving):
            key = f"{prefix}{version['model']}/v{version['version']}.tar.gz"
            if version["status"] == "PUBLISHING":  # reserved: nothing may be there yet
                assert key not in written, f"{key} written but recorded as only reserved"
                continue
            assert version["status"].startswith("PUBLISHED"), version
            assert version["s3_uri"] == f"s3://{stack.bucket}/{key}"
            metadata = s3.head_object(Bucket=stack.bucket, Key=key)["Metadata"]
            assert metadata["sluice-sha256"] == version["sha256"]

    if batch_model is not None:
        listed = stack.client("sagemaker").list_transform_jobs(NameContains=batch_model)[
            "TransformJobSummaries"
        ]
        assert len(listed) == jobs, [j["TransformJobName"] for j in listed]
        for job in listed:
            record = stack.job(job["TransformJobName"])
            assert record is not None and record["status"] not in ("STARTING", "REJECTED"), record

    if rollout_endpoint is not None:
        rollouts, executions = rollouts_and_executions(stack, rollout_endpoint)
        assert (len(rollouts), len(executions)) == (1, 1), "one rollout, one execution"
        ((rollout,), (execution,)) = rollouts, executions
        assert rollout["execution_arn"] == execution["executionArn"]
        lease = stack.item(lease_pk(rollout_endpoint), LEASE_SK)
        assert lease is None or lease["rollout_id"] == rollout["rollout_id"]

    records = failure_records(stack)
    assert len(records) == failures, records
    return records


def rollouts_and_executions(stack: Stack, endpoint: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The endpoint's rollout records, and the executions started for it."""
    from sluice.adapters.registry import from_item

    ddb, sfn = stack.client("dynamodb"), stack.client("stepfunctions")
    items = ddb.query(
        TableName=stack.table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": rollout_pk(endpoint)}},
    )["Items"]
    machine = stack.sandbox.outputs.outputs["RolloutStateMachineArn"]
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    mine = [e for e in executions if e["name"].startswith(f"{endpoint}-")]
    return [from_item(i) for i in items], mine


def registry_versions(stack: Stack, endpoint: str) -> list[dict[str, Any]]:
    """Every model version the registry lists on `endpoint` (from its models' partitions)."""
    from sluice.adapters.registry import from_item

    ddb = stack.client("dynamodb")
    items = ddb.scan(
        TableName=stack.table,
        FilterExpression="begins_with(pk, :pk) AND begins_with(sk, :v)",
        ExpressionAttributeValues={":pk": {"S": model_pk(endpoint, "")}, ":v": {"S": "v#"}},
    )["Items"]
    return [from_item(i) for i in items]


# -- a. ResourceLimitExceeded on CreateTransformJob -----------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "used", "ends_in"),
    [(2, 2, "BATCH_STARTED"), (0, 0, "REJECTED")],
    ids=["quota-in-use-queues-then-starts", "quota-below-the-request-rejected-at-once"],
)
def test_a_transform_quota_refusal_waits_while_the_job_can_fit_and_is_rejected_when_it_never_can(
    faults_cleared: Stack, limit: int, used: int, ends_in: str
) -> None:
    stack = faults_cleared
    model = stack.batch_model()
    uploaded = upload(stack, f"batch/{model}/input/records.csv", CSV)
    refusal = QUOTA.format(limit=limit, used=used)
    stack.sandbox.faults.fail(
        "sagemaker", "CreateTransformJob", "ResourceLimitExceeded", refusal, when={"ModelName": model}
    )

    assert deliver(stack, START, event_of(stack, uploaded, BATCH_SAMPLE))  # never an error: no Lambda retry

    job_name = stack.intake(uploaded.key, uploaded.put)["job_name"]  # type: ignore[index]
    record = stack.job(job_name)
    assert record is not None
    if ends_in == "REJECTED":
        assert record["status"] == "REJECTED"
        assert "'ml.m5.xlarge for transform job usage' is 0 and the job asks for 1" in record["reason"]
        assert "Service Quotas" in record["reason"]
        assert stack.intake(uploaded.key, uploaded.put)["code"] == "QuotaTooLow"  # type: ignore[index]
        assert stack.tags(uploaded.key, uploaded.put["VersionId"]) == {"sluice:status": "rejected"}
        ((kind, detail),) = stack.notifications()
        assert (kind, detail["code"], detail["job_name"]) == (
            "Sluice Artifact Rejected",
            "QuotaTooLow",
            job_name,
        )
        assert [b for b in retry_bodies(stack) if b["job_name"] == job_name] == []  # nothing retries
        assert_nothing_lost(stack, [uploaded], ["REJECTED"], batch_model=model, jobs=0)
        return

    assert (record["status"], record["attempts"]) == ("QUEUED", 1)
    assert refusal in record["reason"] and record["next_attempt_at"]
    assert stack.intake(uploaded.key, uploaded.put)["status"] == "BATCH_QUEUED"  # type: ignore[index]
    ((body,),) = [[b for b in retry_bodies(stack) if b["job_name"] == job_name]]
    assert body["attempt"] == 2
    assert stack.invoke(RETRY, retry_event(body)) == {"batchItemFailures": []}  # the buffered retry

    assert stack.job(job_name)["status"] == "STARTED"  # type: ignore[index]
    assert [(d["status"], d.get("reason")) for _, d in stack.notifications()] == [
        ("QUEUED", f"ResourceLimitExceeded: {refusal}"),
        ("STARTED", None),
    ]
    assert_nothing_lost(stack, [uploaded], [ends_in], batch_model=model, jobs=1)


def retry_bodies(stack: Stack) -> list[dict[str, Any]]:
    """The requests waiting (delayed) in BatchRetryQueue, read from moto's queue."""
    from moto.sqs.models import sqs_backends

    url = stack.sandbox.outputs.outputs["BatchRetryQueueUrl"]
    queue = sqs_backends["123456789012"]["us-east-1"].queues[url.rsplit("/", 1)[-1]]
    return [json.loads(m.body) for m in queue._messages]


def retry_event(body: dict[str, Any]) -> dict[str, Any]:
    """The buffered request as Lambda's SQS integration delivers it to RetryBatchStartFunction."""
    event = copy.deepcopy(sample_event("batch_retry_message.json"))
    event["Records"][0].update(body=json.dumps(body), messageId=str(uuid.uuid4()))
    return event


# -- b. the function dies between two side effects; Lambda retries ------------------------------------


@pytest.mark.parametrize(
    "between",
    [
        "multi-model: the S3 copy, the registry write",
        "batch: CreateTransformJob, the job record",
        "rollout: the endpoint's lease, StartExecution",
    ],
)
def test_a_crash_between_two_side_effects_converges_on_lambdas_retry(
    faults_cleared: Stack, between: str
) -> None:
    stack = faults_cleared
    crashes = stack.sandbox.faults
    if between.startswith("multi-model"):
        endpoint = stack.multi_model_endpoint()
        uploaded = upload(stack, f"multi-model/{endpoint}/churn.tar.gz", make_archive())
        target = f"serving/{endpoint}/churn/v1.tar.gz"
        crashes.crash_after("s3", "CopyObject", when={"Key": target})
        event = event_of(stack, uploaded)
        assert deliver(stack, REGISTER, event)
        assert_nothing_lost(
            stack, [uploaded], ["PUBLISHED"], serving=endpoint, published={target: uploaded.body}
        )
        registered = [(k, d["version"], d["latest"]) for k, d in stack.notifications()]
        assert registered == [("Sluice Model Registered", 1, True)]
    elif between.startswith("rollout"):
        endpoint = f"first-{uuid.uuid4().hex[:6]}"  # a first deployment: its rollout creates the endpoint
        stack.put(f"endpoints/{endpoint}/deploy.json", json.dumps(FIRST_DEPLOYMENT).encode())
        uploaded = upload(stack, f"endpoints/{endpoint}/v1/model.tar.gz", make_archive())
        crashes.crash_after("dynamodb", "PutItem", when={"Item.pk.S": lease_pk(endpoint)})
        event = event_of(stack, uploaded)
        assert deliver(stack, ROLLOUT, event)
        assert_nothing_lost(stack, [uploaded], ["ROLLOUT_STARTED"], rollout_endpoint=endpoint)
        (execution,) = rollouts_and_executions(stack, endpoint)[1]
        stack.sandbox.router.wait_for_execution(execution["executionArn"], timeout=60)
        # This stack has no SageMakerExecutionRoleArn, so the one execution refuses the first deployment
        # (nothing created) and hands the lease back: the endpoint is free for the next upload.
        (rollout,) = rollouts_and_executions(stack, endpoint)[0]
        assert rollout["status"] == "REFUSED"
        assert stack.item(lease_pk(endpoint), LEASE_SK) is None
    else:
        model = stack.batch_model()
        uploaded = upload(stack, f"batch/{model}/input/records.csv", CSV)
        crashes.crash_after("sagemaker", "CreateTransformJob", when={"ModelName": model})
        event = event_of(stack, uploaded, BATCH_SAMPLE)
        assert deliver(stack, START, event)
        assert_nothing_lost(stack, [uploaded], ["BATCH_STARTED"], batch_model=model, jobs=1)
        ((_, started),) = stack.notifications()
        assert (started["status"], started["already_running"]) == ("STARTED", True)  # by the crashed attempt
    # The first attempt died after its side effect; Lambda's retry found it and finished the work.
    assert attempts(stack, event) == [("failed", "InvocationCrashed"), ("succeeded", None)]


@pytest.mark.parametrize("intake", ["multi-model", "batch"])
def test_a_crash_between_the_registry_write_and_the_notification_still_notifies(
    faults_cleared: Stack, intake: str
) -> None:
    """The intake record is final only once the upload is tagged and notified (it used to be final first,
    so the retry read "already processed" and neither ever happened)."""
    stack = faults_cleared
    crashes = stack.sandbox.faults
    if intake == "multi-model":
        endpoint = stack.multi_model_endpoint()
        uploaded = upload(stack, f"multi-model/{endpoint}/churn.tar.gz", make_archive())
        crashes.crash_before("s3", "PutObjectTagging", when={"Key": uploaded.key})
        event = event_of(stack, uploaded)
        assert deliver(stack, REGISTER, event)
        published = {f"serving/{endpoint}/churn/v1.tar.gz": uploaded.body}
        assert_nothing_lost(stack, [uploaded], ["PUBLISHED"], serving=endpoint, published=published)
        assert stack.tags(uploaded.key, uploaded.put["VersionId"]) == {"sluice:status": "published"}
        assert [k for k, _ in stack.notifications()] == ["Sluice Model Registered"]
    else:
        model = stack.batch_model()
        uploaded = upload(stack, f"batch/{model}/input/records.csv", CSV)
        crashes.crash_before("sns", "Publish", when={"MessageAttributes.status.StringValue": "STARTED"})
        event = event_of(stack, uploaded, BATCH_SAMPLE)
        assert deliver(stack, START, event)
        assert_nothing_lost(stack, [uploaded], ["BATCH_STARTED"], batch_model=model, jobs=1)
        assert [d["status"] for _, d in stack.notifications()] == ["STARTED"]
    assert attempts(stack, event) == [("failed", "InvocationCrashed"), ("succeeded", None)]


# -- c. duplicate and out-of-order S3 events for one key ----------------------------------------------


def test_duplicate_and_out_of_order_s3_events_act_once_per_upload(faults_cleared: Stack) -> None:
    """EventBridge delivers at least once and S3 does not order events: each object version is acted on
    once, and `latest` is the last upload by S3's sequencer, whatever the delivery order."""
    stack = faults_cleared
    endpoint = stack.multi_model_endpoint()
    key = f"multi-model/{endpoint}/churn.tar.gz"
    first, second, third = (upload(stack, key, make_archive({"model.pth": w})) for w in (b"1", b"2", b"3"))
    events = {u: event_of(stack, u) for u in (first, second, third)}
    again = {**events[third], "id": str(uuid.uuid4())}  # the same upload under another event id
    for event in (events[third], events[first], again, events[second], events[first]):
        assert deliver(stack, REGISTER, event)

    prefix = f"serving/{endpoint}/churn"
    assert_nothing_lost(
        stack,
        [first, second, third],
        ["PUBLISHED"] * 3,
        serving=endpoint,
        published={
            f"{prefix}/v1.tar.gz": third.body,
            f"{prefix}/v2.tar.gz": first.body,
            f"{prefix}/v3.tar.gz": second.body,
        },
    )
    latest = stack.latest(endpoint, "churn")
    assert latest is not None and (latest["version"], latest["source_version_id"]) == (
        1,
        third.put["VersionId"],
    )
    registered = [
        (d["version"], d["latest"]) for t, d in stack.notifications() if t == "Sluice Model Registered"
    ]
    assert registered == [(1, True), (2, False), (3, False)]

    model = stack.batch_model()
    key = f"batch/{model}/input/records.csv"
    older, newer = upload(stack, key, CSV), upload(stack, key, CSV + b"100,50.0\n")
    late, early = event_of(stack, older, BATCH_SAMPLE), event_of(stack, newer, BATCH_SAMPLE)
    for event in (early, late, {**early, "id": str(uuid.uuid4())}, late):
        assert deliver(stack, START, event)
    assert_nothing_lost(stack, [older, newer], ["BATCH_STARTED"] * 2, batch_model=model, jobs=2)
    assert [d["status"] for _, d in stack.notifications()] == ["STARTED", "STARTED"]  # one per upload


# -- d. an S3 copy failing half-way through a multi-model publish --------------------------------------


@pytest.fixture
def copies_in_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Multipart copies above 5 MiB (Sluice's threshold is 64 MiB; S3's smallest part is 5 MiB), and
    botocore's retry back-off (jittered, up to 20 s a retry) compressed to nothing: every retry still
    happens, as many as on AWS."""
    from boto3.s3.transfer import TransferConfig
    from botocore.retries.standard import ExponentialBackoff

    from sluice.adapters import s3 as s3_adapter

    mib = 1024 * 1024
    config = TransferConfig(multipart_threshold=5 * mib, multipart_chunksize=5 * mib)
    monkeypatch.setattr(s3_adapter, "_COPY_CONFIG", config)
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)


def test_an_s3_copy_failing_midway_leaves_no_partial_object_and_the_redriven_event_publishes_once(
    faults_cleared: Stack, copies_in_parts: None
) -> None:
    stack = faults_cleared
    endpoint = stack.multi_model_endpoint()
    uploaded = upload(
        stack, f"multi-model/{endpoint}/big.tar.gz", make_archive({"w.bin": os.urandom(12 << 20)})
    )
    target = f"serving/{endpoint}/big/v1.tar.gz"
    # Part 2 of 3 fails on every try, the way S3 fails a copy that has started: 200 OK, InternalError in
    # the body (botocore retries it as a 500, 5 times; each Lambda attempt gives up, Lambda retries twice).
    part = stack.sandbox.faults.fail(
        "s3",
        "UploadPartCopy",
        "InternalError",
        S3_INTERNAL_ERROR,
        status=200,
        times=1000,
        when={"Key": target, "PartNumber": "2"},
    )
    event = event_of(stack, uploaded)

    assert not deliver(stack, REGISTER, event)
    assert part.failed == 3 * 6
    # Nothing half-published: no object, no open multipart upload; v1 stays reserved for this upload.
    (failed,) = assert_nothing_lost(
        stack, [uploaded], ["PUBLISHING"], serving=endpoint, published={}, failures=1
    )
    assert failed["requestPayload"] == event
    assert failed["responsePayload"]["errorType"] == "TransientAwsError"
    assert "InternalError" in failed["responsePayload"]["errorMessage"]
    assert [d["status"] for d in registry_versions(stack, endpoint)] == ["PUBLISHING"]

    stack.sandbox.faults.clear()  # S3 recovers; the operator redrives the event (README's runbook)
    assert deliver(stack, REGISTER, failed["requestPayload"])

    assert_nothing_lost(stack, [uploaded], ["PUBLISHED"], serving=endpoint, published={target: uploaded.body})
    published = stack.client("s3").head_object(Bucket=stack.bucket, Key=target)
    assert published["ETag"].strip('"').endswith("-3")  # copied in three parts, once
