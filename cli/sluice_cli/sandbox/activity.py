"""Serve mode's terminal: one line on stderr per thing that happens, as `sam local` logs each request.

    12:00:01 s3 ObjectCreated endpoints/demo-realtime/v2/model.tar.gz → StartRolloutFunction → STARTED v2
    12:00:01 execution started sluice-rollout demo-realtime-v2-1a2b3c
    12:00:07 states demo-realtime v2 next_step → RolloutStepFunction → weights v2 50 % · v1 50 %
    12:00:07 rollout demo-realtime v2: UPDATING → SHIFTING
    12:00:09 alarm sluice-demo-realtime-v2-errors OK → ALARM: Threshold Crossed: 1 datapoint …
    12:00:10 execution ended FAILED sluice-rollout demo-realtime-v2-1a2b3c (9.1 s): Sluice.RolledBack

Where the lines come from (`ActivityLog.attach`, serve mode only: a sandbox without one pays nothing
but an empty observer list):
- every handler invocation the router makes (`EventRouter.observers`): what triggered it (an S3
  upload, an alarm event, a transform job event, a state machine task, an SQS batch), the function,
  and its outcome (the handler's status, the weights a rollout step set, or the error);
- rollout state changes: after each invocation that names a rollout, its registry record is read and
  a status change printed;
- alarm transitions, by hand (SetAlarmState) or from metric data (`AlarmStateChangeEvents.observers`);
- Step Functions executions started and ended (moto's interpreter, patched while attached).

Observers only put a tuple on a queue; one daemon thread formats and writes, so an invocation never
waits for the terminal.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from sluice_cli.sandbox.aws_state.cloudwatch import AlarmState
from sluice_cli.sandbox.gaps.cloudwatch import AlarmStateChangeEvents
from sluice_cli.sandbox.gaps.stepfunctions import ExecutionStatusChangeEvents
from sluice_cli.sandbox.router import Invocation
from sluice_cli.sandbox.server import Sandbox

ARROW = "→"
MAX_DETAIL = 160


def _short(text: str, limit: int = MAX_DETAIL) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def trigger_of(invocation: Invocation, event: Any) -> str:
    """What made the router invoke the function, as a user would name it."""
    if isinstance(event, dict):
        found = event.get("detail")
        detail: dict[str, Any] = found if isinstance(found, dict) else {}
        kind = event.get("detail-type")
        if kind == "Object Created":
            key = (detail.get("object") or {}).get("key", "?")
            return f"s3 {detail.get('reason') or 'PutObject'} {key}"
        if kind == "CloudWatch Alarm State Change":
            state = (detail.get("state") or {}).get("value", "?")
            return f"cloudwatch alarm {detail.get('alarmName', '?')} {state}"
        if kind == "SageMaker Transform Job State Change":
            job, status = detail.get("TransformJobName"), detail.get("TransformJobStatus")
            return f"sagemaker transform job {job} {status}"
        if isinstance(event.get("Records"), list):
            return f"sqs {invocation.trigger} ({len(event['Records'])} message(s))"
        state = event.get("state")
        if "action" in event and isinstance(state, dict):
            version = f" {state['version']}" if state.get("version") else ""
            return f"states {state.get('endpoint', '?')}{version} {event['action']}"
    return f"{invocation.source} {invocation.trigger}"


def weights_text(weights: dict[str, Any]) -> str:
    return " · ".join(f"{variant} {float(share):g} %" for variant, share in weights.items())


def outcome_of(invocation: Invocation, result: Any, show_weights: bool = True) -> str:
    """The handler's answer in a few words: its status (and version), the weights it set (when
    `show_weights`), or the error."""
    if invocation.outcome == "failed":
        return f"failed (attempt {invocation.attempt}): {_short(invocation.error or '')}"
    if not isinstance(result, dict):
        return invocation.outcome
    parts = []
    if result.get("status"):
        parts.append(str(result["status"]))
        if result.get("target_model"):
            parts.append(str(result["target_model"]))
        elif result.get("version") is not None:
            version = result["version"]
            parts.append(f"v{version}" if isinstance(version, int) else str(version))
        if result["status"] in ("REJECTED", "FAILED") and result.get("reason"):
            parts.append(f"({_short(str(result['reason']), 100)})")
    if show_weights and isinstance(result.get("weights"), dict) and result["weights"]:
        parts.append(f"weights {weights_text(result['weights'])}")
    if invocation.outcome == "partial":
        parts.append("(some batch items failed)")
    return " ".join(parts) or ("ok" if invocation.outcome == "succeeded" else invocation.outcome)


def rollout_named(event: Any, result: Any) -> tuple[str, str] | None:
    """(endpoint, rollout_id) of the rollout an invocation acted on, when it says."""
    for source in (result, event.get("state") if isinstance(event, dict) else None):
        if isinstance(source, dict) and source.get("endpoint") and source.get("rollout_id"):
            return str(source["endpoint"]), str(source["rollout_id"])
    return None


class ActivityLog:
    """Writes one line per event of a running sandbox with `write` (serve mode: stderr)."""

    def __init__(self, write: Callable[[str], None], clock: Callable[[], float] = time.time) -> None:
        self.write = write
        self.clock = clock
        self._queue: queue.Queue[tuple[float, str, tuple[Any, ...]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._detach: list[Callable[[], None]] = []
        self._sandbox: Sandbox | None = None
        self._rollout_status: dict[tuple[str, str], str] = {}
        self._weights: dict[str, Any] = {}  # endpoint -> the weights last shown
        self._closing = threading.Event()

    # -- wiring -------------------------------------------------------------------------------------
    def attach(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        router = sandbox.router
        router.observers.append(self._on_invocation)
        self._detach.append(lambda: router.observers.remove(self._on_invocation))
        alarms = sandbox.gaps.get(AlarmStateChangeEvents)
        alarms.observers.append(self._on_alarm)
        self._detach.append(lambda: alarms.observers.remove(self._on_alarm))
        self._patch_executions(sandbox)
        self._thread = threading.Thread(target=self._run, name="sandbox-activity-log", daemon=True)
        self._thread.start()

    def _patch_executions(self, sandbox: Sandbox) -> None:
        """Executions started (Execution.start, patched while attached) and ended (an observer of the
        filler that already patches their end: a second patch there would sit on top of it)."""
        from moto.stepfunctions.parser.backend.execution import Execution

        start = Execution.start
        put = self._put

        def started(execution: Any) -> None:
            start(execution)
            put("execution-started", execution)

        def ended(execution: Any) -> None:
            put("execution-ended", execution)

        Execution.start = started  # type: ignore[method-assign,assignment]
        endings = sandbox.gaps.get(ExecutionStatusChangeEvents)
        endings.observers.append(ended)

        def restore() -> None:
            Execution.start = start  # type: ignore[method-assign]
            endings.observers.remove(ended)

        self._detach.append(restore)

    def stop_reading(self) -> None:
        """No more registry reads (the sandbox is stopping): lines of what still happens only."""
        self._closing.set()

    def close(self, timeout: float = 0.5) -> None:
        """Stop observing; write what is queued until `timeout`, then drop the rest."""
        self._closing.set()
        for detach in reversed(self._detach):
            detach()
        self._detach = []
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    # -- observers (on the threads where things happen: only a put) ----------------------------------
    def _put(self, kind: str, *args: Any) -> None:
        self._queue.put((self.clock(), kind, args))

    def _on_invocation(self, invocation: Invocation, event: Any, result: Any) -> None:
        self._put("invocation", invocation, event, result)

    def _on_alarm(self, alarm: Any, previous: AlarmState) -> None:
        self._put("alarm", str(alarm.name), previous.value, str(alarm.state_value), str(alarm.state_reason))

    # -- the writer -----------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            at, kind, args = item
            try:
                for line in self._lines(kind, args):
                    self.write(f"{time.strftime('%H:%M:%S', time.localtime(at))} {line}")
            except Exception as error:  # a line that cannot be made must not end the log
                self.write(f"{time.strftime('%H:%M:%S', time.localtime(at))} ({kind}: {error})")

    def _lines(self, kind: str, args: tuple[Any, ...]) -> list[str]:
        if kind == "invocation":
            invocation, event, result = args
            named = rollout_named(event, result)
            weights = result.get("weights") if isinstance(result, dict) else None
            new_weights = True
            if named is not None and weights:  # a weight step is shown once, where it happens
                new_weights = self._weights.get(named[0]) != weights
                self._weights[named[0]] = weights
            lines = [
                f"{trigger_of(invocation, event)} {ARROW} {invocation.function} {ARROW} "
                f"{outcome_of(invocation, result, new_weights)}"
            ]
            if named is not None:
                lines += self._rollout_change(*named)
            return lines
        if kind == "alarm":
            name, previous, state, reason = args
            return [f"alarm {name} {previous} {ARROW} {state}: {_short(reason)}"]
        execution = args[0]
        machine = str(execution.state_machine_arn).rsplit(":", 1)[-1]
        if kind == "execution-started":
            return [f"execution started {machine} {execution.name}"]
        status = getattr(execution.exec_status, "value", execution.exec_status)
        seconds = ""
        if execution.stop_date is not None and execution.start_date is not None:
            seconds = f" ({(execution.stop_date - execution.start_date).total_seconds():.1f} s)"
        cause = f": {_short(execution.error or '')}" if execution.error else ""
        return [f"execution ended {status} {machine} {execution.name}{seconds}{cause}"]

    def _rollout_change(self, endpoint: str, rollout_id: str) -> list[str]:
        """A line when the rollout's status in the registry differs from the last one shown."""
        sandbox = self._sandbox
        if sandbox is None or self._closing.is_set():
            return []
        item = (
            sandbox.client("dynamodb")
            .get_item(
                TableName=sandbox.outputs.outputs["RegistryTableName"],
                Key={"pk": {"S": f"rollout#{endpoint}"}, "sk": {"S": rollout_id}},
                ConsistentRead=True,
            )
            .get("Item")
        )
        if not item or "status" not in item:
            return []
        status = item["status"].get("S", "?")
        version = item.get("version", {}).get("S", "")
        previous = self._rollout_status.get((endpoint, rollout_id))
        if status == previous:
            return []
        self._rollout_status[(endpoint, rollout_id)] = status
        change = f"{previous} {ARROW} {status}" if previous else status
        return [f"rollout {endpoint} {version}: {change}".replace("  ", " ")]
