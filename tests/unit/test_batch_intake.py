"""Batch journeys on in-memory ports: start, queue on capacity errors, retry, give up, follow states."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest
from fakes import FakeNotifier, FakeObjectStore, FakeRegistry, FakeRetryQueue, FakeSageMaker

from sluice.domain.batch_intake import (
    BatchServices,
    RetryRequest,
    record_job_state,
    retry_batch_start,
    start_batch_upload,
)
from sluice.domain.intake import Upload
from sluice.settings import Settings

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
BUCKET = "artifacts"
KEY = "batch/churn/input/day-1/records.csv"


@pytest.fixture
def services() -> BatchServices:
    return BatchServices(
        store=FakeObjectStore(),
        registry=FakeRegistry(),
        notifier=FakeNotifier(),
        sagemaker=FakeSageMaker(models={"churn"}),
        retry_queue=FakeRetryQueue(),
        default_instance_type="ml.m5.xlarge",
        max_start_attempts=3,
    )


def upload(services: BatchServices, key: str = KEY, body: bytes = b"1,2\n3,4\n") -> Upload:
    head = services.store.put(BUCKET, key, body)  # type: ignore[attr-defined]
    return Upload(BUCKET, key, "raw", head.version_id, head.etag)


def test_an_input_starts_one_job_with_line_split_defaults(services: BatchServices) -> None:
    outcome = start_batch_upload(upload(services), services, NOW, jitter=0.0)
    assert outcome.status == "STARTED"
    (request,) = services.sagemaker.jobs.values()  # type: ignore[attr-defined]
    assert request["TransformInput"]["SplitType"] == "Line"
    assert request["TransformInput"]["ContentType"] == "text/csv"
    assert request["BatchStrategy"] == "MultiRecord"
    job = services.registry.job(outcome.details["job_name"])
    assert job is not None
    assert job["status"] == "STARTED"


def test_capacity_errors_queue_the_request_then_a_retry_starts_it(services: BatchServices) -> None:
    services.sagemaker.capacity_errors = 1  # type: ignore[attr-defined]
    outcome = start_batch_upload(upload(services), services, NOW, jitter=0.0)
    assert outcome.status == "QUEUED"
    assert "retries in 30 s" in outcome.message
    job = services.registry.job(outcome.details["job_name"])
    assert job is not None
    assert job["status"] == "QUEUED"
    assert "ResourceLimitExceeded" in job["reason"]
    ((body, delay),) = services.retry_queue.messages  # type: ignore[attr-defined]
    assert delay == 30
    retried = retry_batch_start(RetryRequest(**json.loads(body)), services, NOW, jitter=0.0)
    assert retried.status == "STARTED"
    assert services.registry.job(outcome.details["job_name"])["status"] == "STARTED"  # type: ignore[index]


def test_retries_give_up_after_the_last_attempt_and_say_so(services: BatchServices) -> None:
    services.sagemaker.capacity_errors = 10  # type: ignore[attr-defined]
    outcome = start_batch_upload(upload(services), services, NOW, jitter=0.5)
    while services.retry_queue.messages:  # type: ignore[attr-defined]
        body, _ = services.retry_queue.messages.pop(0)  # type: ignore[attr-defined]
        outcome = retry_batch_start(RetryRequest(**json.loads(body)), services, NOW, jitter=0.5)
    assert outcome.status == "START_FAILED"
    assert "3 times" in outcome.message
    statuses = [d["status"] for t, d in services.notifier.sent]  # type: ignore[attr-defined]
    assert statuses == ["QUEUED", "START_FAILED"]


def test_a_retry_for_a_job_already_started_does_nothing(services: BatchServices) -> None:
    outcome = start_batch_upload(upload(services), services, NOW, jitter=0.0)
    retry = RetryRequest(outcome.details["job_name"], {}, 2, "pk", "sk")
    assert retry_batch_start(retry, services, NOW, jitter=0.0).status == "IGNORED"


def test_missing_model_is_rejected_and_the_input_kept(services: BatchServices) -> None:
    outcome = start_batch_upload(upload(services, key="batch/ghost/input/a.csv"), services, NOW, jitter=0.0)
    assert outcome.status == "REJECTED"
    assert "SageMaker model 'ghost' does not exist" in outcome.message
    assert services.store.head(BUCKET, "batch/ghost/input/a.csv") is not None
    assert services.store.tags[(BUCKET, "batch/ghost/input/a.csv")] == {"sluice:status": "rejected"}  # type: ignore[attr-defined]


def test_invalid_batch_json_is_rejected_with_the_field(services: BatchServices) -> None:
    services.store.put(BUCKET, "batch/churn/batch.json", b'{"instance_count": 0}')  # type: ignore[attr-defined]
    outcome = start_batch_upload(upload(services), services, NOW, jitter=0.0)
    assert outcome.status == "REJECTED"
    assert "instance_count" in outcome.message


def test_manifest_input_runs_one_manifest_job(services: BatchServices) -> None:
    manifest = json.dumps([{"prefix": "s3://artifacts/data/"}, "a.csv", "b.csv"]).encode()
    outcome = start_batch_upload(
        upload(services, key="batch/churn/input/all.manifest.json", body=manifest), services, NOW, jitter=0.0
    )
    assert outcome.status == "STARTED"
    (request,) = services.sagemaker.jobs.values()  # type: ignore[attr-defined]
    assert request["TransformInput"]["DataSource"]["S3DataSource"]["S3DataType"] == "ManifestFile"


def test_a_manifest_reaching_into_another_bucket_is_rejected_and_starts_nothing(
    services: BatchServices,
) -> None:
    key = "batch/churn/input/steal.manifest.json"
    manifest = json.dumps([{"prefix": "s3://payroll-exports/"}, "salaries.csv"]).encode()

    outcome = start_batch_upload(upload(services, key=key, body=manifest), services, NOW, jitter=0.0)

    assert outcome.status == "REJECTED"
    assert outcome.details["code"] == "InvalidConfiguration"
    assert outcome.message.startswith(f"{key}: the manifest's prefix 's3://payroll-exports/' puts entry 1")
    assert "bucket 'payroll-exports', which batch jobs may not read" in outcome.message
    assert services.sagemaker.jobs == {}  # type: ignore[attr-defined]


def test_an_invalid_manifest_is_rejected_naming_its_key(services: BatchServices) -> None:
    key = "batch/churn/input/bad.manifest.json"
    outcome = start_batch_upload(upload(services, key=key, body=b'{"prefix": 1}'), services, NOW, jitter=0.0)

    assert outcome.status == "REJECTED"
    assert outcome.message.startswith(f"{key}: the manifest must be a JSON array, not an object")


def test_a_manifest_in_a_configured_input_bucket_runs(services: BatchServices) -> None:
    services = dataclasses.replace(services, input_buckets=("shared-features",))
    manifest = json.dumps([{"prefix": "s3://shared-features/day-1/"}, "a.csv"]).encode()

    outcome = start_batch_upload(
        upload(services, key="batch/churn/input/f.manifest.json", body=manifest), services, NOW, jitter=0.0
    )

    assert outcome.status == "STARTED"


def test_job_states_apply_in_order_and_never_regress(services: BatchServices) -> None:
    name = start_batch_upload(upload(services), services, NOW, jitter=0.0).details["job_name"]
    detail = {
        "TransformStartTime": 1_795_608_000_000,
        "TransformEndTime": 1_795_608_090_500,
        "TransformOutput": {"S3OutputPath": "s3://artifacts/batch/churn/output/x/"},
    }
    assert record_job_state(name, "InProgress", {}, services, NOW).status == "InProgress"
    done = record_job_state(name, "Completed", detail, services, NOW)
    assert done.status == "Completed"
    assert done.details["duration_seconds"] == 90.5
    late = record_job_state(name, "InProgress", {}, services, NOW)
    assert late.status == "IGNORED"
    assert "out of order" in late.message
    assert services.registry.job(name)["status"] == "Completed"  # type: ignore[index]


def test_failed_jobs_keep_the_failure_reason(services: BatchServices) -> None:
    name = start_batch_upload(upload(services), services, NOW, jitter=0.0).details["job_name"]
    record_job_state(name, "Failed", {"FailureReason": "ClientError: bad input"}, services, NOW)
    assert services.registry.job(name)["failure_reason"] == "ClientError: bad input"  # type: ignore[index]


def test_jobs_sluice_did_not_start_are_ignored(services: BatchServices) -> None:
    outcome = record_job_state("someone-elses-job", "Completed", {}, services, NOW)
    assert outcome.status == "IGNORED"
    assert "not started by Sluice" in outcome.message


def test_a_job_sagemaker_refuses_is_a_rejection_of_the_upload(services: BatchServices) -> None:
    services.sagemaker.refuse_with = "Instance type ml.p5.48xlarge is not supported for transform"  # type: ignore[attr-defined]
    outcome = start_batch_upload(upload(services), services, NOW, jitter=0.0)
    assert outcome.status == "REJECTED"
    assert "ml.p5.48xlarge is not supported" in outcome.message
    job = services.registry.job(outcome.details["job_name"])
    assert job is not None
    assert job["status"] == "REJECTED"
    assert services.store.tags[(BUCKET, KEY)] == {"sluice:status": "rejected"}  # type: ignore[attr-defined]
    assert [t for t, _ in services.notifier.sent] == ["Sluice Artifact Rejected"]  # type: ignore[attr-defined]


def test_a_refused_retry_whose_intake_is_gone_still_notifies(services: BatchServices) -> None:
    services.sagemaker.refuse_with = "bad request"  # type: ignore[attr-defined]
    services.registry.put({"pk": "job#sluice-x", "sk": "job", "status": "QUEUED", "model": "churn"})
    outcome = retry_batch_start(
        RetryRequest("sluice-x", {}, 2, "intake#gone", "v"), services, NOW, jitter=0.0
    )
    assert outcome.status == "REJECTED"
    assert services.notifier.sent[-1][1]["reason"].endswith("bad request")  # type: ignore[attr-defined]


def test_inputs_written_by_sluice_vanished_or_outside_the_layout_are_ignored(services: BatchServices) -> None:
    services.store.put(BUCKET, "batch/churn/input/own.csv", b"1\n", {"sluice-origin": "published"})  # type: ignore[attr-defined]
    own = start_batch_upload(
        Upload(BUCKET, "batch/churn/input/own.csv", "raw", None, None), services, NOW, 0.0
    )
    gone = start_batch_upload(
        Upload(BUCKET, "batch/churn/input/gone.csv", "raw", None, None), services, NOW, 0.0
    )
    outside = start_batch_upload(
        upload(services, key="batch/churn/batch.json", body=b"{}"), services, NOW, 0.0
    )
    assert [own.status, gone.status, outside.status] == ["IGNORED"] * 3
    assert "no recursion" in own.message
    assert "no longer exists" in gone.message
    assert "batch/<model>/input/<path>" in outside.message
    assert services.sagemaker.jobs == {}  # type: ignore[attr-defined]


def test_an_upload_already_processed_is_not_started_again(services: BatchServices) -> None:
    event = upload(services)
    first = start_batch_upload(event, services, NOW, jitter=0.0)
    again = start_batch_upload(event, services, NOW, jitter=0.0)
    assert again.status == "BATCH_STARTED"
    assert again.details["job_name"] == first.details["job_name"]
    assert "already processed" in again.message


def test_oversized_batch_json_is_rejected(services: BatchServices) -> None:
    services.store.put(BUCKET, "batch/churn/batch.json", b" " * (64 * 1024 + 1))  # type: ignore[attr-defined]
    outcome = start_batch_upload(upload(services), services, NOW, jitter=0.0)
    assert outcome.status == "REJECTED"
    assert "batch/churn/batch.json is too large" in outcome.message


def test_job_events_apply_even_when_the_record_changes_underneath(services: BatchServices) -> None:
    name = start_batch_upload(upload(services), services, NOW, jitter=0.0).details["job_name"]
    original_update = services.registry.update
    calls = {"n": 0}

    def racing_update(pk: str, sk: str, attrs: dict, *, expect: dict | None = None) -> bool:  # type: ignore[type-arg]
        calls["n"] += 1
        if calls["n"] == 1:  # another event moved the record on between our read and write
            original_update(pk, sk, {"status": "InProgress"})
        return original_update(pk, sk, attrs, expect=expect)

    services.registry.update = racing_update  # type: ignore[method-assign]
    outcome = record_job_state(name, "Completed", {"TransformEndTime": "2026-11-25T12:00:00Z"}, services, NOW)
    assert outcome.status == "Completed"
    assert outcome.details["previous_status"] == "InProgress"


def test_no_late_started_notification_once_the_job_reported_progress(services: BatchServices) -> None:
    """SageMaker's InProgress event may be handled before CreateTransformJob returns to us."""
    original_create = services.sagemaker.create_transform_job

    def create_and_report_progress(request: dict) -> bool:  # type: ignore[type-arg]
        started = original_create(request)
        record_job_state(request["TransformJobName"], "InProgress", {}, services, NOW)
        return started

    services.sagemaker.create_transform_job = create_and_report_progress  # type: ignore[method-assign]
    outcome = start_batch_upload(upload(services), services, NOW, jitter=0.0)
    assert outcome.status == "STARTED"
    assert services.registry.job(outcome.details["job_name"])["status"] == "InProgress"  # type: ignore[index]
    assert [d["status"] for _, d in services.notifier.sent] == ["InProgress"]  # type: ignore[attr-defined]


def test_the_input_buckets_setting_is_read_from_the_template_variable() -> None:
    env = {
        "ARTIFACT_BUCKET": "artifacts",
        "REGISTRY_TABLE": "t",
        "IDEMPOTENCY_TABLE": "i",
        "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:n",
        "BATCH_RETRY_QUEUE_URL": "q",
        "UPLOAD_REDELIVERY_QUEUE_URL": "r",
    }
    assert Settings.from_environ(env).batch_input_bucket_names == ()
    configured = Settings.from_environ({**env, "BATCH_INPUT_BUCKETS": "shared-features,team.b"})
    assert configured.batch_input_bucket_names == ("shared-features", "team.b")


def test_a_quota_the_job_can_never_fit_is_a_rejection_not_a_day_of_retries(services: BatchServices) -> None:
    services.sagemaker.capacity_errors = 1  # type: ignore[attr-defined]
    services.sagemaker.capacity_message = (  # type: ignore[attr-defined]
        "ResourceLimitExceeded: The account-level service limit 'ml.m5.xlarge for transform job usage' is 0 "
        "Instances, with current utilization of 0 Instances and a request delta of 1 Instances. Please use "
        "AWS Service Quotas to request an increase for this quota."
    )
    outcome = start_batch_upload(upload(services), services, NOW, jitter=0.0)
    assert outcome.status == "REJECTED"
    assert outcome.details["code"] == "QuotaTooLow"
    assert "'ml.m5.xlarge for transform job usage' is 0" in outcome.message
    assert "Service Quotas" in outcome.message
    assert "batch/churn/batch.json" in outcome.message
    assert services.retry_queue.messages == []  # type: ignore[attr-defined]
    job = services.registry.job(outcome.details["job_name"])
    assert job is not None
    assert (job["status"], job["reason"]) == ("REJECTED", outcome.message)
    assert services.store.tags[(BUCKET, KEY)] == {"sluice:status": "rejected"}  # type: ignore[attr-defined]
    assert [t for t, _ in services.notifier.sent] == ["Sluice Artifact Rejected"]  # type: ignore[attr-defined]


def test_a_quota_in_use_still_queues_the_request(services: BatchServices) -> None:
    services.sagemaker.capacity_errors = 1  # type: ignore[attr-defined]
    services.sagemaker.capacity_message = (  # type: ignore[attr-defined]
        "ResourceLimitExceeded: The account-level service limit 'ml.m5.xlarge for transform job usage' is 2 "
        "Instances, with current utilization of 2 Instances and a request delta of 1 Instances."
    )
    outcome = start_batch_upload(upload(services), services, NOW, jitter=0.0)
    assert outcome.status == "QUEUED"
    assert len(services.retry_queue.messages) == 1  # type: ignore[attr-defined]


class Died(BaseException):
    """The invocation dying (a crash, a timeout): nothing in the intake catches it."""


def test_a_crash_between_the_job_record_and_its_notification_still_notifies_once(
    services: BatchServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = upload(services)

    def die(*args: object, **kwargs: object) -> None:
        raise Died

    with monkeypatch.context() as patch:
        patch.setattr(services.notifier, "notify", die)
        with pytest.raises(Died):
            start_batch_upload(event, services, NOW, jitter=0.0)
    (job_name,) = services.sagemaker.jobs  # type: ignore[attr-defined]
    assert services.registry.job(job_name)["status"] == "STARTED"  # type: ignore[index]

    retried = start_batch_upload(event, services, NOW, jitter=0.0)

    assert (retried.status, retried.details["already_running"]) == ("STARTED", True)
    assert len(services.sagemaker.jobs) == 1  # type: ignore[attr-defined]
    assert [d["status"] for _, d in services.notifier.sent] == ["STARTED"]  # type: ignore[attr-defined]
    again = start_batch_upload(event, services, NOW, jitter=0.0)  # the intake is final now
    assert again.status == "BATCH_STARTED"
    assert [d["status"] for _, d in services.notifier.sent] == ["STARTED"]  # type: ignore[attr-defined]


def test_a_buffered_retry_that_died_before_notifying_is_finished_when_its_message_returns(
    services: BatchServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    services.sagemaker.capacity_errors = 1  # type: ignore[attr-defined]
    event = upload(services)
    queued = start_batch_upload(event, services, NOW, jitter=0.0)
    ((body, _),) = services.retry_queue.messages  # type: ignore[attr-defined]

    def die(*args: object, **kwargs: object) -> None:
        raise Died

    with monkeypatch.context() as patch:
        patch.setattr(services.notifier, "notify", die)
        with pytest.raises(Died):
            retry_batch_start(RetryRequest(**json.loads(body)), services, NOW, jitter=0.0)

    again = retry_batch_start(RetryRequest(**json.loads(body)), services, NOW, jitter=0.0)

    assert again.status == "STARTED"
    assert [d["status"] for _, d in services.notifier.sent] == ["QUEUED", "STARTED"]  # type: ignore[attr-defined]
    job = services.registry.job(queued.details["job_name"])
    assert job is not None and job["started_notified"] is True
    request = json.loads(body)
    intake = services.registry.get(request["intake_pk"], request["intake_sk"])
    assert intake is not None and intake["status"] == "BATCH_STARTED"
    assert retry_batch_start(RetryRequest(**json.loads(body)), services, NOW, jitter=0.0).status == "IGNORED"
