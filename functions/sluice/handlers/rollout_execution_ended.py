"""EventBridge "Step Functions Execution Status Change" (ABORTED, TIMED_OUT, FAILED) of the rollout state
machine → settle a rollout whose execution ended while it still ran (NEEDS_ATTENTION or ABANDONED)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.domain.rollout.execution_ended import execution_ended
from sluice.models.execution_events import ExecutionStatusChangeEvent
from sluice.observability import logger, metrics, tracer
from sluice.wiring.rollouts import rollout_services


@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail = ExecutionStatusChangeEvent.model_validate(event).detail
    started = detail.rollout()
    logger.append_keys(endpoint=started.endpoint, rollout_id=started.rollout_id)
    settled = execution_ended(
        rollout_services(),
        started.endpoint,
        started.rollout_id,
        detail.executionArn,
        detail.status,
        datetime.now(UTC),
    )
    if settled:
        metrics.add_metric(name="RolloutExecutionsDied", unit="Count", value=1)
    logger.info(f"execution {detail.name} {detail.status}: rollout {settled or 'already ended'}")
    return {"rollout_id": started.rollout_id, "execution_status": detail.status, "settled": settled}
