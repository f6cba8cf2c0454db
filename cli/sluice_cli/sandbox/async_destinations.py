"""Where an asynchronous invocation's outcome goes: the OnSuccess / OnFailure destinations of the
function's EventInvokeConfig (SQS, SNS, EventBridge) in Lambda's record shape, and its dead-letter queue.

Lambda sends them with the function's execution role ("the function's execution role needs permission
to send to the destination": Lambda Developer Guide, "Capturing records of asynchronous invocations"),
so with IAM enforced the sandbox does too: a role without `sqs:SendMessage` on the FailureQueue loses
the record, as it would on AWS."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from sluice_cli.sandbox.event_payloads import destination_record, error_payload
from sluice_cli.sandbox.iam_enforcement import client_as
from sluice_cli.sandbox.provision.clients import ClientFactory
from sluice_cli.sandbox.provision.stack import Destination, FunctionSpec, StackOutputs

log = logging.getLogger(__name__)


class AsyncInvocationDestinations:
    """Sends the records of the stack's asynchronous invocations to their destinations."""

    def __init__(
        self,
        outputs: StackOutputs,
        clients: ClientFactory,
        role_credentials: Callable[[str], Mapping[str, str]] | None = None,
    ) -> None:
        self.outputs = outputs
        self.clients = clients
        self.role_credentials = role_credentials
        self._role_clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def _client(self, service: str, function: FunctionSpec) -> Any:
        """A client acting as the function's role (IAM enforced), else the sandbox's own."""
        if self.role_credentials is None or not function.role_arn:
            return self.clients.client(service)
        with self._lock:
            key = (service, function.role_arn)
            if key not in self._role_clients:
                variables = self.role_credentials(function.role_arn)
                session = (
                    variables["AWS_ACCESS_KEY_ID"],
                    variables["AWS_SECRET_ACCESS_KEY"],
                    variables["AWS_SESSION_TOKEN"],
                )
                self._role_clients[key] = client_as(self.clients.client(service), service, session)
            return self._role_clients[key]

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
            self._send_dead_letter(function.dead_letter, event, request_id, error, function)
        if settings.on_failure is None and function.dead_letter is None:
            log.warning(
                "%s: event dropped after %s attempts (no OnFailure destination)",
                function.logical_id,
                attempts,
            )

    def _send(self, destination: Destination, record: Mapping[str, Any], function: FunctionSpec) -> None:
        body = json.dumps(record, default=str)
        if destination.type == "SQS":
            self._client("sqs", function).send_message(
                QueueUrl=self._queue_url(destination.arn), MessageBody=body
            )
        elif destination.type == "SNS":
            self._client("sns", function).publish(TopicArn=destination.arn, Message=body)
        else:  # EventBridge
            succeeded = record["requestContext"]["condition"] == "Success"
            self._client("events", function).put_events(
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
        self,
        destination: Destination,
        event: Any,
        request_id: str,
        error: BaseException,
        function: FunctionSpec,
    ) -> None:
        body = json.dumps(event, default=str)
        if destination.type == "SQS":
            self._client("sqs", function).send_message(
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
            self._client("sns", function).publish(TopicArn=destination.arn, Message=body)

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
