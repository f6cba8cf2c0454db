"""S3 "Object Created" under batch/ → plan and start a batch transform job (or queue it)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.composition import batch_services, idempotent_upload
from sluice.domain.batch_intake import start_batch_upload
from sluice.domain.intake import Upload
from sluice.models.events import S3ObjectCreatedEvent
from sluice.observability import logger, metrics, tracer


def _start(upload: Upload) -> dict[str, Any]:
    jitter = secrets.SystemRandom().random()
    outcome = start_batch_upload(upload, batch_services(), now=datetime.now(UTC), jitter=jitter)
    metrics.add_metric(name=f"Batch{outcome.status.title().replace('_', '')}", unit="Count", value=1)
    log = logger.debug if outcome.status == "IGNORED" else logger.info
    log(outcome.message, extra={"outcome": outcome.as_dict()})
    return outcome.as_dict()


@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail = parse(event=event, model=S3ObjectCreatedEvent).detail
    upload = Upload(
        bucket=detail.bucket.name,
        key_in_event=detail.object.key,
        key_encoding="raw",
        version_id=detail.object.real_version_id,
        etag=detail.object.etag,
    )
    logger.append_keys(bucket=upload.bucket, key=upload.key_in_event)
    return idempotent_upload(_start, "start_batch", context)(upload)
