"""Publishing a model archive onto a multi-model endpoint, immutably and versioned.

    validate (streaming) -> compare with latest -> reserve vN -> managed copy -> warm-up -> record
    -> tag -> notify -> intake PUBLISHED

A failure after the reservation leaves the intake at PUBLISHING with its version: the retried event
resumes it (same vN, the copy skipped when already there) instead of burning a new number, and finishes
what the failed attempt left (a notification may then be sent twice, never lost).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sluice.domain.artifact import ArchiveLimits, ArchiveReport, validate_archive
from sluice.domain.intake import (
    STATUS_TAG,
    IntakeServices,
    Outcome,
    Upload,
    intake_key,
    open_intake,
    reject,
)
from sluice.domain.layout import MultiModelArtifact, validate_sagemaker_name
from sluice.domain.ports import InvocationResult, MultiModelEndpoint, ObjectHead, SageMakerPort
from sluice.domain.publishing import publish_once
from sluice.domain.registry import (
    IntakeStatus,
    S3Uri,
    model_pk,
    published_key,
    target_model_name,
    version_sk,
)
from sluice.errors import Rejected, RejectedConfiguration, RejectedTarget, TransientAwsError

KIND = "multi-model"
REGISTERED_DETAIL_TYPE = "Sluice Model Registered"
UNCHANGED_DETAIL_TYPE = "Sluice Model Unchanged"
MAX_WARMUP_BYTES = 1024 * 1024
MAX_RESERVE_ATTEMPTS = 20


class WarmupRequest(BaseModel):
    """`multi-model/<endpoint>/<model>.warmup.json`: one request sent with the new TargetModel."""

    model_config = ConfigDict(extra="forbid")

    content_type: str = Field(min_length=1, max_length=1024)
    body: str | dict[str, Any] | list[Any]

    def body_bytes(self) -> bytes:
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


def parse_warmup(raw: bytes) -> WarmupRequest:
    try:
        return WarmupRequest.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()
        )
        raise RejectedConfiguration(f"invalid warm-up file: {problems}") from exc


@dataclass(frozen=True)
class MultiModelServices(IntakeServices):
    sagemaker: SageMakerPort
    limits: ArchiveLimits


def register_model_upload(upload: Upload, services: MultiModelServices, now: datetime) -> Outcome:
    """The whole multi-model journey for one uploaded object version."""
    opened = open_intake(
        upload, services, MultiModelArtifact, resumable=frozenset({"RECEIVED", "PUBLISHING"}), now=now
    )
    if isinstance(opened, Outcome):
        return opened
    head, target, existing = opened.head, opened.target, opened.previous
    pk, sk = opened.key
    context = {"endpoint": target.endpoint, "model": target.model}
    try:
        validate_sagemaker_name(target.endpoint, "endpoint")
        validate_sagemaker_name(target.model, "model")
        endpoint = services.sagemaker.describe_multi_model_endpoint(target.endpoint)
        prefix = _model_data_prefix(endpoint)
        with services.store.open_stream(head.bucket, head.key, head.version_id) as stream:
            report = validate_archive(stream, services.limits)
    except Rejected as error:
        return reject(services, head, KIND, error, now, **context)

    resumed = existing.get("version") if existing and existing.get("status") == "PUBLISHING" else None
    latest = services.registry.latest(target.endpoint, target.model)
    if resumed is None and latest is not None and latest.get("sha256") == report.sha256:
        return _unchanged(services, head, target, latest, now, upload.sequencer)

    version, published = _reserve_and_copy(services, head, target, prefix, report, now, resumed)
    warmup = _warm_up(services, head, target, version)
    status = IntakeStatus.PUBLISHED if warmup is None or warmup.ok else IntakeStatus.PUBLISHED_WARMUP_FAILED
    record = {
        "status": str(status),
        "target_model": target_model_name(target.model, version),
        "s3_uri": published.uri,
        "s3_version_id": published.version_id,
        "sha256": report.sha256,
        "size": report.compressed_bytes,
        "uncompressed_size": report.uncompressed_bytes,
        "member_count": report.member_count,
        "source_bucket": head.bucket,
        "source_key": head.key,
        "source_version_id": head.version_id,
        "upload_sequencer": upload.sequencer,
        "published_at": now.isoformat(),
        "updated_at": now.isoformat(),
        "warmup": None if warmup is None else {"ok": warmup.ok, "detail": warmup.detail},
    }
    # The intake stays PUBLISHING until the upload is tagged and notified: a retry after a crash in
    # between resumes it (same vN, the copy found) and finishes, instead of reading it as done.
    finalized = services.registry.finalize_version(
        target.endpoint,
        target.model,
        version,
        record,
        (pk, sk),
        {"status": "PUBLISHING", "version": version, "updated_at": now.isoformat()},
    )
    # An attempt that died after moving latest here finds its own condition failing: latest is still vN.
    is_latest = (
        finalized or (services.registry.latest(target.endpoint, target.model) or {}).get("version") == version
    )
    services.store.merge_tags(head.bucket, head.key, head.version_id, {STATUS_TAG: "published"})
    detail = {
        **record,
        "endpoint": target.endpoint,
        "model": target.model,
        "version": version,
        "latest": is_latest,
    }
    not_latest = None if is_latest else _why_not_latest(services, target, upload)
    services.notifier.notify(
        REGISTERED_DETAIL_TYPE,
        detail,
        subject=f"Sluice registered {target.model} v{version} on {target.endpoint}"
        + ("" if is_latest else " (not latest)"),
    )
    services.registry.update(pk, sk, {"status": str(status), "updated_at": now.isoformat()})
    message = (
        f"published {target.model} v{version} on {target.endpoint} as TargetModel {record['target_model']}"
    )
    if not_latest is not None:
        message += f"; not latest: {not_latest}"
    if warmup is not None:
        message += f"; warm-up {'succeeded' if warmup.ok else 'failed: ' + warmup.detail}"
    return Outcome(status=str(status), message=message, details=detail)


def _why_not_latest(services: MultiModelServices, target: MultiModelArtifact, upload: Upload) -> str:
    """Why `finalize_version` left "latest" where it was: a later upload (by S3's sequencer) or, for an
    event without a sequencer, a higher version published first."""
    latest = services.registry.latest(target.endpoint, target.model) or {}
    holder = f"v{latest.get('version', '?')}"
    if upload.sequencer is not None and latest.get("upload_sequencer"):
        return f"{holder} was uploaded after it"
    return f"{holder} was published after it"


def _model_data_prefix(endpoint: MultiModelEndpoint) -> S3Uri:
    try:
        return S3Uri.parse(endpoint.model_data_url)
    except ValueError as exc:
        raise RejectedTarget(
            f"endpoint {endpoint.name!r} has ModelDataUrl {endpoint.model_data_url!r}, not an S3 prefix"
        ) from exc


def _unchanged(
    services: MultiModelServices,
    head: ObjectHead,
    target: MultiModelArtifact,
    latest: dict[str, Any],
    now: datetime,
    upload_sequencer: str | None,
) -> Outcome:
    pk, sk = intake_key(head)
    if upload_sequencer is not None:  # the same bytes uploaded again: latest is now this upload's
        services.registry.advance_latest_upload(target.endpoint, target.model, upload_sequencer)
    services.registry.update(
        pk,
        sk,
        {
            "status": str(IntakeStatus.UNCHANGED),
            "version": latest.get("version"),
            "updated_at": now.isoformat(),
        },
    )
    services.store.merge_tags(head.bucket, head.key, head.version_id, {STATUS_TAG: "unchanged"})
    detail = {
        "status": str(IntakeStatus.UNCHANGED),
        "endpoint": target.endpoint,
        "model": target.model,
        "version": latest.get("version"),
        "target_model": latest.get("target_model"),
        "sha256": latest.get("sha256"),
        "source_key": head.key,
        "source_version_id": head.version_id,
    }
    services.notifier.notify(
        UNCHANGED_DETAIL_TYPE, detail, subject=f"Sluice: {target.model} unchanged on {target.endpoint}"
    )
    message = (
        f"identical to {target.model} v{latest.get('version')} (sha256 {str(latest.get('sha256'))[:12]}…); "
        "nothing published"
    )
    return Outcome(status=str(IntakeStatus.UNCHANGED), message=message, details=detail)


def _reserve_and_copy(
    services: MultiModelServices,
    head: ObjectHead,
    target: MultiModelArtifact,
    prefix: S3Uri,
    report: ArchiveReport,
    now: datetime,
    resumed: Any,
) -> tuple[int, ObjectHead]:
    """Claim a version number no object occupies, and copy the exact validated source version there.

    Never overwrites: a name already holding other bytes is skipped (and recorded as such).
    """
    intake = intake_key(head)
    candidate: int | None = int(resumed) if resumed is not None else None
    for _ in range(MAX_RESERVE_ATTEMPTS):
        if candidate is None:
            candidate = services.registry.highest_version(target.endpoint, target.model) + 1
            reservation = {
                "status": "PUBLISHING",
                "sha256": report.sha256,
                "reserved_at": now.isoformat(),
                "source_key": head.key,
                "source_version_id": head.version_id,
            }
            if not services.registry.reserve_version(
                target.endpoint, target.model, candidate, reservation, intake
            ):
                candidate = None  # another upload of this model took the number first
                continue
        key = published_key(prefix.key, target.model, candidate)
        published = publish_once(services.store, head, prefix.bucket, key, sha256=report.sha256)
        if published is not None:
            return candidate, published
        services.registry.update(
            *_version_key(target, candidate),
            {"status": "SKIPPED", "reason": f"s3://{prefix.bucket}/{key} already holds other bytes"},
        )
        candidate = None
    raise TransientAwsError(
        f"could not reserve a free version of {target.model} on {target.endpoint} after "
        f"{MAX_RESERVE_ATTEMPTS} attempts"
    )


def _version_key(target: MultiModelArtifact, version: int) -> tuple[str, str]:
    return model_pk(target.endpoint, target.model), version_sk(version)


def _warm_up(
    services: MultiModelServices, head: ObjectHead, target: MultiModelArtifact, version: int
) -> InvocationResult | None:
    """Invoke the endpoint once with the new TargetModel when a warm-up file exists.

    A missing file means no warm-up; an invalid one or a failed invocation is recorded, never fatal.
    """
    try:
        raw = services.store.read_small(head.bucket, target.warmup_key, max_bytes=MAX_WARMUP_BYTES)
    except ValueError as exc:
        return InvocationResult(ok=False, detail=f"warm-up file not used: {exc}")
    if raw is None:
        return None
    try:
        request = parse_warmup(raw)
    except RejectedConfiguration as exc:
        return InvocationResult(ok=False, detail=exc.reason)
    return services.sagemaker.invoke(
        target.endpoint, target_model_name(target.model, version), request.content_type, request.body_bytes()
    )
