"""The rollout state machine's Lambda tasks: {"action", "state", "token"?} (sluice.models.rollout_step) →
the updated state.

Errors keep their class names as the Lambda errorType, which the state machine retries (EndpointBusy)
or catches (RolloutRefused, RolloutAborted, anything else → rollback / needs attention).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.domain.rollout.actions import run_action
from sluice.models.rollout_step import RolloutStepEvent, state_dict
from sluice.observability import METRICS_NAMESPACE, logger, metrics, tracer
from sluice.wiring.rollouts import rollout_services

# Outcome counters of the dashboard's "Rollout outcomes" widget, by the action that reaches them.
OUTCOME_METRICS = {
    "finish_promotion": "RolloutPromoted",
    "finish_rollback": "RolloutRolledBack",
    "refused": "RolloutRefused",
    "needs_attention": "RolloutNeedsAttention",
    "finish_first_deployment": "RolloutFirstDeployment",
}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = RolloutStepEvent.model_validate(event).root
    action, state = task.action, state_dict(task.state)
    logger.append_keys(endpoint=task.state.endpoint, rollout_id=task.state.rollout_id, action=action)
    services = rollout_services(seconds_left=context.get_remaining_time_in_millis() / 1000)
    result = run_action(services, action, state, task.token, datetime.now(UTC))
    if action in OUTCOME_METRICS:
        metrics.add_metric(name=OUTCOME_METRICS[action], unit=MetricUnit.Count, value=1)
    # single_metric prints at once and ignores POWERTOOLS_METRICS_DISABLED: honour it here.
    weights = {} if is_metrics_disabled() else (result.get("weights") or {})
    for variant, percent in weights.items():
        with single_metric(
            name="VariantWeightPercent", unit=MetricUnit.Percent, value=percent, namespace=METRICS_NAMESPACE
        ) as metric:
            metric.add_dimension(name="endpoint", value=str(state.get("endpoint")))
            metric.add_dimension(name="variant", value=str(variant))
    logger.info(f"rollout action {action} done", extra={"state": result})
    return result
