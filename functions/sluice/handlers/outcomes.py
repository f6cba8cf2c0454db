"""What the intake handlers share: turning an S3 event into an Upload, reporting an Outcome."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import parse

from sluice.domain.intake import Outcome, Upload
from sluice.models.events import S3ObjectCreatedEvent
from sluice.observability import logger, metrics


def upload_from_event(event: dict[str, Any]) -> Upload:
    """The uploaded object version an EventBridge "Object Created" names (its key as delivered: raw)."""
    parsed = parse(event=event, model=S3ObjectCreatedEvent)
    detail = parsed.detail
    upload = Upload(
        bucket=detail.bucket.name,
        key_in_event=detail.object.key,
        key_encoding="raw",
        version_id=detail.object.real_version_id,
        etag=detail.object.etag,
        event_time=parsed.time.isoformat(),
    )
    logger.append_keys(bucket=upload.bucket, key=upload.key_in_event)
    return upload


def report(outcome: Outcome, metric_prefix: str) -> dict[str, Any]:
    """One EMF count per outcome (e.g. IntakePublished) and one log line: debug for ignored keys."""
    metrics.add_metric(
        name=f"{metric_prefix}{outcome.status.title().replace('_', '')}", unit="Count", value=1
    )
    log = logger.debug if outcome.status == "IGNORED" else logger.info
    log(outcome.message, extra={"outcome": outcome.as_dict()})
    return outcome.as_dict()
