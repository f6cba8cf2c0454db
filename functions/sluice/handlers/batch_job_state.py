"""EventBridge "SageMaker Transform Job State Change" → the job's record, never moved backwards."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.domain.batch_intake import record_job_state
from sluice.handlers.outcomes import report
from sluice.models.transform_job_events import TransformJobStateChangeEvent
from sluice.observability import logger, metrics, tracer
from sluice.wiring.batch import batch_services


@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail = TransformJobStateChangeEvent.model_validate(event).detail
    logger.append_keys(job_name=detail.TransformJobName)
    outcome = record_job_state(
        detail.TransformJobName,
        detail.TransformJobStatus,
        detail.model_dump(mode="json"),
        batch_services(),
        now=datetime.now(UTC),
    )
    return report(outcome, "BatchJob")
