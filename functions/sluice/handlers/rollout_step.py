"""The rollout state machine's Lambda tasks: {"action", "state", "token"?} → the updated state.

Errors keep their class names as the Lambda errorType, which the state machine retries (EndpointBusy)
or catches (RolloutRefused, RolloutAborted, anything else → rollback / needs attention).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.composition import rollout_services
from sluice.domain.rollout import run_action
from sluice.observability import logger, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = dict(event["state"])
    logger.append_keys(
        endpoint=state.get("endpoint"), rollout_id=state.get("rollout_id"), action=event["action"]
    )
    result = run_action(rollout_services(), event["action"], state, event.get("token"), datetime.now(UTC))
    logger.info(f"rollout action {event['action']} done", extra={"state": result})
    return result
