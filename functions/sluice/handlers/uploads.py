"""What the S3 upload handlers share (RegisterModel, StartBatch, StartRollout): an "Object Created" event
run once through its intake."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.domain.intake import Upload, upload_sequencer
from sluice.domain.redelivery import redeliver
from sluice.handlers.outcomes import report
from sluice.models.s3_events import S3ObjectCreatedEvent
from sluice.observability import logger
from sluice.wiring.idempotency import held_record, idempotent_upload, redelivery_queue


def run_intake(
    event: dict[str, Any],
    context: LambdaContext,
    intake: Callable[[Upload], dict[str, Any]],
    key_prefix: str,
) -> dict[str, Any]:
    """`intake` once per uploaded object version (Powertools idempotency). An event whose record another
    invocation holds is queued to be delivered again past that invocation's deadline."""
    parsed = S3ObjectCreatedEvent.model_validate(event)
    upload = _upload(parsed)
    try:
        return idempotent_upload(intake, key_prefix, context)(upload)
    except IdempotencyAlreadyInProgressError:
        outcome = redeliver(
            upload,
            event,
            redelivered=parsed.redelivery,
            function_name=context.function_name,
            held=held_record(upload, key_prefix),
            now=datetime.now(UTC),
            queue=redelivery_queue(),
        )
        return report(outcome, "Intake")


def _upload(parsed: S3ObjectCreatedEvent) -> Upload:
    """The uploaded object version an EventBridge "Object Created" names (its key as delivered: raw)."""
    detail = parsed.detail
    upload = Upload(
        bucket=detail.bucket.name,
        key_in_event=detail.object.key,
        key_encoding="raw",
        version_id=detail.object.real_version_id,
        etag=detail.object.etag,
        event_time=parsed.time.isoformat(),
        sequencer=upload_sequencer(detail.object.sequencer),
    )
    logger.append_keys(bucket=upload.bucket, key=upload.key_in_event)
    return upload
