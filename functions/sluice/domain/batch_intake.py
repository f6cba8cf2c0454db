"""Batch transform journeys: start a job for an uploaded input, buffer it when SageMaker is full,
and follow the job's state changes to a final record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sluice.domain.batch import (
    BatchSettings,
    TransformJobPlan,
    check_manifest_buckets,
    next_job_status,
    parse_batch_settings,
    parse_manifest,
    plan_transform_job,
    retry_delay_seconds,
)
from sluice.domain.intake import (
    IntakeServices,
    Outcome,
    Upload,
    ignored,
    open_intake,
    reject,
)
from sluice.domain.layout import BatchInput, validate_sagemaker_name
from sluice.domain.ports import ObjectHead, RetryQueuePort, SageMakerPort
from sluice.domain.registry import JOB_SK, IntakeStatus, job_pk
from sluice.domain.service_limit import parse_service_limit
from sluice.errors import CapacityUnavailable, QuotaTooLow, Rejected, RejectedConfiguration, RejectedTarget

KIND = "batch"
JOB_DETAIL_TYPE = "Sluice Batch Job State Change"
MAX_SETTINGS_BYTES = 64 * 1024
MAX_MANIFEST_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class BatchServices(IntakeServices):
    sagemaker: SageMakerPort
    retry_queue: RetryQueuePort
    default_instance_type: str
    max_start_attempts: int
    # Buckets besides the artifact bucket a manifest may list objects in (BatchInputBuckets).
    input_buckets: tuple[str, ...] = ()


@dataclass(frozen=True)
class RetryRequest:
    """A CreateTransformJob request waiting in the retry queue for SageMaker capacity."""

    job_name: str
    request: dict[str, Any]
    attempt: int
    intake_pk: str
    intake_sk: str

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)


def start_batch_upload(upload: Upload, services: BatchServices, now: datetime, jitter: float) -> Outcome:
    """The batch journey for one uploaded object version: plan the job and start it (or queue it)."""
    opened = open_intake(upload, services, BatchInput, resumable=frozenset({"RECEIVED"}), now=now)
    if isinstance(opened, Outcome):
        return opened
    head, target = opened.head, opened.target
    pk, sk = opened.key
    try:
        plan = _plan(services, head, target)
    except Rejected as error:
        return reject(services, head, KIND, error, now, model=target.model)

    job = {
        "status": "STARTING",
        "kind": KIND,
        "source_bucket": head.bucket,
        "source_key": head.key,
        "source_version_id": head.version_id,
        "input_uri": plan.request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"],
        "output_uri": plan.output_uri,
        "instance_type": plan.request["TransformResources"]["InstanceType"],
        "instance_count": plan.request["TransformResources"]["InstanceCount"],
        "warnings": list(plan.warnings),
        "intake_pk": pk,
        "intake_sk": sk,
        "created_at": now.isoformat(),
        "updated_at": now.isoformat(),
        "attempts": 0,
    }
    services.registry.create_job(plan.job_name, target.model, job, now.isoformat())
    retry = RetryRequest(plan.job_name, plan.request, attempt=1, intake_pk=pk, intake_sk=sk)
    return _try_start(services, retry, now, jitter, model=target.model, warnings=plan.warnings)


def retry_batch_start(retry: RetryRequest, services: BatchServices, now: datetime, jitter: float) -> Outcome:
    """One buffered retry of CreateTransformJob (from the retry queue), or the end of one that recorded
    the job STARTED and died before notifying it (the message comes back after its visibility timeout)."""
    job = services.registry.job(retry.job_name)
    unfinished = job is not None and job.get("status") == "STARTED" and not job.get("started_notified")
    if job is None or (job.get("status") not in ("QUEUED", "STARTING") and not unfinished):
        status = "unknown" if job is None else job.get("status")
        return ignored(f"job {retry.job_name} is {status}; nothing to retry", job_name=retry.job_name)
    return _try_start(
        services, retry, now, jitter, model=str(job.get("model")), warnings=tuple(job.get("warnings", ()))
    )


def _plan(services: BatchServices, head: ObjectHead, target: BatchInput) -> TransformJobPlan:
    validate_sagemaker_name(target.model, "model")
    if not services.sagemaker.model_exists(target.model):
        raise RejectedTarget(
            f"SageMaker model {target.model!r} does not exist; create it (CreateModel) before uploading "
            f"inputs under batch/{target.model}/input/"
        )
    settings = BatchSettings()
    raw_settings = _read_config(services, head.bucket, target.settings_key, MAX_SETTINGS_BYTES)
    if raw_settings is not None:
        settings = parse_batch_settings(raw_settings)
    manifest = None
    if target.is_manifest:
        raw_manifest = _read_config(services, head.bucket, head.key, MAX_MANIFEST_BYTES)
        if raw_manifest is None:
            raise RejectedConfiguration(f"the manifest {head.key} disappeared before it could be read")
        try:
            manifest = parse_manifest(raw_manifest)
            check_manifest_buckets(manifest, head.bucket, services.input_buckets)
        except RejectedConfiguration as error:  # say which manifest, as deploy.json errors name their file
            raise RejectedConfiguration(f"{head.key}: {error.reason}") from error
    return plan_transform_job(
        model=target.model,
        bucket=head.bucket,
        key=head.key,
        version=head.version_id or head.etag,
        relative_path=target.relative_path,
        is_manifest=target.is_manifest,
        settings=settings,
        default_instance_type=services.default_instance_type,
        manifest=manifest,
    )


def _read_config(services: BatchServices, bucket: str, key: str, max_bytes: int) -> bytes | None:
    try:
        return services.store.read_small(bucket, key, max_bytes=max_bytes)
    except ValueError as exc:
        raise RejectedConfiguration(f"{key} is too large: {exc}") from exc


def _try_start(
    services: BatchServices,
    retry: RetryRequest,
    now: datetime,
    jitter: float,
    *,
    model: str,
    warnings: tuple[str, ...],
) -> Outcome:
    """CreateTransformJob once; success, already started, queued for later, or rejected by SageMaker."""
    job_key = (job_pk(retry.job_name), JOB_SK)
    base = {"job_name": retry.job_name, "model": model, "warnings": list(warnings)}
    try:
        started_now = services.sagemaker.create_transform_job(retry.request)
    except CapacityUnavailable as exc:
        too_low = _quota_never_fits(str(exc), model)
        if too_low is None:
            return _queue_or_give_up(services, retry, now, jitter, str(exc), base)
        refused: Rejected = too_low
    except Rejected as error:
        refused = error
    else:
        return _started(services, retry, now, started_now, model=model, warnings=warnings, base=base)
    services.registry.update(
        *job_key, {"status": "REJECTED", "reason": refused.reason, "updated_at": now.isoformat()}
    )
    return _reject_intake(services, retry, refused, now, base)


def _quota_never_fits(message: str, model: str) -> QuotaTooLow | None:
    """A ResourceLimitExceeded no retry can get past (the request alone exceeds the quota)."""
    limit = parse_service_limit(message)
    if limit is None or not limit.never_fits:
        return None
    return QuotaTooLow(
        f"SageMaker can never start this job as configured: the account-level service limit "
        f"'{limit.name}' is {limit.limit} and the job asks for {limit.delta}, so retrying cannot help. "
        f"Request an increase of '{limit.name}' in Service Quotas (Amazon SageMaker), or set another "
        f"instance_type / instance_count in batch/{model}/batch.json, then upload the input again. "
        f"SageMaker: {message}"
    )


def _started(
    services: BatchServices,
    retry: RetryRequest,
    now: datetime,
    started_now: bool,
    *,
    model: str,
    warnings: tuple[str, ...],
    base: dict[str, Any],
) -> Outcome:
    """The job runs (started now, or by an earlier attempt): record and notify it once."""
    job_key = (job_pk(retry.job_name), JOB_SK)

    # The job's own events may already have moved the record on (InProgress...): only STARTING/QUEUED advance.
    advanced = any(
        services.registry.update(
            *job_key,
            {
                "status": "STARTED",
                "started_at": now.isoformat(),
                "updated_at": now.isoformat(),
                "attempts": retry.attempt,
            },
            expect={"status": previous},
        )
        for previous in ("STARTING", "QUEUED")
    )
    if not advanced:  # an earlier attempt recorded STARTED, then died before notifying it
        job = services.registry.job(retry.job_name) or {}
        advanced = job.get("status") == "STARTED" and not job.get("started_notified")
    detail = {
        **base,
        "status": "STARTED",
        "attempt": retry.attempt,
        "already_running": not started_now,
        "input_uri": retry.request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"],
        "output_uri": retry.request["TransformOutput"]["S3OutputPath"],
    }
    if advanced:
        # Otherwise the job's own state events got there first and notified: a late STARTED would
        # reach subscribers after InProgress (or Completed) and read as a step backwards.
        services.notifier.notify(
            JOB_DETAIL_TYPE, detail, subject=f"Sluice started batch job {retry.job_name}"
        )
        services.registry.update(*job_key, {"started_notified": True})
    # Last: until the intake says BATCH_STARTED, a retry after a crash comes back here and finishes.
    services.registry.update(
        retry.intake_pk,
        retry.intake_sk,
        {
            "status": str(IntakeStatus.BATCH_STARTED),
            "job_name": retry.job_name,
            "updated_at": now.isoformat(),
        },
    )
    verb = "started" if started_now else "was already running:"
    message = f"batch transform job {verb} {retry.job_name} on model {model}"
    if warnings:
        message += " — warning: " + " ".join(warnings)
    return Outcome(status="STARTED", message=message, details=detail)


def _queue_or_give_up(
    services: BatchServices,
    retry: RetryRequest,
    now: datetime,
    jitter: float,
    reason: str,
    base: dict[str, Any],
) -> Outcome:
    job_key = (job_pk(retry.job_name), JOB_SK)
    if retry.attempt >= services.max_start_attempts:
        services.registry.update(
            *job_key,
            {
                "status": "START_FAILED",
                "reason": reason,
                "attempts": retry.attempt,
                "updated_at": now.isoformat(),
            },
        )
        services.registry.update(
            retry.intake_pk,
            retry.intake_sk,
            {"status": "START_FAILED", "reason": reason, "updated_at": now.isoformat()},
        )
        detail = {**base, "status": "START_FAILED", "reason": reason, "attempt": retry.attempt}
        services.notifier.notify(JOB_DETAIL_TYPE, detail, subject=f"Sluice gave up starting {retry.job_name}")
        return Outcome(
            status="START_FAILED",
            message=f"SageMaker refused {retry.job_name} {retry.attempt} times ({reason}); giving up",
            details=detail,
        )
    delay = retry_delay_seconds(retry.attempt, jitter=jitter)
    next_retry = RetryRequest(
        retry.job_name, retry.request, retry.attempt + 1, retry.intake_pk, retry.intake_sk
    )
    services.retry_queue.send_later(next_retry.to_json(), delay)
    next_at = datetime.fromtimestamp(now.timestamp() + delay, tz=UTC).isoformat()
    services.registry.update(
        *job_key,
        {
            "status": "QUEUED",
            "reason": reason,
            "attempts": retry.attempt,
            "next_attempt_at": next_at,
            "updated_at": now.isoformat(),
        },
    )
    services.registry.update(
        retry.intake_pk,
        retry.intake_sk,
        {"status": str(IntakeStatus.BATCH_QUEUED), "job_name": retry.job_name, "updated_at": now.isoformat()},
    )
    detail = {
        **base,
        "status": "QUEUED",
        "reason": reason,
        "attempt": retry.attempt,
        "next_attempt_at": next_at,
    }
    if retry.attempt == 1:
        services.notifier.notify(JOB_DETAIL_TYPE, detail, subject=f"Sluice queued batch job {retry.job_name}")
    return Outcome(
        status="QUEUED",
        message=f"SageMaker is at capacity ({reason}); {retry.job_name} retries in {delay} s "
        f"(attempt {retry.attempt + 1} of {services.max_start_attempts})",
        details=detail,
    )


def _reject_intake(
    services: BatchServices, retry: RetryRequest, error: Rejected, now: datetime, base: dict[str, Any]
) -> Outcome:
    intake = services.registry.get(retry.intake_pk, retry.intake_sk)
    if intake is None:
        detail = {**base, "status": "REJECTED", "reason": error.reason}
        services.notifier.notify(JOB_DETAIL_TYPE, detail, subject=f"Sluice: {retry.job_name} rejected")
        return Outcome(status="REJECTED", message=error.reason, details=detail)
    head = ObjectHead(
        bucket=str(intake["bucket"]),
        key=str(intake["key"]),
        size=int(intake.get("size", 0)),
        etag=str(intake.get("etag", "")),
        version_id=intake.get("source_version_id"),
    )
    return reject(services, head, KIND, error, now, **base)


def record_job_state(
    job_name: str, incoming_status: str, detail: dict[str, Any], services: IntakeServices, now: datetime
) -> Outcome:
    """Apply a "SageMaker Transform Job State Change": only Sluice's jobs, never backwards."""
    for _ in range(3):
        job = services.registry.job(job_name)
        if job is None:
            return ignored(f"{job_name} was not started by Sluice", job_name=job_name)
        current = job.get("status")
        new_status = next_job_status(current, incoming_status)
        if new_status is None:
            return ignored(
                f"{job_name}: {incoming_status} after {current} changes nothing (duplicate or out of order)",
                job_name=job_name,
            )
        attrs: dict[str, Any] = {"status": new_status, "updated_at": now.isoformat()}
        if detail.get("FailureReason"):
            attrs["failure_reason"] = detail["FailureReason"]
        start, end = (
            _epoch_seconds(detail.get("TransformStartTime")),
            _epoch_seconds(detail.get("TransformEndTime")),
        )
        if start is not None:
            attrs["transform_start"] = datetime.fromtimestamp(start, tz=UTC).isoformat()
        if end is not None:
            attrs["transform_end"] = datetime.fromtimestamp(end, tz=UTC).isoformat()
        if start is not None and end is not None:
            attrs["duration_seconds"] = round(end - start, 3)
        output = (detail.get("TransformOutput") or {}).get("S3OutputPath")
        if output:
            attrs["output_uri"] = output
        if services.registry.update(job_pk(job_name), JOB_SK, attrs, expect={"status": current}):
            notice = {
                "job_name": job_name,
                "model": job.get("model"),
                "source_key": job.get("source_key"),
                "previous_status": current,
                **attrs,
            }
            services.notifier.notify(
                JOB_DETAIL_TYPE, notice, subject=f"Sluice batch job {job_name}: {new_status}"
            )
            return Outcome(status=new_status, message=f"{job_name}: {current} → {new_status}", details=notice)
    return ignored(
        f"{job_name}: the record kept changing under us; the next event will apply", job_name=job_name
    )


def _epoch_seconds(value: Any) -> float | None:
    """EventBridge gives epoch milliseconds; accept seconds and ISO strings too."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return value / 1000 if value > 10_000_000_000 else float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
