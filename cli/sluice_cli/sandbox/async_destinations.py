"""Where an asynchronous invocation's outcome goes: the OnSuccess / OnFailure destinations of the
function's EventInvokeConfig (SQS, SNS, EventBridge) in Lambda's record shape, and its dead-letter queue."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from sluice_cli.sandbox.event_payloads import destination_record, error_payload
from sluice_cli.sandbox.provision.clients import ClientFactory
from sluice_cli.sandbox.provision.stack import Destination, FunctionSpec, StackOutputs

log = logging.getLogger(__name__)


class AsyncInvocationDestinations:
    """Sends the records of the stack's asynchronous invocations to their destinations."""

    def __init__(self, outputs: StackOutputs, clients: ClientFactory) -> None:
        self.outputs = outputs
        self.clients = clients

    def on_success(
        self, function: FunctionSpec, event: Any, request_id: str, attempt: int, result: Any
    ) -> None:
        settings = function.event_invoke
        if settings.on_success is not None:
            record = destination_record(function, event, request_id, attempt, "Success", result, None)
            self._send(settings.on_success, record, function)

    def on_failure(
        self, function: FunctionSpec, event: Any, request_id: str, attempts: int, error: BaseException
    ) -> None:
        settings = function.event_invoke
        if settings.on_failure is not None:
            record = destination_record(
                function,
                event,
                request_id,
                attempts,
                "RetriesExhausted",
                error_payload(error, request_id),
                error,
            )
            self._send(settings.on_failure, record, function)
        if function.dead_letter is not None:
            self._send_dead_letter(function.dead_letter, event, request_id, error)
        if settings.on_failure is None and function.dead_letter is None:
            log.warning(
                "%s: event dropped after %s attempts (no OnFailure destination)",
                function.logical_id,
                attempts,
            )

    def _send(self, destination: Destination, record: Mapping[str, Any], function: FunctionSpec) -> None:
        body = json.dumps(record, default=str)
        if destination.type == "SQS":
            self.clients.client("sqs").send_message(
                QueueUrl=self._queue_url(destination.arn), MessageBody=body
            )
        elif destination.type == "SNS":
            self.clients.client("sns").publish(TopicArn=destination.arn, Message=body)
        else:  # EventBridge
            succeeded = record["requestContext"]["condition"] == "Success"
            self.clients.client("events").put_events(
                Entries=[
                    {
                        "Source": "lambda",
                        "DetailType": "Lambda Function Invocation Result - "
                        + ("Success" if succeeded else "Failure"),
                        "Detail": body,
                        "Resources": [function.arn],
                        "EventBusName": destination.arn,
                    }
                ]
            )

    def _send_dead_letter(
        self, destination: Destination, event: Any, request_id: str, error: BaseException
    ) -> None:
        body = json.dumps(event, default=str)
        if destination.type == "SQS":
            self.clients.client("sqs").send_message(
                QueueUrl=self._queue_url(destination.arn),
                MessageBody=body,
                MessageAttributes={
                    "RequestID": {"DataType": "String", "StringValue": request_id},
                    "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                    "ErrorMessage": {
                        "DataType": "String",
                        "StringValue": str(error)[:256] or type(error).__name__,
                    },
                },
            )
        elif destination.type == "SNS":
            self.clients.client("sns").publish(TopicArn=destination.arn, Message=body)

    def _queue_url(self, queue_arn: str) -> str:
        for resource in self.outputs.resources.values():
            if resource.attributes.get("Arn") == queue_arn and "QueueUrl" in resource.attributes:
                return str(resource.attributes["QueueUrl"])
        parts = queue_arn.split(":")
        return str(
            self.clients.client("sqs").get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])[
                "QueueUrl"
            ]
        )
