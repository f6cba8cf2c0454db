"""UploadRedeliveryQueue messages → the held upload's event, invoked again on its intake function."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from sluice.adapters.awslambda import FunctionInvoker
from sluice.models.queue_messages import UploadRedeliveryMessage
from sluice.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS)


def _redeliver(record: SQSRecord) -> None:
    message = UploadRedeliveryMessage.model_validate_json(record.body)
    logger.info("delivering a held upload's event again", extra={"function": message.function_name})
    FunctionInvoker().invoke_async(message.function_name, message.payload)
    metrics.add_metric(name="IntakeRedelivered", unit="Count", value=1)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Failed records stay in the queue (partial batch response) and reach FailureQueue after 5 tries."""
    return dict(
        process_partial_response(event=event, record_handler=_redeliver, processor=processor, context=context)
    )
