"""BatchRetryQueue messages → try CreateTransformJob again (SageMaker was at capacity)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.domain.batch_intake import RetryRequest, retry_batch_start
from sluice.handlers.outcomes import report
from sluice.models.queue_messages import BatchRetryMessage
from sluice.observability import logger, metrics, tracer
from sluice.wiring.batch import batch_services

processor = BatchProcessor(event_type=EventType.SQS)


def _retry(record: SQSRecord) -> dict[str, Any]:
    message = BatchRetryMessage.model_validate_json(record.body)
    logger.append_keys(job_name=message.job_name)
    outcome = retry_batch_start(
        RetryRequest(**message.model_dump()),
        batch_services(),
        now=datetime.now(UTC),
        jitter=secrets.SystemRandom().random(),
    )
    return report(outcome, "BatchRetry")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Failed records stay in the queue (partial batch response) and reach FailureQueue after 5 tries."""
    return dict(
        process_partial_response(event=event, record_handler=_retry, processor=processor, context=context)
    )
