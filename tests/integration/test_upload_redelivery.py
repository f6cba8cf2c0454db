"""An intake that dies without raising (out of memory, a runtime exit) leaves its Powertools idempotency
record INPROGRESS until its deadline; the event delivered again meanwhile is not lost in FailureQueue as
IdempotencyAlreadyInProgressError (issue 9, finding 19): it waits in UploadRedeliveryQueue until that
deadline has passed, then runs.

The sandbox enforces IAM (each handler acts with its role: the intakes may queue, the redelivery function
may invoke them) and runs with its router (the redelivery queue's event source mapping and the asynchronous
invocation it makes must run); each test takes the S3 event out of its route queue and delivers it
itself, so that the crash comes first.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from integration_kit import Stack, failure_records, make_archive

from sluice.adapters.s3 import S3ObjectStore
from sluice_cli.sandbox.lambda_runtime import (
    LambdaContext,
    function_environment,
    load_handler,
    runtime_environment,
)
from sluice_cli.sandbox.provision.stack import FunctionSpec
from sluice_cli.sandbox.server import Sandbox

FN = "RegisterModelFunction"
REDELIVER = "RedeliverUploadFunction"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(start_router=False, transform_delay_seconds=0.2, enforce_iam=True) as sandbox:
        yield sandbox


@pytest.fixture
def stack(sandbox: Sandbox) -> Iterator[Stack]:
    """The sandbox with its router off; a test that starts it has it stopped afterwards."""
    outputs = sandbox.outputs.outputs
    stack = Stack(sandbox, outputs["ArtifactBucketName"], outputs["RegistryTableName"], "", "")
    failure_records(stack)  # what an earlier test left
    yield stack
    sandbox.router.stop()


class DeadlineIn(LambdaContext):
    """Lambda's context for an invocation whose deadline is `seconds` away."""

    def __init__(self, function: FunctionSpec, seconds: float) -> None:
        super().__init__(function, str(uuid.uuid4()))
        self._deadline = time.monotonic() + seconds


class Killed(BaseException):
    """The process dying mid-intake: not an Exception, so Powertools never clears its record."""


def routed_event(stack: Stack, function: str) -> dict[str, Any]:
    """Take the S3 event EventBridge delivered for `function` off its route queue (the router is off)."""
    (route,) = [r for r in stack.sandbox.outputs.routes if r.function == function]
    sqs = stack.client("sqs")
    got = sqs.receive_message(QueueUrl=route.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=5)
    (message,) = got["Messages"]
    sqs.delete_message(QueueUrl=route.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return json.loads(message["Body"])  # type: ignore[no-any-return]


def crash_mid_intake(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, function: str, event: dict[str, Any], deadline: float
) -> None:
    """Run `function`'s handler with `event` and kill it at its first S3 read, `deadline` s before its end."""
    spec = stack.sandbox.outputs.functions[function]

    def die(*args: object, **kwargs: object) -> None:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(S3ObjectStore, "head", die)
        environment = function_environment(runtime_environment(spec, stack.sandbox.region))
        with environment, pytest.raises(Killed):
            load_handler(spec.handler)(event, DeadlineIn(spec, deadline))


def idempotency_records(stack: Stack) -> list[dict[str, Any]]:
    table = stack.sandbox.outputs.outputs["IdempotencyTableName"]
    return stack.client("dynamodb").scan(TableName=table)["Items"]  # type: ignore[no-any-return]


def test_an_event_redelivered_while_a_crashed_intake_holds_it_runs_after_the_deadline(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = stack.multi_model_endpoint()
    key = f"multi-model/{endpoint}/churn.tar.gz"
    put = stack.put(key, make_archive())
    event = routed_event(stack, FN)
    before = {r["id"]["S"] for r in idempotency_records(stack)}
    crash_mid_intake(stack, monkeypatch, FN, event, deadline=5)
    (held,) = [r for r in idempotency_records(stack) if r["id"]["S"] not in before]
    assert held["status"]["S"] == "INPROGRESS"
    # The crashed invocation registered its Lambda context: the record is held until its deadline only.
    assert 0 < int(held["in_progress_expiration"]["N"]) / 1000 - time.time() <= 5

    stack.sandbox.router.start()
    # The platform delivers the event again (Lambda's retries, or a duplicate EventBridge delivery)
    # while the record is still held.
    assert stack.sandbox.router.invoke_async(FN, event)
    stack.sandbox.wait_idle(timeout=30)

    assert failure_records(stack) == []
    latest = stack.latest(endpoint, "churn")
    assert latest is not None and latest["version"] == 1
    assert stack.intake(key, put)["status"] == "PUBLISHED"  # type: ignore[index]
    runs = [
        (i.function, i.outcome) for i in stack.sandbox.router.invocations if i.function in (FN, REDELIVER)
    ]
    # refused and queued; the queue's function; the run past the deadline
    assert runs == [(FN, "succeeded"), (REDELIVER, "succeeded"), (FN, "succeeded")]


def test_an_event_still_held_after_its_redelivery_fails_naming_the_upload(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = stack.multi_model_endpoint()
    key = f"multi-model/{endpoint}/fraud.tar.gz"
    stack.put(key, make_archive())
    event = routed_event(stack, FN)
    crash_mid_intake(stack, monkeypatch, FN, event, deadline=600)

    stack.sandbox.router.start()
    redelivered = {**event, "sluice-redelivery": 1}  # it already waited once for a record held since
    assert not stack.sandbox.router.invoke_async(FN, redelivered)
    stack.sandbox.wait_idle(timeout=30)

    (record,) = failure_records(stack)
    assert record["requestPayload"] == redelivered
    error = record["responsePayload"]
    assert error["errorType"] == "UploadInProgressElsewhere"
    assert key in error["errorMessage"]
    assert "IdempotencyTable" in error["errorMessage"]


@pytest.mark.parametrize(
    ("function", "key"),
    [
        ("RegisterModelFunction", "multi-model/mme/model.tar.gz"),
        ("StartBatchFunction", "batch/model/input/records.csv"),
        ("StartRolloutFunction", "endpoints/ep/v2/model.tar.gz"),
    ],
)
def test_every_intake_holds_its_record_until_its_own_deadline_only(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, function: str, key: str
) -> None:
    """Each intake registers its Lambda context: a crash holds the event until the invocation's
    deadline, never for the 7-day idempotency window."""
    stack.put(key, b"x")
    event = routed_event(stack, function)
    before = {r["id"]["S"] for r in idempotency_records(stack)}
    crash_mid_intake(stack, monkeypatch, function, event, deadline=42)
    (held,) = [r for r in idempotency_records(stack) if r["id"]["S"] not in before]
    assert held["status"]["S"] == "INPROGRESS"
    assert 40 < int(held["in_progress_expiration"]["N"]) / 1000 - time.time() <= 42

    # Delivered again while held: each intake queues it for after the deadline under its own role
    # (its send permission on UploadRedeliveryQueue), instead of failing.
    stack.invoke(function, event)
    (waiting,) = [m for m in redelivery_messages(stack) if m["payload"].get("id") == event.get("id")]
    assert waiting["function_name"] == stack.sandbox.outputs.functions[function].name


def redelivery_messages(stack: Stack) -> list[dict[str, Any]]:
    """The bodies waiting in UploadRedeliveryQueue (delayed, so read from moto's queue, not received)."""
    from moto.sqs.models import sqs_backends

    url = stack.sandbox.outputs.ref("UploadRedeliveryQueue")
    queue = sqs_backends["123456789012"]["us-east-1"].queues[url.rsplit("/", 1)[-1]]
    return [json.loads(m.body) for m in queue._messages]
