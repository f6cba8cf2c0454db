"""S3 "Object Created" under batch/ → plan and start a batch transform job (or queue it)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.domain.batch_intake import start_batch_upload
from sluice.domain.intake import Upload
from sluice.handlers.outcomes import report
from sluice.handlers.uploads import run_intake
from sluice.observability import logger, metrics, tracer
from sluice.wiring.batch import batch_services


def _start(upload: Upload) -> dict[str, Any]:
    jitter = secrets.SystemRandom().random()
    return report(start_batch_upload(upload, batch_services(), now=datetime.now(UTC), jitter=jitter), "Batch")


@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_intake(event, context, _start, "start_batch")
