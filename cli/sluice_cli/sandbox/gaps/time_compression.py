"""The sandbox's clock: Step Functions waits (Wait, Retry, task timeouts) divided by its time scale,
which the alarm evaluator and the traffic simulator read too (docs/EMULATION.md, Step Functions)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from sluice_cli.sandbox.gaps.base import Gap
from sluice_cli.sandbox.gaps.probes import plain_moto_executing, probe_role, wait_for_execution


class _ThreadingWithEvent:
    """Stands in for the `threading` module inside one moto module: its `Event` is the scaled one,
    everything else is threading's."""

    def __init__(self, event_class: type[threading.Event]) -> None:
        self.Event = event_class

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


class TimeCompression(Gap):
    """Divides the Step Functions interpreter's waits by the sandbox's clock: `time_scale` = sandbox
    seconds per declared second (1.0 real time; 0.02 makes a 300 s bake last 6 s).

    Scaled: Wait states (Seconds, SecondsPath, Timestamp, TimestampPath: `WaitFunction._wait_interval`,
    replaced by a deadline loop), Retry intervals after BackoffRate, MaxDelaySeconds and jitter (the
    value `JitterStrategyDecl` leaves for the retrier's sleep), and task TimeoutSeconds /
    TimeoutSecondsPath / HeartbeatSeconds(Path) (the `threading.Event` waits of the callback endpoints
    in `asl.eval.callback` and of `ExecutionState._evaluate_with_timeout`, through scaled Event
    classes). The declared values stay as they are in the execution history (timeoutInSeconds ...).
    Not scaled: a state machine's top-level TimeoutSeconds.
    """

    name = "stepfunctions-time-compression"
    reason = "moto's Step Functions interpreter waits in wall time (Wait, Retry intervals, task timeouts)"

    def __init__(self, time_scale: float = 1.0) -> None:
        super().__init__()
        if not time_scale > 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale}")
        self.time_scale = time_scale

    def scaled(self, seconds: float) -> float:
        """Wall-clock seconds for `seconds` of declared (AWS) time."""
        return max(0.0, float(seconds) * self.time_scale)

    def _event_class(self) -> type[threading.Event]:
        gap = self

        class ScaledEvent(threading.Event):
            """threading.Event whose wait(timeout) lasts timeout x the sandbox's time scale."""

            def wait(self, timeout: float | None = None) -> bool:
                return super().wait(None if timeout is None else gap.scaled(timeout))

        return ScaledEvent

    def _patch(self) -> None:
        from moto.stepfunctions.parser.asl.component.common.retry.jitter_strategy_decl import (
            JitterStrategyDecl,
        )
        from moto.stepfunctions.parser.asl.component.state.exec import execute_state
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
            WaitFunction,
        )
        from moto.stepfunctions.parser.asl.eval.callback import callback

        gap = self
        scaled_event = self._event_class()

        def make_wait(original: Callable[..., Any]) -> Callable[..., Any]:
            # moto's loop compares int(elapsed) with the declared seconds: a fractional wait never ends.
            def _wait_interval(wait_function: Any, env: Any, wait_seconds: float) -> None:
                deadline = time.monotonic() + gap.scaled(wait_seconds)
                while env.is_running():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return
                    env.program_state_event.wait(remaining)  # pulsed when the execution stops or fails

            return _wait_interval

        def make_jitter(original: Callable[..., Any]) -> Callable[..., Any]:
            def _eval_body(decl: Any, env: Any) -> None:
                original(decl, env)  # the last step of the retry interval: its value is on the stack
                env.stack.append(gap.scaled(env.stack.pop()))

            return _eval_body

        self._apply(WaitFunction, "_wait_interval", make_wait)
        self._apply(JitterStrategyDecl, "_eval_body", make_jitter)
        self._apply(callback, "Event", lambda original: scaled_event)
        self._apply(execute_state, "threading", lambda original: _ThreadingWithEvent(scaled_event))

    @classmethod
    def still_present(cls) -> bool:
        with plain_moto_executing() as clients:
            definition = {
                "StartAt": "Pause",
                "States": {"Pause": {"Type": "Wait", "Seconds": 1, "End": True}},
            }
            sfn = clients("stepfunctions")
            machine = sfn.create_state_machine(
                name="gap-probe", definition=json.dumps(definition), roleArn=probe_role(clients)
            )["stateMachineArn"]
            started = time.monotonic()
            execution = sfn.start_execution(stateMachineArn=machine, name="gap-probe")["executionArn"]
            described = wait_for_execution(sfn, execution)
            return bool(described["status"] == "SUCCEEDED") and time.monotonic() - started >= 0.9
