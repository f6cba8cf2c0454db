"""S3 "Object Created" under endpoints/ → validate the version, start its canary rollout (or queue it)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.domain.intake import Upload
from sluice.domain.rollout.intake import start_rollout_upload
from sluice.handlers.outcomes import report
from sluice.handlers.uploads import run_intake
from sluice.observability import logger, metrics, tracer
from sluice.wiring.rollouts import rollout_services


def _start(upload: Upload) -> dict[str, Any]:
    outcome = start_rollout_upload(
        upload, rollout_services(), now=datetime.now(UTC), suffix=secrets.token_hex(3)
    )
    return report(outcome, "Rollout")


@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_intake(event, context, _start, "start_rollout")
