"""S3 "Object Created" under multi-model/ → validate, publish a new immutable version, record, notify."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.domain.intake import Upload
from sluice.domain.multi_model import register_model_upload
from sluice.handlers.outcomes import report
from sluice.handlers.uploads import run_intake
from sluice.observability import logger, metrics, tracer
from sluice.wiring.multi_model import multi_model_services


def _register(upload: Upload) -> dict[str, Any]:
    return report(register_model_upload(upload, multi_model_services(), now=datetime.now(UTC)), "Intake")


@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_intake(event, context, _register, "register_model")
