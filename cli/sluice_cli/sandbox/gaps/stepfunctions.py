"""Step Functions gaps: StopExecution wakes the tasks waiting for their token; an execution that ends
puts "Step Functions Execution Status Change" on the bus (docs/EMULATION.md, Found since)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sluice_cli.sandbox.gaps.base import Gap
from sluice_cli.sandbox.gaps.probes import (
    PROBE_REGION,
    drain_queue,
    plain_moto_executing,
    probe_role,
    probe_rule_to_queue,
    wait_for_execution,
)

log = logging.getLogger(__name__)
EXECUTION_DETAIL_TYPE = "Step Functions Execution Status Change"


def interrupt_callbacks(env: Any) -> int:
    """Wake every task of an interpreter environment that waits for a task token or heartbeat (they
    then see the execution is no longer running and end). Returns how many endpoints were woken."""
    manager = getattr(env, "callback_pool_manager", None)
    endpoints = list(getattr(manager, "_pool", {}).values())
    for endpoint in endpoints:
        endpoint.interrupt_all()
    return len(endpoints)


class StopExecutionInterrupts(Gap):
    """StopExecution also wakes the execution's tasks waiting for a task token (or heartbeat).

    moto marks the execution ABORTED but its interpreter threads keep waiting for the token until the
    task's TimeoutSeconds (99999999 s by default): a sandbox shut down with a rollout baking would
    leave them behind. Patched at `ExecutionWorker.stop`: after moto's stop, every callback endpoint of
    the execution is interrupted (`interrupt_callbacks`); the woken task sees the execution stopped.
    The woken task then reports an error, and moto's `Environment.set_error` would turn the stopped
    program into a failed one (DescribeExecution FAILED, where AWS says ABORTED): while the gap is
    installed, a stopped program stays stopped.
    """

    name = "stepfunctions-stop-execution-interrupts"
    reason = "moto's StopExecution leaves a task waiting for its token (a thread) until the task times out"

    _THREAD_MARK = "_exec_and_notify"  # the thread of a task being evaluated (ExecutionState)

    def _patch(self) -> None:
        from moto.stepfunctions.parser.asl.eval.environment import Environment
        from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
        from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def stop(worker: Any, *args: Any, **kwargs: Any) -> None:
                original(worker, *args, **kwargs)
                if worker.env is not None:
                    interrupt_callbacks(worker.env)

            return stop

        def make_set_error(original: Callable[..., Any]) -> Callable[..., Any]:
            def set_error(env: Any, *args: Any, **kwargs: Any) -> None:
                if isinstance(getattr(env, "_program_state", None), ProgramStopped):
                    return  # stopped (ABORTED) stays stopped
                original(env, *args, **kwargs)

            return set_error

        self._apply(ExecutionWorker, "stop", make)
        self._apply(Environment, "set_error", make_set_error)

    @classmethod
    def still_present(cls) -> bool:
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        def task_threads() -> set[threading.Thread]:
            return {t for t in threading.enumerate() if cls._THREAD_MARK in t.name and t.is_alive()}

        before = task_threads()
        with plain_moto_executing() as clients:
            url = clients("sqs").create_queue(QueueName="gap-probe")["QueueUrl"]
            definition = {
                "StartAt": "Bake",
                "States": {
                    "Bake": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                        "Parameters": {"QueueUrl": url, "MessageBody.$": "$$.Task.Token"},
                        "TimeoutSeconds": 60,
                        "End": True,
                    }
                },
            }
            sfn = clients("stepfunctions")
            machine = sfn.create_state_machine(
                name="gap-probe", definition=json.dumps(definition), roleArn=probe_role(clients)
            )["stateMachineArn"]
            execution = cls._execution_waiting_for_its_token(clients, machine, url)
            sfn.stop_execution(executionArn=execution)
            deadline = time.monotonic() + 1.0
            while task_threads() - before and time.monotonic() < deadline:
                time.sleep(0.05)
            present = bool(task_threads() - before)
            backend = stepfunctions_parser_backends["123456789012"][PROBE_REGION]
            for state_machine in backend.state_machines:  # clean up after the probe
                for run in state_machine.executions:
                    worker = getattr(run, "exec_worker", None)
                    if worker is not None and worker.env is not None:
                        interrupt_callbacks(worker.env)
            return present

    @classmethod
    def _execution_waiting_for_its_token(cls, clients: Callable[[str], Any], machine: str, url: str) -> str:
        """Start the probe's state machine until its task waits for its token; the execution's ARN.

        Under load an execution has been seen to fail in its SQS call instead (moto, once in several
        suite runs): such a run proves nothing, so try again, and say so if it never gets there rather
        than report "fixed"."""
        sfn = clients("stepfunctions")
        seen = ""
        for attempt in range(3):
            execution = str(
                sfn.start_execution(stateMachineArn=machine, name=f"gap-probe-{attempt}")["executionArn"]
            )
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline:  # until the message is sent: the task waits now
                if clients("sqs").receive_message(QueueUrl=url).get("Messages"):
                    return execution
                described = sfn.describe_execution(executionArn=execution)
                if described["status"] != "RUNNING":
                    seen = f"{described['status']}: {described.get('cause', '')}"
                    break
                time.sleep(0.02)
        raise RuntimeError(f"{cls.name} probe: no task ever waited for its token ({seen or 'timeout'})")


def _epoch_millis(moment: Any) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def execution_status_change_entry(execution: Any) -> dict[str, Any]:
    """The PutEvents entry of an ended execution, in the shape Step Functions sends (Step Functions
    developer guide, "Automating Step Functions event delivery with EventBridge": `detail` is
    DescribeExecution's fields, dates in epoch milliseconds, input and output as JSON text)."""
    status = str(getattr(execution.exec_status, "value", execution.exec_status))
    output = getattr(execution, "output", None)
    detail = {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.name,
        "status": status,
        "startDate": _epoch_millis(execution.start_date),
        "stopDate": _epoch_millis(execution.stop_date),
        "input": json.dumps(execution.input_data),
        "inputDetails": {"included": True},
        "output": None if output is None else json.dumps(output, default=str),
        "outputDetails": None if output is None else {"included": True},
        "error": getattr(execution, "error", None),
        "cause": getattr(execution, "cause", None),
    }
    return {
        "Source": "aws.states",
        "DetailType": EXECUTION_DETAIL_TYPE,
        "Detail": json.dumps(detail),
        "Resources": [execution.exec_arn],
        "EventBusName": "default",
    }


class ExecutionStatusChangeEvents(Gap):
    """Puts "Step Functions Execution Status Change" on the default bus when an execution ends
    (SUCCEEDED, FAILED, TIMED_OUT, ABORTED), as Step Functions does for standard workflows. RUNNING is
    not sent: nothing in the stack listens for it.

    Patched at `BaseExecutionWorkerCommunication.terminated`, which the interpreter calls once the
    program ends however it ends (a StopExecution included), after moto's own bookkeeping of the status.
    """

    name = "stepfunctions-execution-status-change-events"
    reason = "moto's executions end without the 'Step Functions Execution Status Change' event"

    def __init__(self) -> None:
        super().__init__()
        # Called with each execution once it ended (serve mode's activity log): one patch of
        # `terminated`, so no observer's patch can land on top of this filler's.
        self.observers: list[Callable[[Any], None]] = []

    def _patch(self) -> None:
        from moto.events.models import events_backends
        from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def terminated(communication: Any) -> None:
                original(communication)
                execution = communication.execution
                try:
                    backend = events_backends[execution.account_id][execution.region_name]
                    backend.put_events([execution_status_change_entry(execution)])
                except Exception:  # a rule with a Lambda/SFN target (never the sandbox's), or moto's
                    log.exception("execution %s: status change event not delivered", execution.exec_arn)
                for observer in list(self.observers):
                    observer(execution)

            return terminated

        self._apply(BaseExecutionWorkerCommunication, "terminated", make)

    @classmethod
    def still_present(cls) -> bool:
        with plain_moto_executing() as clients:
            url = probe_rule_to_queue(clients, {"source": ["aws.states"]})
            definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
            sfn = clients("stepfunctions")
            machine = sfn.create_state_machine(
                name="gap-probe", definition=json.dumps(definition), roleArn=probe_role(clients)
            )["stateMachineArn"]
            execution = sfn.start_execution(stateMachineArn=machine, name="gap-probe")["executionArn"]
            described = wait_for_execution(sfn, execution)
            time.sleep(0.2)
            return described["status"] == "SUCCEEDED" and not drain_queue(clients, url)
