"""Stopping the sandbox within a bound: each step of `Sandbox.close` that can wait gets a deadline.

    shutdown = BoundedShutdown(report=print)
    sandbox.close(shutdown)     # each step done, or abandoned at its deadline, and reported

Serve mode must stop within 10 s of SIGTERM on a busy machine. Unbounded, a stop waits for whatever
is in progress: the router's pollers finish the invocation they run (a RolloutStep task may poll an
endpoint for a minute), the executions are stopped over HTTP through the emulator, the gap-fillers
join their threads (the alarm evaluator, transform-job and endpoint-update timers, 10 s each), and
moto's server joins its thread without a timeout. Here each of those runs on a daemon thread of its
own, joined until its deadline; one that is still running then is abandoned (reported, with what it was
still doing), and the next step starts. Steps without a budget (restoring os.environ, removing patches)
run inline: they cannot wait on anything.

Without a `BoundedShutdown` (tests, the demo), `Sandbox.close` runs every step inline and waits for
each, as it always did.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

_THIS = Path(__file__).resolve()
_PROJECT = _THIS.parents[3]  # the repository
_LIBRARIES = _PROJECT / ".venv"

# Wall seconds per step of a serve-mode stop, in the order they run. With the thread check after the
# sandbox (serve.THREADS_SECONDS) they add up to 9 s: a stop ends within 10 s of the signal.
STOP_BUDGETS: Mapping[str, float] = {
    "router": 2.0,  # stop polling the queues; an invocation in progress is waited for until then
    "executions": 2.0,  # StopExecution for every running Step Functions execution
    "gap-fillers": 2.0,  # the alarm evaluator, transform-job and endpoint-update timers stopped
    "server": 1.5,  # moto's server: stop accepting, close the port
    "emulator state": 0.5,  # moto's backends reset
}


class StepAbandoned(Exception):
    """Raised by a step that stopped waiting by itself at its deadline: reported as abandoned, with
    the message (what it left behind), not as failed."""


@dataclass(frozen=True)
class StepReport:
    """One step of a bounded stop: `outcome` "done", "failed" (its error in `detail`) or "abandoned"
    (still running at its deadline; `detail` says what it was doing)."""

    name: str
    budget: float
    seconds: float
    outcome: str
    detail: str = ""

    def line(self) -> str:
        text = f"stop: {self.name} {self.outcome} in {self.seconds:.1f} s (budget {self.budget:g} s)"
        return f"{text}: {self.detail}" if self.detail else text


class BoundedShutdown:
    """Runs the named steps of a stop, each on a daemon thread joined until its budget runs out."""

    def __init__(
        self,
        report: Callable[[StepReport], None],
        budgets: Mapping[str, float] = STOP_BUDGETS,
    ) -> None:
        self.report = report
        self.budgets = dict(budgets)
        self.reports: list[StepReport] = []

    def budget(self, name: str) -> float | None:
        return self.budgets.get(name)

    def run(self, name: str, action: Callable[[], None]) -> None:
        budget = self.budgets.get(name)
        if budget is None:
            action()
            return
        failure: list[BaseException] = []

        def step() -> None:
            try:
                action()
            except BaseException as error:  # reported, never raised: the next step must run
                failure.append(error)

        began = time.monotonic()
        thread = threading.Thread(target=step, name=f"sandbox-stop-{name.replace(' ', '-')}", daemon=True)
        thread.start()
        thread.join(budget)
        seconds = time.monotonic() - began
        if thread.is_alive():
            outcome, detail = "abandoned", f"still running: {_doing(thread)}"
        elif failure and isinstance(failure[0], StepAbandoned):
            outcome, detail = "abandoned", str(failure[0])
        elif failure:
            outcome, detail = "failed", f"{type(failure[0]).__name__}: {failure[0]}"
        else:
            outcome, detail = "done", ""
        report = StepReport(name, budget, seconds, outcome, detail)
        self.reports.append(report)
        self.report(report)


def _doing(thread: threading.Thread) -> str:
    """The innermost frame of the project's own code (not this module's, nor a library's) that `thread`
    is in, or, failing that, its innermost frame."""
    frame = sys._current_frames().get(thread.ident or -1)
    fallback = ""
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        where = f"{frame.f_code.co_name} ({path.name}:{frame.f_lineno})"
        fallback = fallback or where
        if path.is_relative_to(_PROJECT) and not path.is_relative_to(_LIBRARIES) and path != _THIS:
            return where
        frame = frame.f_back
    return fallback or "unknown"
