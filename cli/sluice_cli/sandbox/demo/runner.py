"""Running the story: each step in turn, then `sandbox-report/` and the summary; `main` for `python -m`."""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from sluice_cli.sandbox.demo import uploads
from sluice_cli.sandbox.demo.canary_observation import shown_ms, shown_transitions
from sluice_cli.sandbox.demo.cast import (
    QUIET,
    QUIET_RPS,
    REPORT_DIRECTORY,
    ROLE_ARN,
    TIME_SCALE,
    TIMES,
    TRAFFIC_RPS,
    V2_ERROR_RATES,
    V3_CALM_ERROR_RATES,
    V3_ERROR_RATES,
    V4_ERROR_RATES,
    V4_LATENCY_MS,
)
from sluice_cli.sandbox.demo.checks import Checks, StepResult, shown
from sluice_cli.sandbox.demo.harness import Demo, Notification
from sluice_cli.sandbox.demo.story import STORY, StoryStep
from sluice_cli.sandbox.report import RolloutTimeline, write_report
from sluice_cli.sandbox.server import Sandbox, quiet_handler_output
from sluice_cli.sandbox.traffic import SIMULATION_LABEL


@dataclass
class DemoReport:
    """What one run of the story observed: a result per step, every notification received, and the
    facts its closing note and report use."""

    steps: list[StepResult] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    wall_seconds: float = 0.0
    # What the story measured for the closing note (e.g. "alarm_to_baseline_seconds").
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)

    def step(self, name: str) -> StepResult:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)


def run_story(demo: Demo, steps: Sequence[StoryStep] = STORY) -> list[StepResult]:
    """Each step in turn; a step that raises is a failed step, and the story goes on."""
    results = []
    for step in steps:
        demo.console.rule(Text(step.title, style="bold"), align="left")
        checks = Checks()
        began = time.monotonic()
        try:
            step.run(demo, checks)
        except Exception as error:
            demo.console.print_exception(max_frames=4)
            checks.that("the step", "completes", f"{type(error).__name__}: {error}", False)
        for check in checks.items:
            if check.ok:
                line = Text("✓ ", style="bold green") + Text(f"{check.what}: {check.observed}")
            else:
                line = Text("✗ ", style="bold red") + Text(
                    f"{check.what}: expected {check.expected}, observed {check.observed}", style="red"
                )
            demo.console.print(line)
        results.append(checks.result(step.name, time.monotonic() - began))
    return results


def run_demo(
    console: Console | None = None,
    *,
    sandbox: Sandbox | None = None,
    steps: Sequence[StoryStep] = STORY,
    handler_logs: bool = False,
    report_dir: str | Path | None = REPORT_DIRECTORY,
) -> DemoReport:
    """Run the story on `sandbox` (by default a fresh `Sandbox()`, stopped at the end) and print it,
    then write the report under `report_dir` (relative: to the current directory; None: no report),
    then the summary. `handler_logs` keeps the handlers' INFO logs and metric lines on stdout."""
    console = console or Console()
    report = DemoReport()
    began = time.monotonic()
    timelines: list[RolloutTimeline] = []
    with ExitStack() as stack:
        stack.enter_context(quiet_handler_output(not handler_logs))
        if sandbox is None:
            console.print("[dim]starting the sandbox: moto server, the stack from template.yaml …[/dim]")
            parameters = {"SageMakerExecutionRoleArn": ROLE_ARN}
            if not handler_logs:
                parameters["LogLevel"] = "WARNING"
            sandbox = stack.enter_context(Sandbox(parameters=parameters, time_scale=TIME_SCALE))
            console.print(
                f"[dim]sandbox up after {time.monotonic() - began:.1f} s "
                f"(Step Functions time compressed {TIMES}{1 / TIME_SCALE:.0f})[/dim]"
            )
        demo = Demo(sandbox, console)
        report.steps = run_story(demo, steps)
        report.notifications = list(demo.notifications)
        report.facts = dict(demo.facts)
        timelines = list(demo.timelines)
        console.print("[dim]stopping the sandbox …[/dim]")
    if report_dir is not None:
        write_demo_report(console, report, timelines, Path(report_dir), time.monotonic() - began)
    report.wall_seconds = time.monotonic() - began
    print_summary(console, report)
    return report


def write_demo_report(
    console: Console,
    report: DemoReport,
    timelines: Sequence[RolloutTimeline],
    directory: Path,
    story_seconds: float,
) -> None:
    """report.md and a PNG per rollout; their paths (or what went wrong) in `report.facts`."""
    passed = sum(step.ok for step in report.steps)
    preamble = [
        f"What `make demo` observed on the local sandbox (moto in-process, driven through AWS APIs only): "
        f"{passed}/{len(report.steps)} steps as expected, {story_seconds:.1f} s of wall time "
        "from the sandbox's start to its stop.",
        "",
        f"The endpoint's traffic and its CloudWatch metrics are simulated (**{SIMULATION_LABEL}**, "
        "`sluice_cli.sandbox.traffic`): "
        f"{TRAFFIC_RPS} invocations per simulated second split by the endpoint's live weights, "
        f"error rates v2 rollout {shown(V2_ERROR_RATES)}; v3 rollout {shown(V3_CALM_ERROR_RATES)}, "
        f"then a spike {shown(V3_ERROR_RATES)} once v3 baked at 10 %; v4 rollout "
        f"{shown(V4_ERROR_RATES)}, ModelLatency {shown_ms(V4_LATENCY_MS)} (40 ms for any other variant); "
        f"the quiet endpoint {QUIET} {QUIET_RPS} invocation per simulated second. "
        f"Step Functions time and alarm periods are compressed {TIMES}{1 / TIME_SCALE:.0f} "
        f"(a {uploads.BAKE_SECONDS} s bake lasts {uploads.BAKE_SECONDS * TIME_SCALE:g} s, "
        f"a 60 s alarm period {60 * TIME_SCALE:g} s); the times below are wall-clock seconds.",
    ]
    latency = report.facts.get("alarm_to_baseline_seconds")
    if isinstance(latency, int | float):
        preamble += [
            "",
            f"v3's error-rate alarm fired from that metric data; alarm → 100 % baseline in "
            f"**{latency:.2f} s** (the alarm's state change, from its EventBridge event, until "
            "DescribeEndpoint showed v2 at 100 %).",
        ]
    for fact in ("analysis_rollback", "analysis_hold"):
        if isinstance(report.facts.get(fact), str):
            preamble += ["", f"Canary analysis: {report.facts[fact]}."]
    try:
        files = write_report(
            timelines, directory, title="Sluice sandbox: the demo's rollouts", preamble=preamble
        )
    except Exception as error:
        console.print_exception(max_frames=4)
        report.facts["report_error"] = f"{type(error).__name__}: {error}"
        return
    report.facts["report"] = {"markdown": str(files.markdown), "plots": [str(p) for p in files.plots]}


def print_summary(console: Console, report: DemoReport) -> None:
    """One row per check, grouped by step: step, what, expected, observed, ✓/✗."""
    console.rule(Text("Summary", style="bold"), align="left")
    table = Table(show_lines=False)
    table.add_column("step", style="bold", no_wrap=True)
    table.add_column("check")
    table.add_column("expected", overflow="fold")
    table.add_column("observed", overflow="fold")
    table.add_column("", justify="center", no_wrap=True)
    for step in report.steps:
        for i, check in enumerate(step.checks):
            table.add_row(
                f"{step.name}" if i == 0 else "",
                check.what,
                check.expected,
                Text(check.observed, style="" if check.ok else "bold red"),
                Text("✓", style="bold green") if check.ok else Text("✗", style="bold red"),
                end_section=i == len(step.checks) - 1,
            )
    console.print(table)
    passed = sum(step.ok for step in report.steps)
    verdict = (
        Text("all steps as expected", style="bold green")
        if report.ok
        else Text("some steps did not go as expected", style="bold red")
    )
    console.print(
        verdict + Text(f": {passed}/{len(report.steps)} steps ✓ — wall time {report.wall_seconds:.1f} s")
    )
    transitions = report.facts.get("v2_state_transitions")
    if isinstance(transitions, Mapping) and transitions:
        console.print(
            Text("canary promotion: Step Functions ", style="bold")
            + Text(shown_transitions(transitions), style="bold")
            + Text(" (v2: 4 steps of 10/25/50/100 %)", style="dim")
        )
    latency = report.facts.get("alarm_to_baseline_seconds")
    if isinstance(latency, int | float):
        console.print(
            Text(f"canary rollback: alarm → 100 % baseline in {latency:.2f} s", style="bold")
            + Text(
                f" (alarm from {SIMULATION_LABEL} metric data → its EventBridge event → AlarmState "
                "function → SendTaskFailure → rollback, until DescribeEndpoint showed it; local emulator)",
                style="dim",
            )
        )
    for fact in ("analysis_rollback", "analysis_hold"):
        if isinstance(report.facts.get(fact), str):
            console.print(Text("canary analysis: ", style="bold") + Text(str(report.facts[fact])))
    files = report.facts.get("report")
    if isinstance(files, Mapping):
        console.print(
            Text("report: ", style="bold")
            + Text(str(files.get("markdown")), style="bold cyan")
            + Text(f" (plots: {', '.join(str(p) for p in files.get('plots', []))})")
        )
    if report.facts.get("report_error"):
        console.print(Text(f"report not written: {report.facts['report_error']}", style="bold red"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sluice_cli.sandbox.demo", description="Sluice's story on the local sandbox."
    )
    parser.add_argument(
        "--handler-logs", action="store_true", help="also show the handlers' Powertools logs and metrics"
    )
    parser.add_argument(
        "--report-dir",
        default=REPORT_DIRECTORY,
        help=f"where report.md and the rollouts' plots go (default: ./{REPORT_DIRECTORY})",
    )
    args = parser.parse_args(argv)
    report = run_demo(Console(), handler_logs=args.handler_logs, report_dir=args.report_dir)
    return 0 if report.ok and not report.facts.get("report_error") else 1
