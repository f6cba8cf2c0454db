"""The demo story end to end on the sandbox (`make demo`), in-process and as `python -m`."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from sluice_cli.sandbox import demo
from sluice_cli.sandbox.demo import (
    BATCH_RECORDS,
    BATCH_STATE,
    EXPECTED_NOTIFICATIONS,
    REGISTERED,
    REJECTED,
    STORY,
    UNCHANGED,
    Checks,
    DemoReport,
    StepResult,
    StoryStep,
    print_summary,
    run_demo,
    run_story,
)

ROOT = Path(__file__).resolve().parents[2]


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=140, color_system=None, emoji=False), out


@pytest.mark.slow
def test_the_story_runs_and_every_step_observes_what_it_expects() -> None:
    console, out = _console()

    report = run_demo(console)

    text = out.getvalue()
    failed = [f"{s.name}: expected {s.expected} / observed {s.observed}" for s in report.steps if not s.ok]
    assert failed == [], text
    assert report.ok
    assert [s.name for s in report.steps] == [step.name for step in STORY]
    assert report.wall_seconds < 60

    # v1, then an identical re-upload that changes nothing, then v2 as the latest version.
    register_v1 = report.step("2 register v1").facts
    assert register_v1["intake_status"] == "PUBLISHED"
    assert register_v1["latest"]["version"] == 1
    assert register_v1["latest"]["target_model"] == "churn/v1.tar.gz"
    assert register_v1["tags"] == {"sluice:status": "published"}
    same_bytes = report.step("3 same bytes").facts
    assert (same_bytes["intake_status"], same_bytes["intake_version"]) == ("UNCHANGED", 1)
    assert same_bytes["published"] == ["serving/demo-mme/churn/v1.tar.gz"]
    register_v2 = report.step("4 register v2").facts
    assert register_v2["intake_status"] == "PUBLISHED"
    assert register_v2["latest"]["version"] == 2
    assert register_v2["latest"]["target_model"] == "churn/v2.tar.gz"
    assert register_v2["published"] == ["v1.tar.gz", "v2.tar.gz"]
    warm_up = report.step("5 warm-up").facts
    assert warm_up["warmup"]["ok"] is True
    assert warm_up["status"] == "PUBLISHED"

    # The hostile archive: rejected with a reason naming the member and the `..` rule.
    hostile = report.step("6 hostile").facts
    assert hostile["intake_status"] == "REJECTED"
    assert "../../etc/passwd" in hostile["reason"]
    assert "'..'" in hostile["reason"]

    # The batch job: started by Sluice, Completed, its output written and its duration recorded.
    batch = report.step("7 batch").facts
    assert batch["job_name"].startswith("sluice-demo-batch-model-")
    assert batch["running_status"] in {"STARTED", "InProgress"}
    assert batch["job"]["status"] == "Completed"
    assert batch["job"]["duration_seconds"] >= 0
    assert batch["job"]["output_uri"].endswith(f"/batch/demo-batch-model/output/{batch['job_name']}/")
    assert batch["outputs"] == ["records.csv.out"]
    assert batch["statuses"] == ["STARTED", "InProgress", "Completed"]

    # Every outcome reached both subscribers, counted by detail type; nothing failed for good.
    notifications = report.step("8 notifications").facts
    assert notifications["counts"]["SNS"] == EXPECTED_NOTIFICATIONS
    assert notifications["counts"]["EventBridge"] == EXPECTED_NOTIFICATIONS
    assert EXPECTED_NOTIFICATIONS == {REGISTERED: 2, UNCHANGED: 1, REJECTED: 1, BATCH_STATE: 3}
    assert notifications["failure_queue"] == 0
    assert len(report.notifications) == 2 * sum(EXPECTED_NOTIFICATIONS.values())

    assert "Summary" in text
    assert f"{len(STORY)}/{len(STORY)} steps ✓" in text
    assert "wall time" in text
    assert "✗" not in text
    assert f"({BATCH_RECORDS} lines)" in text


@pytest.mark.slow
def test_python_m_demo_exits_0_and_prints_the_summary() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env["COLUMNS"] = "140"
    completed = subprocess.run(
        [sys.executable, "-m", "sluice_cli.sandbox.demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Summary" in completed.stdout
    assert f"all steps as expected: {len(STORY)}/{len(STORY)} steps ✓" in completed.stdout
    assert "wall time" in completed.stdout
    assert '"_aws"' not in completed.stdout  # the handlers' metric lines stay out of the story


# -- the runner's own behaviour, without a sandbox -------------------------------------------------------
def _failing(demo_: Any, checks: Checks) -> None:
    checks.equal("answer", 41, 42)


def _raising(demo_: Any, checks: Checks) -> None:
    raise RuntimeError("the emulator fell over")


def _passing(demo_: Any, checks: Checks) -> None:
    checks.equal("answer", 42, 42)
    checks.facts["answer"] = 42


def test_a_failed_check_or_an_exception_fails_its_step_and_the_story_goes_on() -> None:
    console, out = _console()
    steps = [
        StoryStep("a", "Step a", _failing),
        StoryStep("b", "Step b", _raising),
        StoryStep("c", "Step c", _passing),
    ]

    results = run_story(SimpleNamespace(console=console), steps)  # type: ignore[arg-type]

    assert [(r.name, r.ok) for r in results] == [("a", False), ("b", False), ("c", True)]
    assert results[0].expected == "answer: 42"
    assert results[0].observed == "answer: 41"
    assert "RuntimeError: the emulator fell over" in results[1].observed
    assert results[2].facts == {"answer": 42}
    report = DemoReport(steps=results, wall_seconds=1.0)
    assert not report.ok
    print_summary(console, report)
    text = out.getvalue()
    assert "✗ answer: expected 42, observed 41" in text
    assert "some steps did not go as expected: 1/3 steps" in text


def test_a_step_without_checks_is_not_a_pass() -> None:
    assert not Checks().result("empty").ok
    assert not DemoReport().ok


def test_main_exit_code_follows_the_report(monkeypatch: pytest.MonkeyPatch) -> None:
    passed = DemoReport(steps=[StepResult("x", "e", "e", ok=True)])
    failed = DemoReport(steps=[StepResult("x", "e", "o", ok=False)])
    monkeypatch.setattr(demo, "run_demo", lambda *a, **k: passed)
    assert demo.main([]) == 0
    monkeypatch.setattr(demo, "run_demo", lambda *a, **k: failed)
    assert demo.main([]) == 1
