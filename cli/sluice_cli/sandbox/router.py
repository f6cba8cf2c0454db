"""Runs the stack's functions in-process, fed by the queues the provisioner wired.

This is the filler of the Lambda gap (gaps.awslambda.LambdaInvokeNeedsDocker): moto cannot run a
function without docker, so a thread per route queue (an EventBridge rule's target) and per SQS event
source mapping long-polls its queue, imports the function's handler (`module.function` from the
template) and calls it with the event and a fake Lambda context, with the function's environment from
the template in `os.environ`.

Lambda semantics kept:
- EventBridge -> function is an asynchronous invocation: an exception is retried
  `MaximumRetryAttempts` times (default 2), then the event goes to the OnFailure destination of
  `EventInvokeConfig` (and to the function's DeadLetterQueue, if any) in Lambda's record shape.
  Not kept: the 1 and 2 minute back-off (`retry_delay_seconds`, default 0) and MaximumEventAgeInSeconds.
- SQS -> function is a synchronous batch: an exception leaves the whole batch in the queue; with
  `ReportBatchItemFailures`, only the messages named in `batchItemFailures` stay. Messages that stay
  come back after the queue's visibility timeout, and the queue's redrive policy applies (moto).
- One invocation at a time (a process has one `os.environ`), except that a handler sleeping lets the
  others run (lambda_runtime); `ReservedConcurrentExecutions` and the function timeout are not enforced
  (the duration is recorded). The functions' wall-clock settings (`sluice.settings.WALL_CLOCK_SETTINGS`)
  run at `time_scale`, the sandbox's clock.
- moto's Lambda -> function (Step Functions `lambda:invoke` tasks, lambda:Invoke) is a synchronous
  invocation through `invoke_lambda`, bound by the Sandbox to gaps.awslambda.StepFunctionsLambdaTasks:
  the result, or Lambda's error payload, goes back to the caller; no retry here (the state machine's
  Retry decides). A handler must not invoke a function of the stack synchronously itself: the second
  invocation would wait for the first (one `os.environ`).
- lambda:Invoke with InvocationType Event (bound to gaps.awslambda.LambdaEventInvocations) is answered
  at once and runs as an asynchronous invocation (retries, destinations) on a thread of its own, which
  takes its turn after the invocation that asked for it.

EventBridge -> state machine (a `StateMachineRoute`): one StartExecution per event, with a unique
execution name (moto names unnamed executions "None", so a second one would clash) and the event (or
what the target's input settings made of it) as input. A failed start is logged and recorded; the
event is not retried.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from sluice_cli.sandbox.async_destinations import AsyncInvocationDestinations
from sluice_cli.sandbox.event_payloads import (
    error_payload,
    eventbridge_event_id,
    sqs_lambda_event,
    target_input,
)
from sluice_cli.sandbox.lambda_runtime import HandlerFailed, run_handler
from sluice_cli.sandbox.provision.clients import ClientFactory
from sluice_cli.sandbox.provision.stack import (
    EventSourceMapping,
    FunctionSpec,
    Route,
    StackOutputs,
    StateMachineRoute,
)
from sluice_cli.sandbox.time_scale import TimeScale, current_time_scale

log = logging.getLogger(__name__)

# Route queue messages are deleted after the last attempt; keep them hidden while retries run.
_ROUTE_VISIBILITY_SECONDS = 43200


@dataclass(frozen=True)
class Invocation:
    """One call of a handler (each retry is its own invocation)."""

    function: str
    # "eventbridge" | "sqs" | "direct" | "lambda" (through moto's Lambda: Step Functions) | "event"
    # (lambda:Invoke with InvocationType Event)
    source: str
    trigger: str  # the template's event name
    event_id: str | None  # EventBridge event id, or the SQS message ids of the batch
    request_id: str
    attempt: int
    outcome: str  # "succeeded" | "failed" | "partial" (some batch items reported as failures)
    duration_ms: float
    error: str | None = None  # "<errorType>: <errorMessage>"
    started_at: float = 0.0


@dataclass(frozen=True)
class ExecutionStart:
    """A Step Functions execution the router started (for a state machine route, or `start_execution`)."""

    state_machine: str  # logical id
    trigger: str  # the route's event name (or rule target id), or "direct"
    event_id: str | None
    name: str
    execution_arn: str | None  # None when the start failed
    started_at: float
    error: str | None = None


class EventRouter:
    """Polls the stack's route queues and event source mappings and invokes the handlers in-process."""

    def __init__(
        self,
        outputs: StackOutputs,
        clients: ClientFactory,
        *,
        poll_wait_seconds: int = 1,
        retry_delay_seconds: float = 0.0,
        busy_probes: Sequence[Callable[[], int]] = (),
        role_credentials: Callable[[str], Mapping[str, str]] | None = None,
        time_scale: TimeScale = 1.0,
    ) -> None:
        self.outputs = outputs
        # the sandbox's clock, read at each invocation: the functions' wall-clock settings run at it
        self.time_scale = time_scale
        # role ARN -> the credential variables of a session of it (IAM enforced), set for each handler
        self.role_credentials = role_credentials
        self.clients = clients
        self.poll_wait_seconds = poll_wait_seconds
        self.retry_delay_seconds = retry_delay_seconds
        self._busy_probes = list(busy_probes)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._event_threads: list[threading.Thread] = []  # InvocationType Event invocations
        self._state = threading.Condition()
        self._active = 0
        self._generation = 0
        self._invocations: list[Invocation] = []
        self._executions: list[ExecutionStart] = []
        # queue url -> {message id: monotonic time it becomes visible again}
        self._parked: dict[str, dict[str, float]] = {}
        self._visibility: dict[str, int] = {}
        self._destinations = AsyncInvocationDestinations(outputs, clients, role_credentials)
        # called with (invocation, event, result or None) after each invocation (serve mode's activity
        # log): on the invoking thread, so an observer must return at once
        self.observers: list[Callable[[Invocation, Any, Any], None]] = []

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        for route in self.outputs.routes:
            self._spawn(f"sandbox-route-{route.function}-{route.event_name}", self._poll_route, route)
        for mapping in self.outputs.event_source_mappings:
            if mapping.enabled:
                self._spawn(
                    f"sandbox-esm-{mapping.function}-{mapping.event_name}", self._poll_mapping, mapping
                )
        for machine_route in self.outputs.state_machine_routes:
            self._spawn(
                f"sandbox-sfn-route-{machine_route.state_machine}-{machine_route.event_name}",
                self._poll_state_machine_route,
                machine_route,
            )

    def _spawn(self, name: str, target: Callable[[Any], None], arg: Any) -> None:
        thread = threading.Thread(target=self._run_loop, args=(target, arg), name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop polling and join every thread (an invocation in progress finishes first)."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        with self._state:
            threads = self._threads + self._event_threads
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in threads if t.is_alive()]
        with self._state:
            self._threads = []
            self._event_threads = [t for t in self._event_threads if t.is_alive()]
        if alive:
            raise RuntimeError(f"router threads did not stop: {', '.join(alive)}")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def add_busy_probe(self, probe: Callable[[], int]) -> None:
        """`probe()` > 0 means work is pending elsewhere (e.g. a transform job about to emit its event)."""
        self._busy_probes.append(probe)

    # -- records ------------------------------------------------------------------------------------
    @property
    def invocations(self) -> list[Invocation]:
        with self._state:
            return list(self._invocations)

    def invocations_of(self, function: str) -> list[Invocation]:
        return [i for i in self.invocations if i.function == function]

    def _record(self, invocation: Invocation, event: Any = None, result: Any = None) -> None:
        with self._state:
            self._invocations.append(invocation)
        for observer in list(self.observers):
            try:
                observer(invocation, event, result)
            except Exception:
                log.exception("sandbox router: an invocation observer failed")

    @property
    def executions(self) -> list[ExecutionStart]:
        with self._state:
            return list(self._executions)

    def executions_of(self, state_machine: str) -> list[ExecutionStart]:
        return [e for e in self.executions if e.state_machine == state_machine]

    # -- idleness -----------------------------------------------------------------------------------
    def _polled_queues(self) -> list[str]:
        urls = [route.queue_url for route in self.outputs.routes]
        urls += [route.queue_url for route in self.outputs.state_machine_routes]
        urls += [m.queue_url for m in self.outputs.event_source_mappings if m.enabled]
        return list(dict.fromkeys(urls))

    def _busy_reason(self, include_delayed: bool) -> str | None:
        with self._state:
            if self._active:
                return f"{self._active} invocation(s) running"
            generation = self._generation
        for probe in self._busy_probes:
            if probe() > 0:
                return f"{probe} reports pending work"
        sqs = self.clients.client("sqs")
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        if include_delayed:
            names.append("ApproximateNumberOfMessagesDelayed")
        for url in self._polled_queues():
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
            visible = int(attributes.get("ApproximateNumberOfMessages", 0))
            invisible = int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0))
            delayed = int(attributes.get("ApproximateNumberOfMessagesDelayed", 0))
            if visible or delayed or invisible > self._parked_count(url):
                return f"{url}: {visible} visible, {invisible} in flight, {delayed} delayed"
        with self._state:
            if self._active or self._generation != generation:
                return "an invocation started meanwhile"
        return None

    def wait_idle(self, timeout: float = 10.0, *, include_delayed: bool = True) -> None:
        """Return once every polled queue is empty (messages left for redelivery after a failure
        excepted), no invocation runs and no busy probe reports work; raise TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        quiet_checks = 0
        reason: str | None = "not checked"
        while time.monotonic() < deadline:
            reason = self._busy_reason(include_delayed)
            quiet_checks = quiet_checks + 1 if reason is None else 0
            if quiet_checks >= 2:
                return
            time.sleep(0.05)
        raise TimeoutError(f"sandbox not idle after {timeout} s: {reason}")

    def _parked_count(self, url: str) -> int:
        now = time.monotonic()
        with self._state:
            parked = self._parked.get(url, {})
            for message_id in [m for m, until in parked.items() if until <= now]:
                del parked[message_id]
            return len(parked)

    # -- polling ------------------------------------------------------------------------------------
    def _run_loop(self, poll_once: Callable[[Any], None], arg: Any) -> None:
        while not self._stop.is_set():
            try:
                poll_once(arg)
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("sandbox router: polling failed; retrying")
                self._stop.wait(0.5)

    def _receive(self, url: str, count: int, visibility: int | None = None) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "QueueUrl": url,
            "MaxNumberOfMessages": count,
            "WaitTimeSeconds": self.poll_wait_seconds,
            "AttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        }
        if visibility is not None:
            request["VisibilityTimeout"] = visibility
        messages: list[dict[str, Any]] = (
            self.clients.client("sqs").receive_message(**request).get("Messages", [])
        )
        if messages:
            with self._state:
                self._active += 1
                self._generation += 1
                parked = self._parked.get(url, {})
                for message in messages:
                    parked.pop(message["MessageId"], None)
        return messages

    def _done(self) -> None:
        with self._state:
            self._active -= 1
            self._generation += 1
            self._state.notify_all()

    def _poll_route(self, route: Route) -> None:
        messages = self._receive(route.queue_url, 10, visibility=_ROUTE_VISIBILITY_SECONDS)
        if not messages:
            return
        try:
            sqs = self.clients.client("sqs")
            for message in messages:
                event = target_input(message["Body"], route.input, route.input_path)
                self.invoke_async(route.function, event, trigger=route.event_name)
                sqs.delete_message(QueueUrl=route.queue_url, ReceiptHandle=message["ReceiptHandle"])
        finally:
            self._done()

    def _poll_state_machine_route(self, route: StateMachineRoute) -> None:
        messages = self._receive(route.queue_url, 10, visibility=_ROUTE_VISIBILITY_SECONDS)
        if not messages:
            return
        try:
            sqs = self.clients.client("sqs")
            for message in messages:
                event_id = eventbridge_event_id(target_input(message["Body"], None, None))
                payload = target_input(message["Body"], route.input, route.input_path)
                try:
                    self.start_execution(
                        route.state_machine,
                        payload if isinstance(payload, str) else json.dumps(payload),
                        trigger=route.event_name,
                        event_id=event_id,
                    )
                except Exception:
                    log.exception(
                        "sandbox router: %s: cannot start an execution for event %s",
                        route.state_machine,
                        event_id,
                    )
                sqs.delete_message(QueueUrl=route.queue_url, ReceiptHandle=message["ReceiptHandle"])
        finally:
            self._done()

    def _queue_visibility(self, url: str) -> int:
        if url not in self._visibility:
            attributes = self.clients.client("sqs").get_queue_attributes(
                QueueUrl=url, AttributeNames=["VisibilityTimeout"]
            )["Attributes"]
            self._visibility[url] = int(attributes.get("VisibilityTimeout", 30))
        return self._visibility[url]

    def _poll_mapping(self, mapping: EventSourceMapping) -> None:
        messages = self._receive(mapping.queue_url, max(1, min(mapping.batch_size, 10)))
        if not messages:
            return
        try:
            self._deliver_batch(mapping, messages)
        finally:
            self._done()

    def _deliver_batch(self, mapping: EventSourceMapping, messages: list[dict[str, Any]]) -> None:
        event = sqs_lambda_event(messages, mapping.queue_arn, self.outputs.region)
        ids = [m["MessageId"] for m in messages]
        failed: set[str] = set()

        def reported_failures(response: Any) -> set[str]:
            if not mapping.report_batch_item_failures or not isinstance(response, dict):
                return set()
            items = response.get("batchItemFailures") or []
            reported = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in items]
            # Lambda fails the whole batch when a reported identifier is empty or not in the batch.
            return set(ids) if any(r not in ids for r in reported) else {str(r) for r in reported}

        def outcome(response: Any) -> str:
            count = len(reported_failures(response))
            return "succeeded" if not count else "partial" if count < len(ids) else "failed"

        try:
            response = self._call(
                mapping.function, event, "sqs", mapping.event_name, ",".join(ids), outcome_of=outcome
            )
        except HandlerFailed:
            failed = set(ids)
        else:
            failed = reported_failures(response)
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.clients.client("sqs").delete_message_batch(
                QueueUrl=mapping.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        if failed:
            until = time.monotonic() + self._queue_visibility(mapping.queue_url)
            with self._state:
                parked = self._parked.setdefault(mapping.queue_url, {})
                parked.update(dict.fromkeys(failed, until))

    # -- invoking -----------------------------------------------------------------------------------
    def _function(self, logical_id: str) -> FunctionSpec:
        try:
            return self.outputs.functions[logical_id]
        except KeyError:
            raise KeyError(f"no function {logical_id!r} in the stack") from None

    def _call(
        self,
        function_id: str,
        event: Any,
        source: str,
        trigger: str,
        event_id: str | None,
        *,
        request_id: str | None = None,
        attempt: int = 1,
        outcome_of: Callable[[Any], str] | None = None,
    ) -> Any:
        """One invocation, recorded; a handler exception comes out as HandlerFailed."""
        function = self._function(function_id)
        request_id = request_id or str(uuid.uuid4())
        started = time.time()
        begin = time.perf_counter()
        credentials = (
            self.role_credentials(function.role_arn) if self.role_credentials and function.role_arn else None
        )
        result, error = run_handler(
            function,
            event,
            self.outputs.region,
            request_id,
            credentials,
            time_scale=current_time_scale(self.time_scale),
        )
        duration_ms = (time.perf_counter() - begin) * 1000
        self._record(
            Invocation(
                function=function_id,
                source=source,
                trigger=trigger,
                event_id=event_id,
                request_id=request_id,
                attempt=attempt,
                outcome="failed" if error else outcome_of(result) if outcome_of else "succeeded",
                duration_ms=duration_ms,
                error=f"{type(error).__name__}: {error}" if error else None,
                started_at=started,
            ),
            event,
            result,
        )
        if duration_ms > function.timeout_seconds * 1000:
            log.warning(
                "%s ran %.0f ms, past its %s s timeout", function_id, duration_ms, function.timeout_seconds
            )
        if error is not None:
            log.warning(
                "%s failed (attempt %s): %s",
                function_id,
                attempt,
                "".join(traceback.format_exception(error)).rstrip(),
            )
            raise HandlerFailed(error) from error
        return result

    def invoke_lambda(self, function_name: str, event: Any) -> tuple[str, bool, str]:
        """moto's Lambda running a function of the stack (a Step Functions `lambda:invoke` task,
        lambda:Invoke): the handler in-process as a synchronous invocation, answered as
        `LambdaFunction._invoke_lambda` answers: (result JSON, errored, log tail). A handler exception
        is Lambda's error payload ({errorMessage, errorType, requestId, stackTrace}); a result that is
        not JSON-serialisable is Runtime.MarshalError, as in Lambda's Python runtime."""
        request_id = str(uuid.uuid4())
        function = self.outputs.function_named(function_name)
        if function is None:
            error = {
                "errorMessage": f"sandbox: {function_name} is not a function of the stack (only the "
                "template's handlers run in-process)",
                "errorType": "Sandbox.FunctionNotInStack",
                "requestId": request_id,
                "stackTrace": [],
            }
            return json.dumps(error), True, ""
        with self._state:
            self._active += 1
            self._generation += 1
        begin = time.perf_counter()
        try:
            try:
                result = self._call(
                    function.logical_id,
                    event,
                    "lambda",
                    "invoke",
                    eventbridge_event_id(event),
                    request_id=request_id,
                )
            except HandlerFailed as failed:
                payload, errored = json.dumps(error_payload(failed.original, request_id)), True
            else:
                try:
                    payload, errored = json.dumps(result), False
                except (TypeError, ValueError) as exc:
                    error = {
                        "errorMessage": f"Unable to marshal response: {exc}",
                        "errorType": "Runtime.MarshalError",
                        "requestId": request_id,
                        "stackTrace": [],
                    }
                    payload, errored = json.dumps(error), True
        finally:
            self._done()
        duration_ms = (time.perf_counter() - begin) * 1000
        logs = (
            f"START RequestId: {request_id} Version: $LATEST\n"
            f"END RequestId: {request_id}\n"
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Memory Size: {function.memory_mb} MB\n"
        )
        return payload, errored, logs

    def start_execution(
        self,
        state_machine: str,
        execution_input: Any = None,
        *,
        name: str | None = None,
        trigger: str = "direct",
        event_id: str | None = None,
    ) -> str:
        """StartExecution of a state machine of the stack (logical id or ARN) with a unique name unless
        given; `execution_input` a JSON text or a value to serialise. Returns the execution ARN."""
        machine = self.outputs.state_machine(state_machine)
        name = name or str(uuid.uuid4())
        text = (
            "{}"
            if execution_input is None
            else execution_input
            if isinstance(execution_input, str)
            else json.dumps(execution_input)
        )
        started = time.time()
        try:
            arn = str(
                self.clients.client("stepfunctions").start_execution(
                    stateMachineArn=machine.arn, name=name, input=text
                )["executionArn"]
            )
        except Exception as exc:
            record = ExecutionStart(
                machine.logical_id, trigger, event_id, name, None, started, f"{type(exc).__name__}: {exc}"
            )
            with self._state:
                self._executions.append(record)
            raise
        with self._state:
            self._executions.append(ExecutionStart(machine.logical_id, trigger, event_id, name, arn, started))
        return arn

    def wait_for_execution(self, execution_arn: str, timeout: float = 30.0) -> dict[str, Any]:
        """DescribeExecution once the execution has ended; TimeoutError if it still runs after `timeout`."""
        sfn = self.clients.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {execution_arn} still RUNNING after {timeout} s")
            time.sleep(0.05)

    def invoke(self, function_id: str, event: Any) -> Any:
        """A synchronous (RequestResponse) invocation: the handler's result, or its exception."""
        try:
            return self._call(function_id, event, "direct", "direct", eventbridge_event_id(event))
        except HandlerFailed as failed:
            raise failed.original from None

    def invoke_event(self, function_name: str, event: Any) -> bool:
        """lambda:Invoke with InvocationType Event of a function of the stack (bound to
        gaps.awslambda.LambdaEventInvocations): accepted at once (False for a function not in the stack,
        left to moto), then run by `invoke_async` on a thread of its own, after the invocation that asked
        for it (one `os.environ`)."""
        function = self.outputs.function_named(function_name)
        if function is None:
            return False
        with self._state:
            self._active += 1
            self._generation += 1
        thread = threading.Thread(
            target=self._run_event,
            args=(function.logical_id, event),
            name=f"sandbox-event-{function.logical_id}",
            daemon=True,
        )
        with self._state:
            self._event_threads = [t for t in self._event_threads if t.is_alive()] + [thread]
        thread.start()
        return True

    def _run_event(self, function_id: str, event: Any) -> None:
        try:
            self.invoke_async(function_id, event, trigger="invoke", source="event")
        except Exception:
            log.exception("sandbox router: %s: the Event invocation could not run", function_id)
        finally:
            self._done()

    def invoke_async(
        self, function_id: str, event: Any, *, trigger: str = "direct", source: str = "eventbridge"
    ) -> bool:
        """An asynchronous (Event) invocation with Lambda's retries and destinations; True on success."""
        function = self._function(function_id)
        settings = function.event_invoke
        request_id = str(uuid.uuid4())
        attempts = 1 + settings.maximum_retry_attempts
        for attempt in range(1, attempts + 1):
            try:
                result = self._call(
                    function_id,
                    event,
                    source,
                    trigger,
                    eventbridge_event_id(event),
                    request_id=request_id,
                    attempt=attempt,
                )
            except HandlerFailed as failed:
                if attempt < attempts:
                    if self.retry_delay_seconds:
                        self._stop.wait(self.retry_delay_seconds)
                    continue
                self._destinations.on_failure(function, event, request_id, attempts, failed.original)
                return False
            self._destinations.on_success(function, event, request_id, attempt, result)
            return True
        return False  # pragma: no cover - the loop always returns
