"""Tiny handlers the sandbox tests route events to (referenced by dotted path from inline templates)."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

CALLS: list[dict[str, Any]] = []
_LOCK = threading.Lock()


def reset() -> None:
    with _LOCK:
        CALLS.clear()


def calls(handler: str) -> list[dict[str, Any]]:
    with _LOCK:
        return [c for c in CALLS if c["handler"] == handler]


def _remember(handler: str, event: Any, context: Any) -> None:
    with _LOCK:
        CALLS.append(
            {
                "handler": handler,
                "event": event,
                "env": {
                    k: v for k, v in os.environ.items() if k.startswith(("SANDBOX_TEST_", "AWS_LAMBDA_"))
                },
                "function_name": context.function_name,
                "invoked_function_arn": context.invoked_function_arn,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "aws_request_id": context.aws_request_id,
                "remaining_ms": context.get_remaining_time_in_millis(),
            }
        )


def record(event: Any, context: Any) -> dict[str, Any]:
    _remember("record", event, context)
    return {"ok": True}


def explode(event: Any, context: Any) -> None:
    _remember("explode", event, context)
    raise RuntimeError("boom: this handler always fails")


def sqs_partial(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Reports every record whose body contains "fail" as a batch item failure."""
    _remember("sqs_partial", event, context)
    failures = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if "fail" in r["body"]]
    return {"batchItemFailures": failures}


def flaky(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fails with RuntimeError on its first `fail_first` calls for the event's `key`, then doubles `n`."""
    _remember("flaky", event, context)
    key = event.get("key")
    attempt = len([c for c in calls("flaky") if c["event"].get("key") == key])
    if attempt <= int(event.get("fail_first", 0)):
        raise RuntimeError(f"flaky: attempt {attempt} of {key} fails")
    return {"doubled": int(event.get("n", 0)) * 2, "attempt": attempt}


def sleeper(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Sleeps `seconds`, then says whose environment it sees (SANDBOX_TEST_WHO) and when it woke."""
    _remember("sleeper", event, context)
    time.sleep(float(event.get("seconds", 0)))
    return {"who": os.environ.get("SANDBOX_TEST_WHO"), "woke_at": time.monotonic()}
