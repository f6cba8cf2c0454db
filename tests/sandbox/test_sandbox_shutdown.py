"""shutdown.py: a stop whose every step that can wait has a deadline, each reported."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

from sluice_cli.sandbox import Sandbox
from sluice_cli.sandbox.shutdown import STOP_BUDGETS, BoundedShutdown, StepAbandoned, StepReport

SMALL = "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n"


def wait_for_ever(release: threading.Event) -> None:
    release.wait()


def test_a_step_still_running_at_its_deadline_is_abandoned_and_the_next_steps_run() -> None:
    reports: list[StepReport] = []
    budgets = {"stuck": 0.2, "gave up": 1.0, "broken": 1.0, "quick": 1.0}
    shutdown = BoundedShutdown(reports.append, budgets)
    release = threading.Event()
    ran: list[str] = []

    def gave_up() -> None:
        raise StepAbandoned("router threads did not stop: sandbox-route-X")

    def broken() -> None:
        raise KeyError("no such step")

    try:
        shutdown.run("stuck", lambda: wait_for_ever(release))
        shutdown.run("gave up", gave_up)
        shutdown.run("broken", broken)
        shutdown.run("quick", lambda: ran.append("quick"))
        shutdown.run("unbudgeted", lambda: ran.append("inline"))  # no deadline: run here, not reported
    finally:
        release.set()

    assert [(r.name, r.outcome) for r in reports] == [
        ("stuck", "abandoned"),
        ("gave up", "abandoned"),
        ("broken", "failed"),
        ("quick", "done"),
    ]
    stuck, gave_up_report, broken_report, _ = reports
    assert stuck.detail.startswith("still running: wait_for_ever (test_sandbox_shutdown.py:")
    assert stuck.line() == f"stop: stuck abandoned in {stuck.seconds:.1f} s (budget 0.2 s): {stuck.detail}"
    assert gave_up_report.detail == "router threads did not stop: sandbox-route-X"
    assert broken_report.detail == "KeyError: 'no such step'"
    assert ran == ["quick", "inline"]


def test_a_bounded_close_reports_every_step_and_leaves_nothing_behind(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(SMALL)
    env_before = dict(os.environ)
    reports: list[StepReport] = []
    sandbox = Sandbox(template, stack_name="bounded")
    sandbox.__enter__()
    port = sandbox.port
    sandbox.close(BoundedShutdown(reports.append))

    assert [r.name for r in reports] == list(STOP_BUDGETS)
    assert {r.outcome for r in reports} == {"done"}
    assert dict(os.environ) == env_before
    with socket.socket() as probe:  # the port is free again
        probe.bind(("127.0.0.1", port))
    sandbox.close()  # closing again does nothing
