"""EventBridge "CloudWatch Alarm State Change" (to ALARM) → abort every rollout the alarm guards, at once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.domain.rollout.signals import alarm_fired
from sluice.models.alarm_events import AlarmStateChangeEvent
from sluice.observability import logger, metrics, tracer
from sluice.wiring.signals import signal_services


@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail = AlarmStateChangeEvent.model_validate(event).detail
    name, state = detail.alarmName, detail.state
    logger.append_keys(alarm=name)
    if state.value != "ALARM":
        return {"alarm": name, "aborted": [], "ignored": f"state {state.value}"}
    aborted = alarm_fired(signal_services(), name, state.reason, datetime.now(UTC))
    metrics.add_metric(name="RolloutAlarmAborts", unit="Count", value=len(aborted))
    logger.info(f"alarm {name}: {len(aborted)} rollout(s) aborted", extra={"aborted": aborted})
    return {"alarm": name, "aborted": aborted}
