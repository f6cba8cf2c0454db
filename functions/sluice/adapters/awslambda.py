"""AWS Lambda: invoking a function of the stack again, asynchronously, as EventBridge invokes it."""

from __future__ import annotations

import json
from typing import Any

from sluice.adapters.clients import client


class FunctionInvoker:
    def invoke_async(self, function_name: str, payload: dict[str, Any]) -> None:
        """Invoke with InvocationType Event: Lambda queues it (202) and runs it with the function's
        asynchronous retries and OnFailure destination, like the event's first delivery."""
        client("lambda").invoke(
            FunctionName=function_name, InvocationType="Event", Payload=json.dumps(payload).encode()
        )
