"""The demo's report from a small synthetic rollout (no sandbox): report.md, and a PNG per rollout."""

from __future__ import annotations

import datetime as dt
import json
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sandbox_canary import ROLE, Canary, make_endpoint

from sluice_cli.sandbox.demo.canary_observation import (
    AlarmTransition,
    alarm_periods,
    judged_alarm_datapoints,
    next_simulated_second,
)
from sluice_cli.sandbox.report import (
    AlarmDatapoint,
    AlarmPeriod,
    ErrorRateBucket,
    RolloutTimeline,
    WeightSample,
    error_panel,
    marker_rows,
    short_label,
    write_report,
)
from sluice_cli.sandbox.report_analysis import analysis_looks, analysis_rows, decisive_test
from sluice_cli.sandbox.server import Sandbox
from sluice_cli.sandbox.traffic import TrafficSimulator

UPLOADED = dt.datetime(2026, 11, 25, 12, 0, 0, tzinfo=dt.UTC)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _at(seconds: float) -> str:
    return (UPLOADED + dt.timedelta(seconds=seconds)).isoformat()


def _rolled_back() -> RolloutTimeline:
    """v3 at 10 % then 25 %; its error alarm fires during step 2 and v2 is back at 100 %."""
    log = [
        {"at": _at(0.05), "event": "received", "reason": "endpoints/ep/v3/model.tar.gz"},
        {"at": _at(0.12), "event": "started", "reason": "4 steps"},
        {"at": _at(0.40), "event": "candidate added", "reason": "UpdateEndpoint | config ep-v3"},
        {"at": _at(0.45), "event": "alarms armed", "reason": "sluice-ep-v3-errors"},
        {"at": _at(0.70), "event": "weights set", "reason": "step 1", "weights": {"v3": 10, "v2": 90}},
        {"at": _at(0.75), "event": "baking", "reason": "300 s"},
        {"at": _at(3.80), "event": "bake passed", "reason": "no alarm"},
        {"at": _at(3.85), "event": "weights set", "reason": "step 2", "weights": {"v3": 25, "v2": 75}},
        {"at": _at(3.90), "event": "baking", "reason": "300 s"},
        {
            "at": _at(4.60),
            "event": "alarm fired",
            "reason": "Threshold Crossed: 1 out of the last 1 datapoints [0.083]",
            "alarm": "sluice-ep-v3-errors",
        },
        {"at": _at(4.65), "event": "rolling back", "reason": "alarm", "weights": {"v3": 0, "v2": 100}},
        {"at": _at(5.10), "event": "rolled back", "reason": "v2 serves 100 %", "weights": {"v2": 100}},
    ]
    samples = [
        WeightSample(0.0, {"v2": 100.0}),
        WeightSample(0.42, {"v3": 0.0, "v2": 100.0}),
        WeightSample(0.72, {"v3": 10.0, "v2": 90.0}),
        WeightSample(3.87, {"v3": 25.0, "v2": 75.0}),
        WeightSample(4.70, {"v3": 0.0, "v2": 100.0}),
        WeightSample(5.00, {"v2": 100.0}),
    ]
    errors = {
        "v2": [ErrorRateBucket(s - 0.3, 1.0, 1800, 2) for s in range(6)],
        "v3": [ErrorRateBucket(0.7, 1.0, 150, 9), ErrorRateBucket(1.7, 1.0, 200, 17)],
    }
    return RolloutTimeline(
        endpoint="ep",
        version="v3",
        uploaded_at=UPLOADED,
        status="ROLLED_BACK",
        reason="alarm sluice-ep-v3-errors: Threshold Crossed",
        rollout_id="r-3",
        decisions=log,
        samples=samples,
        alarms=[AlarmPeriod("sluice-ep-v3-errors", 4.55, 5.10, "Threshold Crossed", "rolled back")],
        error_rates=errors,
        error_threshold=0.01,
        timings={"alarm → 100 % baseline": 0.15},
        traffic="SIMULATED traffic on endpoint ep: 20 rps",
        time_scale=0.01,
    )


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == PNG_SIGNATURE
    assert header[12:16] == b"IHDR"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_a_report_has_the_markdown_with_the_decision_table_and_a_png_per_rollout(tmp_path: Path) -> None:
    promoted = _rolled_back()
    promoted.version, promoted.status, promoted.alarms = "v4", "PROMOTED", []
    files = write_report([_rolled_back(), promoted], tmp_path / "sandbox-report", preamble=["a story"])

    assert files.markdown == tmp_path / "sandbox-report" / "report.md"
    assert [p.name for p in files.plots] == ["rollout-ep-v3.png", "rollout-ep-v4.png"]
    for plot in files.plots:
        assert plot.is_file()
        assert _png_size(plot) == (1200, 700)
    text = files.markdown.read_text(encoding="utf-8")
    assert "a story" in text
    assert "## ep v3: ROLLED_BACK" in text
    assert "![ep v3: weights and decisions over time](rollout-ep-v3.png)" in text
    assert "| # | time (UTC) | s since upload | event | reason |" in text
    fired = "| 10 | 12:00:04.600 | 4.60 | alarm fired | Threshold Crossed: 1 out of the last 1 datapoints"
    assert fired in text
    assert "UpdateEndpoint \\| config ep-v3" in text  # a pipe in a reason does not break the table
    assert "| alarm sluice-ep-v3-errors in ALARM | 4.55 s → 5.10 s (rolled back) |" in text
    assert "| alarm → 100 % baseline | 0.15 s |" in text
    assert "| upload → end of the rollout | 5.10 s |" in text
    assert "(weights v3 25 % · v2 75 %)" in text


def test_a_timeline_without_metrics_or_samples_still_renders(tmp_path: Path) -> None:
    bare = RolloutTimeline(endpoint="ep", version="v2", uploaded_at=UPLOADED, status="REFUSED")

    files = write_report([bare], tmp_path)

    assert _png_size(files.plots[0]) == (1200, 700)
    assert "### Decision log (0 entries)" in files.markdown.read_text(encoding="utf-8")


def test_the_error_panel_crossings_are_where_the_alarm_series_goes_over_its_threshold(tmp_path: Path) -> None:
    timeline = _rolled_back()
    timeline.alarm_datapoints = [
        AlarmDatapoint(3.6, 0.6, 0.0, False),
        AlarmDatapoint(3.0, 0.6, 0.0, False),
        AlarmDatapoint(4.2, 0.6, 0.05, True, judged_at=5.3),
        AlarmDatapoint(4.8, 0.6, 0.09, True),
        AlarmDatapoint(5.4, 0.6, None, False),
        AlarmDatapoint(6.0, 0.6, 0.02, True),
    ]

    panel = error_panel(timeline)

    assert [p.start for p in panel.periods] == [3.0, 3.6, 4.2, 4.8, 5.4, 6.0]  # in time order
    assert panel.periods[2].percent == pytest.approx(5.0) and panel.periods[4].percent is None
    assert panel.crossings == (4.2, 6.0)  # over the line after a calm or missing period
    assert panel.threshold_percent == pytest.approx(1.0)
    assert panel.background["v3"][0] == pytest.approx((0.7, 1.7, 6.0))  # the raw rate, behind
    assert _png_size(write_report([timeline], tmp_path).plots[0]) == (1200, 700)


def test_markers_of_one_row_keep_their_distance() -> None:
    rows = marker_rows([0.0, 0.1, 0.2, 0.3, 1.0, 1.05], min_gap=0.25, rows=3)

    assert rows == [0, 1, 2, 0, 0, 1]


@pytest.mark.parametrize(
    ("entry", "label"),
    [
        ({"event": "weights set", "weights": {"v2": 90, "v3": 10}}, "weights: v3 10 % · v2 90 %"),
        (
            {"event": "alarm fired", "alarm": "sluice-demo-realtime-v3-errors"},
            "alarm fired: v3-errors",
        ),
        ({"event": "alarm fired", "alarm": "a-very-long-alarm-name-of-someone-elses"}, None),
        ({"event": "baking"}, "baking"),
    ],
)
def test_short_labels(entry: dict[str, object], label: str | None) -> None:
    shown = short_label(entry, "v3")
    assert len(shown) <= 36
    if label is not None:
        assert shown == label
    else:
        assert shown.startswith("alarm fired: …") and shown.endswith("-elses")


# --------------------------------------------------------------------------------------------------
# The canary analysis: its looks from the decision log, on the plot and in report.md
# --------------------------------------------------------------------------------------------------
def _look(seconds: float, start: float, step: int, outcome: str, **tests: Any) -> dict[str, Any]:
    """A decision log entry "analysis <outcome>" as actions_analyse writes it (verdict_record + step)."""
    record: dict[str, Any] = {
        "outcome": outcome,
        "look": 1,
        "reason": "not enough traffic to judge: invocations candidate 120 < 200"
        if outcome == "inconclusive"
        else f"{outcome}: …",
        "window": {"start": _at(start), "end": _at(seconds)},
        "variants": {"baseline": "v2", "candidate": "v4"},
        "step": step,
        "baked_seconds": 60,
        **tests,
    }
    return {"at": _at(seconds + 0.02), "event": f"analysis {outcome}", "reason": "…", "analysis": record}


ERRORS_PASS = {
    "baseline": {"invocations": 2160, "errors": 2, "error_rate": 0.000926},
    "candidate": {"invocations": 240, "errors": 0, "error_rate": 0.0},
    "p_value": 0.93,
    "alpha": 0.0125,
    "worse": False,
}
LATENCY_FAIL = {
    "percentile": 90.0,
    "baseline_rank": "p90.85",
    "baseline_ms": 45.2,
    "threshold_ms": 49.72,
    "candidate_samples": 240,
    "candidate_slower": 131,
    "allowed_share": 0.1,
    "p_value": 3.1e-62,
    "alpha": 0.00625,
    "worse": True,
}


def _analysed() -> RolloutTimeline:
    """v4 at 10 %: look 1 inconclusive (too little traffic), look 2 fails on latency; rolled back."""
    log = [
        {"at": _at(0.05), "event": "received", "reason": "endpoints/ep/v4/model.tar.gz"},
        {"at": _at(0.70), "event": "weights set", "reason": "step 1", "weights": {"v4": 10, "v2": 90}},
        {"at": _at(0.75), "event": "baking", "reason": "120 s"},
        _look(1.40, 0.75, 1, "inconclusive"),
        _look(2.05, 0.75, 1, "fail", errors=ERRORS_PASS, latency=LATENCY_FAIL),
        {"at": _at(2.20), "event": "rolling back", "reason": "canary analysis", "weights": {"v2": 100}},
        {"at": _at(2.90), "event": "rolled back", "reason": "v2 serves 100 %", "weights": {"v2": 100}},
    ]
    return RolloutTimeline(
        endpoint="ep",
        version="v4",
        uploaded_at=UPLOADED,
        status="ROLLED_BACK",
        reason="step 1: the canary analysis found the candidate worse than the baseline",
        decisions=log,
        samples=[WeightSample(0.0, {"v2": 100.0}), WeightSample(0.72, {"v4": 10.0, "v2": 90.0})],
        time_scale=0.01,
    )


def test_the_looks_come_from_the_decision_log_entries_that_carry_an_analysis() -> None:
    looks = analysis_looks(_analysed())

    assert [(look.decision, look.step, look.outcome) for look in looks] == [
        (4, 1, "inconclusive"),
        (5, 1, "fail"),
    ]
    assert [(look.start, look.end) for look in looks] == [
        pytest.approx((0.75, 1.40)),
        pytest.approx((0.75, 2.05)),
    ]  # the window each look judged: from the step's bake start to the look
    assert looks[0].decisive == "n: candidate 120 < 200"
    assert looks[1].decisive == "latency p=3.1e-62 < \u03b1 0.0063"  # the failing test, not the errors'


def test_each_step_stacks_its_looks_from_the_top_row() -> None:
    timeline = _analysed()
    second_step = [_look(3.0 + i, 2.9, 2, "pass", errors=ERRORS_PASS) for i in range(4)]
    timeline.decisions = [*timeline.decisions, *second_step]

    assert analysis_rows(analysis_looks(timeline), rows=3) == [0, 1, 0, 1, 2, 0]


def test_a_pass_names_the_test_closest_to_failing() -> None:
    latency_pass = {**LATENCY_FAIL, "candidate_slower": 28, "p_value": 0.3, "worse": False}
    record = {"outcome": "pass", "errors": ERRORS_PASS, "latency": latency_pass}

    assert decisive_test(record) == "latency p=0.3 \u2265 \u03b1 0.0063"  # 0.3/0.00625 < 0.93/0.0125
    record["latency"] = {**latency_pass, "p_value": 0.9}
    assert decisive_test(record) == "errors p=0.93 \u2265 \u03b1 0.013"
    assert decisive_test({"outcome": "inconclusive", "reason": "no data"}) == "n: no data"


def test_the_report_shows_the_analysis_windows_verdicts_and_numbers(tmp_path: Path) -> None:
    files = write_report([_analysed()], tmp_path)

    assert _png_size(files.plots[0]) == (1200, 700)
    text = files.markdown.read_text(encoding="utf-8")
    assert "### Canary analysis (2 looks)" in text
    assert "| # | step | window (s since upload) | verdict | decisive | errors | latency |" in text
    assert "| 4 | 1 | 0.75 → 1.40 | **inconclusive** | n: candidate 120 < 200 | — | — |" in text
    failed = next(line for line in text.splitlines() if line.startswith("| 5 | 1 |"))
    assert "**fail**" in failed
    assert "candidate 0/240 (0.00 %) vs baseline 2/2160 (0.09 %); p 0.93" in failed
    assert "baseline p90 ≤ 45.2 ms (p90.85) → threshold 49.72 ms; candidate 131/240 slower" in failed
    assert short_label(_analysed().decisions[4], "v4") == "fail: latency p=3.1e-62"
    assert short_label(_analysed().decisions[3], "v4") == "inconclusive: low traffic"


def test_a_rollout_without_analysis_has_no_analysis_section(tmp_path: Path) -> None:
    assert analysis_looks(_rolled_back()) == []
    text = write_report([_rolled_back()], tmp_path).markdown.read_text(encoding="utf-8")
    assert "Canary analysis" not in text


# --------------------------------------------------------------------------------------------------
# On the sandbox: the error-rate panel plots what the alarm judged
# --------------------------------------------------------------------------------------------------
TIME_SCALE = 0.01
ALARM_EVENT = "CloudWatch Alarm State Change"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(
        time_scale=TIME_SCALE,
        transform_delay_seconds=0.2,
        alarm_evaluation_interval=0.1,
        parameters={"SageMakerExecutionRoleArn": ROLE},
    ) as running:
        yield running


def _alarm_inbox(sandbox: Sandbox, endpoint: str) -> str:
    """The user's EventBridge rule: the endpoint's alarm state changes → an SQS queue."""
    sqs, events = sandbox.client("sqs"), sandbox.client("events")
    url = sqs.create_queue(QueueName=f"{endpoint}-alarms")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {
        "source": ["aws.cloudwatch"],
        "detail-type": [ALARM_EVENT],
        "detail": {"alarmName": [{"prefix": f"sluice-{endpoint}-"}]},
    }
    events.put_rule(Name=f"{endpoint}-alarms", EventPattern=json.dumps(pattern), State="ENABLED")
    events.put_targets(Rule=f"{endpoint}-alarms", Targets=[{"Id": "inbox", "Arn": arn}])
    return str(url)


def _alarm_events(sandbox: Sandbox, url: str) -> list[dict[str, Any]]:
    sqs, found = sandbox.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        found += [json.loads(m["Body"]) for m in messages]
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def _epoch(text: str) -> float:
    """An alarm event's timestamp (`2026-11-25T12:00:00.600+0000`) as epoch seconds."""
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def test_the_error_panel_plots_the_alarms_own_periods_and_each_crossing_is_an_alarm_transition(
    sandbox: Sandbox,
) -> None:
    """A canary at 10 % under healthy SIMULATED traffic, then an error spike on it: the panel's datapoints
    sit on the alarm's period boundaries, none breaches before the spike, and the period where the series
    crosses the threshold is the one the ALARM transition's StateReasonData names."""
    canary, endpoint = Canary(sandbox), make_endpoint(sandbox, "report")
    inbox = _alarm_inbox(sandbox, endpoint)
    alarm = f"sluice-{endpoint}-v2-errors"
    began = time.time()
    traffic = TrafficSimulator.in_sandbox(sandbox, endpoint, rps=20, error_rates={"*": 0.0}, seed=21)
    with traffic:
        # The alarm's panel is under test: without the canary analysis, which would find the spike and roll
        # back at its next look, before the alarm's period ends.
        canary.start(endpoint, "v2", {"steps": [10, 100], "bake_seconds": 1200, "analysis": None})
        deadline = time.monotonic() + 60
        while len([p for p in judged_alarm_datapoints(sandbox, alarm, began) if p.value is not None]) < 3:
            assert time.monotonic() < deadline, "the error alarm was never judged on data"
            time.sleep(0.05)
        spike = next_simulated_second(traffic) - began
        traffic.set(error_rates={"v2": 0.3})
        final = canary.finish(endpoint, "v2")
    assert final["status"] == "ROLLED_BACK"
    details = [e["detail"] for e in _alarm_events(sandbox, inbox) if e["detail"]["alarmName"] == alarm]
    transitions = [
        AlarmTransition(
            alarm,
            d["state"]["value"],
            d["previousState"]["value"],
            d["state"]["reason"],
            dt.datetime.fromtimestamp(_epoch(d["state"]["timestamp"]), dt.UTC),
        )
        for d in details
    ]
    timeline = RolloutTimeline(
        endpoint=endpoint,
        version="v2",
        uploaded_at=dt.datetime.fromtimestamp(began, dt.UTC),
        status=final["status"],
        alarms=alarm_periods(transitions, began, None),
        alarm_datapoints=judged_alarm_datapoints(sandbox, alarm, began),
        error_threshold=0.01,
        time_scale=TIME_SCALE,
    )

    panel = error_panel(timeline)

    wall = 60 * TIME_SCALE
    assert len(panel.periods) >= 4
    for period in panel.periods:
        assert period.end - period.start == pytest.approx(wall)
        boundary = (began + period.start) / wall
        assert boundary == pytest.approx(round(boundary), abs=1e-6)  # on the alarm's period boundaries
    assert not [p for p in panel.periods if p.breaching and p.end <= spike]  # none before the spike
    assert [p for p in panel.periods if p.percent is not None and not p.breaching]  # calm ones were plotted
    # Each crossing of the threshold in the plot is an ALARM transition, whose StateReasonData names that
    # very period (its newest evaluated datapoint) over the threshold; and each ALARM transition names a
    # period the plot shows over it. (Values are not compared: on a loaded machine the sandbox may judge
    # a period again as its last data arrives, and the plot keeps the last judgment.)
    alarm_events = [
        (_epoch(judged["timestamp"]) - began, judged["value"], _epoch(detail["state"]["timestamp"]) - began)
        for detail in details
        if detail["state"]["value"] == "ALARM"
        for judged in json.loads(detail["state"]["reasonData"])["evaluatedDatapoints"][:1]
    ]  # (the period it names, its value, when), all in seconds since the upload
    assert panel.crossings
    for crossing in panel.crossings:
        period = next(p for p in panel.periods if p.start == crossing)
        naming = [(value, at) for start, value, at in alarm_events if abs(start - crossing) < 0.002]
        assert naming and all(value > 0.01 and at >= period.end - 0.002 for value, at in naming)
        assert period.judged_at is not None  # judged once it was over, then the transition was made
        assert period.end - 0.002 <= period.judged_at <= max(at for _, at in naming) + 0.002
    for start, _, _ in alarm_events:
        assert next(p for p in panel.periods if abs(p.start - start) < 0.002).breaching
    first = next(p for p in panel.periods if p.start == panel.crossings[0])
    assert timeline.alarms[0].start >= first.end - 0.002  # the shaded ALARM period starts after it
