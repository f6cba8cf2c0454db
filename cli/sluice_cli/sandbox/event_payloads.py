"""What the router hands to a handler or a destination: Lambda's SQS batch event, error payload and
asynchronous-invocation record, and what an EventBridge rule target receives (Input, InputPath)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from sluice_cli.sandbox.provision.stack import FunctionSpec


def error_payload(exc: BaseException, request_id: str) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def _lambda_message_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    converted = {}
    for name, value in attributes.items():
        binary = value.get("BinaryValue")
        converted[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": base64.b64encode(binary).decode() if isinstance(binary, bytes) else binary,
            "stringListValues": list(value.get("StringListValues", [])),
            "binaryListValues": list(value.get("BinaryListValues", [])),
            "dataType": value.get("DataType"),
        }
    return converted


def sqs_lambda_event(messages: Sequence[Mapping[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """Lambda's SQS event for a batch of received messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": dict(m.get("Attributes", {})),
                "messageAttributes": _lambda_message_attributes(m.get("MessageAttributes", {})),
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


_PATH_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]")


def json_path(value: Any, path: str) -> Any:
    """The value at a JSONPath of the simple kind EventBridge's InputPath takes (`$`, `$.detail`,
    `$.detail.items[0]`, `$['detail']`); None when it is not there."""
    if not path.startswith("$"):
        raise ValueError(f"InputPath {path!r} does not start with $")
    position = 1
    while position < len(path):
        step = _PATH_STEP.match(path, position)
        if step is None:
            raise ValueError(f"InputPath {path!r}: cannot read from position {position}")
        key, index, quoted = step.groups()
        if index is not None:
            value = value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
        else:
            name = key if key is not None else quoted
            value = value.get(name) if isinstance(value, dict) else None
        position = step.end()
    return value


def target_input(body: str, given: str | None, path: str | None) -> Any:
    """What a rule target receives for the event in a route message: the target's `Input` (constant
    JSON), the part of the event at its `InputPath`, or the event (an InputTransformer's result is
    already the body: moto applies it)."""
    if given is not None:
        try:
            return json.loads(given)
        except ValueError:
            return given
    try:
        event = json.loads(body)
    except ValueError:
        return body
    return json_path(event, path) if path else event


def eventbridge_event_id(event: Any) -> str | None:
    if isinstance(event, dict) and isinstance(event.get("id"), str):
        return str(event["id"])
    return None


def destination_record(
    function: FunctionSpec,
    event: Any,
    request_id: str,
    attempts: int,
    condition: str,
    payload: Any,
    error: BaseException | None,
) -> dict[str, Any]:
    """Lambda's invocation record for asynchronous-invocation destinations."""
    response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if error is not None:
        response_context["functionError"] = "Unhandled"
    return {
        "version": "1.0",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{function.arn}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": response_context,
        "responsePayload": payload,
    }
