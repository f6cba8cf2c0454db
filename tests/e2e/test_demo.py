"""The demo story end to end on the sandbox (`make demo`), in-process and as `python -m`."""

from __future__ import annotations

import io
import os
import re
import struct
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from sluice_cli.sandbox.demo import runner
from sluice_cli.sandbox.demo.canary_observation import AlarmTransition, alarm_periods, breaching_value
from sluice_cli.sandbox.demo.cast import (
    BATCH_RECORDS,
    BATCH_STATE,
    EXPECTED_NOTIFICATIONS,
    HELD_STATES,
    REGISTERED,
    REJECTED,
    ROLLOUT_STATE,
    SIMULATED_ALARM_REASON,
    TIMES,
    UNCHANGED,
    V2_STATES,
    V4_STATES,
    rolled_back_states,
)
from sluice_cli.sandbox.demo.checks import Checks, StepResult
from sluice_cli.sandbox.demo.rollout_watch import Observation, RolloutWatch, Variant, described_variants
from sluice_cli.sandbox.demo.runner import DemoReport, print_summary, run_demo, run_story
from sluice_cli.sandbox.demo.story import STORY, StoryStep

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PLOTS = (
    "rollout-demo-realtime-v2.png",
    "rollout-demo-realtime-v3.png",
    "rollout-demo-realtime-v4.png",
    "rollout-demo-quiet-v2.png",
)
# `python -m sluice_cli.sandbox.demo` as a user runs it: every canary look is a Lambda and a few Step
# Functions transitions on the emulator; on two shared cores the whole story has taken several minutes.
DEMO_TIMEOUT_SECONDS = 900


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=140, color_system=None, emoji=False), out


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == PNG_SIGNATURE, path
    assert header[12:16] == b"IHDR"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


@pytest.mark.slow
def test_the_story_runs_and_every_step_observes_what_it_expects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the report goes to ./sandbox-report
    console, out = _console()

    report = run_demo(console)

    text = out.getvalue()
    failed = [f"{s.name}: expected {s.expected} / observed {s.observed}" for s in report.steps if not s.ok]
    assert failed == [], text
    assert report.ok
    assert [s.name for s in report.steps] == [step.name for step in STORY]
    assert report.wall_seconds > 0  # measured and reported; how long it takes is a benchmark, not a test

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

    # The canary: v2 promoted step by step under healthy SIMULATED traffic, weights observed 10/25/50/100 %
    # on DescribeEndpoint, its alarms never in ALARM.
    v2 = report.step("9 canary v2").facts
    assert v2["status"] == "PROMOTED"
    assert v2["shares"] == [10.0, 25.0, 50.0, 100.0]
    assert v2["weights_set"] == [{"v2": p, "v1": 100 - p} for p in (10, 25, 50, 100)]
    assert v2["final_variants"] == [("v2", 100.0, 2)]
    assert v2["autoscaling"] == {"v2": (2, 6, 20 * 0.5 * 60)}
    assert v2["events"][:4] == ["received", "started", "candidate added", "alarms armed"]
    assert v2["events"][-1] == "promoted"
    # then deploy.json's autoscaling on v2 in place of v1's (the log names v1's policy, not carried), and
    # "kept" for the user's own v1 config and model
    assert v2["events"][v2["events"].index("promoting") :] == [
        "promoting",
        "autoscaling not carried",
        "kept",
        "promoted",
    ]
    # The demo's endpoint applies each change at once: one ReadEndpoint per change, never the poll loop.
    # Per step: NextStep, StepAction, ReadEndpoint, EndpointStatus, AfterInService, CheckAlarms, then per
    # wait Bake, Analyse, AfterAnalysis - one wait per look of the canary analysis at the analysed steps
    # (10/25/50 %: a look a minute over the 120 s bake, more if the first ones saw too little traffic),
    # a single one at 100 % (no baseline traffic: alarms alone).
    looks = v2["looks"]
    waits = {step: sum(1 for s, _ in looks if s == step) for step in (1, 2, 3)} | {4: 1}
    assert all(waits[step] >= 2 for step in (1, 2, 3)), looks
    assert v2["state_transitions"] == {
        "setup": 7,
        **{f"step {step}": 6 + 3 * waits[step] for step in (1, 2, 3, 4)},
        "end": 8,
        "total": 7 + sum(6 + 3 * w for w in waits.values()) + 8,
    }
    # v2 equals v1 (same SIMULATED latency, no errors): each analysed step ends on a pass, nothing fails.
    assert {step for step, outcome in looks if outcome == "pass"} == {1, 2, 3}
    assert "fail" not in {outcome for _, outcome in looks}
    assert v2["events"].count("analysis pass") >= 3
    assert v2["traffic"]["v2"]["invocations"] > 0
    assert v2["traffic"]["v1"]["invocations"] > 0
    assert [change for change in v2["alarm_transitions"] if change[2] == "ALARM"] == []

    # v3: an error spike on v3 (SIMULATED) while it bakes → its error alarm fires from the metric data
    # (the evaluator's reason, not a hand-set one) → back to 100 % v2, v3 gone, reason on record.
    v3 = report.step("10 canary v3 rolled back").facts
    assert v3["status"] == "ROLLED_BACK"
    assert v3["alarm"] == "sluice-demo-realtime-v3-errors"
    event = v3["alarm_event"]
    assert (event["alarm"], event["previous"], event["state"]) == (
        "sluice-demo-realtime-v3-errors",
        "OK",
        "ALARM",
    )
    evaluated = re.match(
        r"Threshold Crossed: 1 out of the last 1 datapoints \[([0-9.]+) \(\d\d/\d\d/\d\d [0-9:]+\)\] "
        r"was greater than the threshold \(0\.01\) \(minimum 1 datapoint for OK -> ALARM transition\)\.$",
        event["reason"],
    )
    assert evaluated, event["reason"]
    assert float(evaluated.group(1)) > 0.01
    assert event["reason"] in v3["reason"]
    assert SIMULATED_ALARM_REASON not in v3["reason"]
    assert v3["alarm_fired"]["alarm"] == "sluice-demo-realtime-v3-errors"
    assert event["reason"] in v3["alarm_fired"]["reason"]
    assert v3["phase_at_alarm"] == "baking"  # during a bake: step 1 (10 %) or step 2 (25 %)
    assert v3["share_at_alarm"] in (10.0, 25.0)
    assert v3["shares"] in ([10.0], [10.0, 25.0])  # never 50 %
    assert v3["spike_seconds"] is not None
    assert v3["traffic"]["v3"]["errors"] > 0
    assert v3["final_variants"] == [("v2", 100.0, 2)]
    events = v3["events"]
    assert events.index("alarm fired") < events.index("rolling back") < events.index("rolled back")
    assert not [e for e in events if e.startswith("analysis ")]  # v3's deploy.json: "analysis": null
    # The measured time from the alarm's transition (its event) to v2 at 100 % on DescribeEndpoint.
    latency = report.facts["alarm_to_baseline_seconds"]
    assert isinstance(latency, float)
    assert latency > 0
    assert v3["alarm_to_baseline_seconds"] == latency

    # v4: 25 % slower than v2, no errors - no alarm fires, its p99 alarm (500 ms) stays out of ALARM; the
    # canary analysis fails it on latency at step 1 and Sluice rolls it back.
    v4 = report.step("11 canary v4 slower").facts
    assert v4["status"] == "ROLLED_BACK"
    assert "canary analysis" in v4["reason"]
    assert "alarm fired" not in v4["events"]
    v4_events = v4["events"]
    assert v4_events.index("analysis fail") < v4_events.index("rolling back") < v4_events.index("rolled back")
    assert v4["alarm_transitions"] == [] or all(state != "ALARM" for _, _, state in v4["alarm_transitions"])
    assert v4["latency_alarm"]["threshold_ms"] == 500.0
    assert v4["latency_alarm"]["state"] != "ALARM"
    verdict = v4["verdict"]
    assert verdict["outcome"] == "fail" and verdict["step"] == 1
    assert verdict["latency"]["worse"] is True
    assert verdict["latency"]["p_value"] < verdict["latency"]["alpha"]
    assert verdict["errors"]["worse"] is False
    # v2's p90 (40 ms, 10 % jitter: ~45 ms) bounded from above, + 10 %: v4's typical 50 ms is over it.
    assert 40 < verdict["latency"]["baseline_ms"] < verdict["latency"]["threshold_ms"] < 60
    assert v4["final_variants"] == [("v2", 100.0, 2)]

    # The quiet endpoint: too little traffic to judge v2; the bake extends to max_bake_seconds (180 s),
    # then the rollout holds (PAUSED); the operator's `sluice abort` rolls it back.
    quiet = report.step("12 low traffic held").facts
    assert quiet["held_status"] == "PAUSED"
    assert quiet["held"]["reason"].startswith("not enough traffic to judge: after 180 s of step 1")
    assert quiet["held"]["step"] == 1
    assert {outcome for _, outcome in quiet["looks"]} == {"inconclusive"}
    assert max(baked for baked, _ in quiet["looks"]) == 180
    quiet_events = quiet["events"]
    for earlier, later in [
        ("bake extended", "held"),
        ("held", "abort requested"),
        ("abort requested", "rolled back"),
    ]:
        assert quiet_events.index(earlier) < quiet_events.index(later)
    assert "promoting" not in quiet_events
    assert quiet["cli_exit"] == 0
    assert quiet["status"] == "ROLLED_BACK"
    assert quiet["final_variants"] == [("v1", 100.0, 1)]
    assert quiet["traffic"].get("v2", {}).get("invocations", 0) < 200  # 10 % of 1 rps: hardly any
    assert quiet["traffic"]["v1"]["invocations"] > 0

    # The whole story's notifications, the rollouts' state changes included.
    everything = report.step("13 notifications").facts
    v3_steps = events.count("weights set")
    rollout_states = len(V2_STATES) + len(rolled_back_states(v3_steps)) + len(V4_STATES) + len(HELD_STATES)
    assert everything["counts"]["SNS"] == {**EXPECTED_NOTIFICATIONS, ROLLOUT_STATE: rollout_states}
    assert everything["counts"]["EventBridge"] == {**EXPECTED_NOTIFICATIONS, ROLLOUT_STATE: rollout_states}
    assert everything["rollout_states"]["SNS"] == {
        "STARTED": 4,
        "STEP": 4 + v3_steps + 1 + 1,
        "PROMOTED": 1,
        "PAUSED": 1,
        "ROLLING_BACK": 3,
        "ROLLED_BACK": 3,
    }
    assert everything["failure_queue"] == 0
    assert len(report.notifications) == 2 * (sum(EXPECTED_NOTIFICATIONS.values()) + rollout_states)

    assert "Summary" in text
    assert f"{len(STORY)}/{len(STORY)} steps ✓" in text
    assert "wall time" in text
    assert "✗" not in text
    assert f"({BATCH_RECORDS} lines)" in text
    assert f"time compressed {TIMES}100" in text
    # The live weights display: one line per observed change.
    assert re.search(r"v2 10 % \(1 instance\) · v1 90 % \(2 instances\) +— step 1/4: baking 120 s", text)
    assert "SIMULATED traffic on endpoint demo-realtime: 20 rps" in text
    assert "SIMULATED traffic: error spike on v3" in text
    assert "CloudWatch Alarm State Change sluice-demo-realtime-v3-errors OK → ALARM" in text
    assert f"alarm → 100 % baseline in {latency:.2f} s" in text
    # The narration says what the analysis decided and why, with the verdict's numbers (lines may wrap).
    flat = " ".join(text.split())
    assert "analysis pass step 1, look 1," in flat
    assert re.search(r"analysis fail step 1, look \d+, \d+ s into the bake: errors candidate 0/\d+", flat)
    assert "why v4 was rolled back: the canary analysis" in flat
    assert f"{verdict['latency']['candidate_slower']} of the candidate's" in flat
    assert "held: not enough traffic to judge" in flat
    assert "$ sluice abort demo-quiet" in flat

    # The report: report.md with each rollout's decision log, and a PNG per rollout.
    assert "report: sandbox-report/report.md" in text
    directory = tmp_path / "sandbox-report"
    assert report.facts["report"] == {
        "markdown": "sandbox-report/report.md",
        "plots": [f"sandbox-report/{name}" for name in PLOTS],
    }
    for name in PLOTS:
        assert _png_size(directory / name) == (1200, 700)
    markdown = (directory / "report.md").read_text(encoding="utf-8")
    assert "## demo-realtime v2: PROMOTED" in markdown
    assert "## demo-realtime v3: ROLLED_BACK" in markdown
    assert markdown.count("| # | time (UTC) | s since upload | event | reason |") == len(PLOTS)
    assert "## demo-realtime v4: ROLLED_BACK" in markdown
    assert "## demo-quiet v2: ROLLED_BACK" in markdown
    assert markdown.count("### Canary analysis (") == 3  # v2, v4, the quiet v2; none for v3 (off)
    assert "| **fail** | latency p=" in markdown
    for name in PLOTS:
        assert f"]({name})" in markdown
    assert "SIMULATED traffic" in markdown
    assert f"| alarm → 100 % baseline | {latency:.2f} s |" in markdown
    assert event["reason"] in markdown


@pytest.mark.slow
def test_python_m_demo_exits_0_and_prints_the_summary(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env["COLUMNS"] = "140"
    completed = subprocess.run(
        [sys.executable, "-m", "sluice_cli.sandbox.demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_SECONDS,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Summary" in completed.stdout
    assert f"all steps as expected: {len(STORY)}/{len(STORY)} steps ✓" in completed.stdout
    assert "wall time" in completed.stdout
    assert '"_aws"' not in completed.stdout  # the handlers' metric lines stay out of the story
    assert "canary rollback: alarm → 100 % baseline in" in completed.stdout
    assert "report: sandbox-report/report.md" in completed.stdout
    assert (tmp_path / "sandbox-report" / "report.md").is_file()
    assert sorted(p.name for p in (tmp_path / "sandbox-report").glob("*.png")) == sorted(PLOTS)
    # moto's interpreter logs an ERROR line when the rollback reaches its Fail state: kept out too.
    assert "Exception=FailureEventException" not in completed.stdout + completed.stderr


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
    monkeypatch.setattr(runner, "run_demo", lambda *a, **k: passed)
    assert runner.main([]) == 0
    monkeypatch.setattr(runner, "run_demo", lambda *a, **k: failed)
    assert runner.main([]) == 1


def _observation(variants: tuple[Variant, ...], status: str = "BAKING") -> Observation:
    return Observation(0.0, 0.0, "InService", variants, {"status": status})


def test_the_watch_reports_each_share_once_in_order_and_zero_not_at_all() -> None:
    watch = RolloutWatch(SimpleNamespace(), "ep", "v2")  # type: ignore[arg-type]
    v1 = Variant("v1", 100.0, 2)
    watch.changes = [
        _observation((v1,), "STARTING"),
        _observation((Variant("v2", 0.0, 1), v1), "UPDATING"),
        _observation((Variant("v2", 10.0, 1), Variant("v1", 90.0, 2)), "SHIFTING"),
        _observation((Variant("v2", 10.0, 1), Variant("v1", 90.0, 2))),
        _observation((Variant("v2", 25.0, 1), Variant("v1", 75.0, 2))),
        _observation((Variant("v2", 0.0, 1), Variant("v1", 100.0, 2)), "ROLLING_BACK"),
    ]

    assert watch.shares() == [10.0, 25.0]
    assert str(Variant("v2", 10.0, 1)) == "v2 10 % (1 instance)"
    assert str(Variant("v1", 100.0 / 3, 2)) == "v1 33.3 % (2 instances)"
    assert watch.changes[-1].percent("v1") == 100.0
    assert watch.changes[-1].percent("v3") is None


def test_the_weights_become_shares_of_the_traffic_candidate_first() -> None:
    described = {
        "ProductionVariants": [
            {"VariantName": "v1", "CurrentWeight": 90.0, "CurrentInstanceCount": 2},
            {"VariantName": "v2", "CurrentWeight": 10.0, "CurrentInstanceCount": 1},
        ]
    }
    assert described_variants(described, "v2") == (Variant("v2", 10.0, 1), Variant("v1", 90.0, 2))
    alone = {"ProductionVariants": [{"VariantName": "v2", "CurrentWeight": 1.0, "CurrentInstanceCount": 2}]}
    assert described_variants(alone, "v2") == (Variant("v2", 100.0, 2),)


def test_the_closing_note_gives_the_alarm_to_baseline_time() -> None:
    console, out = _console()
    report = DemoReport(
        steps=[StepResult("x", "e", "e", ok=True)],
        wall_seconds=1.0,
        facts={"alarm_to_baseline_seconds": 0.4321, "v2_state_transitions": {"setup": 8, "total": 8}},
    )

    print_summary(console, report)

    text = out.getvalue()
    assert "canary rollback: alarm → 100 % baseline in 0.43 s" in text
    assert "state transitions: setup 8 · total 8" in text


def test_the_summary_names_the_report_and_a_report_failure_fails_main(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    console, out = _console()
    files = {"markdown": "sandbox-report/report.md", "plots": ["sandbox-report/rollout-ep-v2.png"]}
    print_summary(console, DemoReport(steps=[StepResult("x", "e", "e", ok=True)], facts={"report": files}))
    assert "report: sandbox-report/report.md (plots: sandbox-report/rollout-ep-v2.png)" in out.getvalue()

    broken = DemoReport(steps=[StepResult("x", "e", "e", ok=True)], facts={"report_error": "OSError: full"})
    monkeypatch.setattr(runner, "run_demo", lambda *a, **k: broken)
    assert runner.main([]) == 1


def test_only_an_evaluated_reason_names_a_breaching_datapoint() -> None:
    evaluated = (
        "Threshold Crossed: 1 out of the last 1 datapoints [0.083333 (25/11/26 23:06:40)] was greater than "
        "the threshold (0.01) (minimum 1 datapoint for OK -> ALARM transition)."
    )
    assert breaching_value(evaluated) == 0.083333
    assert breaching_value(SIMULATED_ALARM_REASON) is None  # what a hand-set alarm would say


def test_alarm_periods_run_from_alarm_to_ok_or_to_the_end_of_the_rollout() -> None:
    def at(seconds: float) -> datetime:
        return datetime.fromtimestamp(1000.0 + seconds, UTC)

    transitions = [
        AlarmTransition("a-errors", "ALARM", "OK", "Threshold Crossed: …", at(2.0)),
        AlarmTransition("a-errors", "OK", "ALARM", "Threshold Crossed: …", at(3.5)),
        AlarmTransition("a-latency", "ALARM", "OK", "Threshold Crossed: …", at(4.0)),
    ]

    periods = alarm_periods(transitions, began_at=1000.0, ended=5.0)

    assert [(p.alarm, p.start, p.end, p.ended_by) for p in periods] == [
        ("a-errors", 2.0, 3.5, "OK"),
        ("a-latency", 4.0, 5.0, "rolled back"),
    ]
