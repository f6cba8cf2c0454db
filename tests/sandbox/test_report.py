"""The demo's report from a small synthetic rollout (no sandbox): report.md, and a PNG per rollout."""

from __future__ import annotations

import datetime as dt
import struct
from pathlib import Path

import pytest

from sluice_cli.sandbox.report import (
    AlarmPeriod,
    ErrorRateBucket,
    RolloutTimeline,
    WeightSample,
    marker_rows,
    short_label,
    write_report,
)

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
