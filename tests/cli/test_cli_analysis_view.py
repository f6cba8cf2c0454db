"""How status and history word a look of the canary analysis whatever the record holds: a look without a
latency bound, one without enough traffic, values DynamoDB dropped (a None is not stored). The records
come from the product's own `verdict_record`, as the Analyse state writes them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sluice.domain.analysis.look import Window, verdict_record
from sluice.domain.analysis.verdict import Criteria, LatencyReading, VariantCounts, judge
from sluice_cli.commands.analysis_view import analysis_fields, analysis_line
from sluice_cli.commands.history import decision_cells, decision_row
from sluice_cli.commands.status_view import rollout_fields, rollout_view

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
WINDOW = Window("ep", "v1", "v2", START, START.replace(minute=3))
CRITERIA = Criteria(min_invocations=200)


def _record(
    baseline: VariantCounts, candidate: VariantCounts, reading: LatencyReading | None
) -> dict[str, Any]:
    verdict = judge(CRITERIA, 2, baseline, candidate, reading)
    return {**verdict_record(verdict, WINDOW, CRITERIA), "step": 1, "baked_seconds": 180}


def test_a_passing_look_reads_as_its_figures() -> None:
    reading = LatencyReading(
        rank=0.9087, baseline_ms=84.0, threshold_ms=92.4, candidate_samples=400, candidate_slower=36
    )
    record = _record(VariantCounts(1600, 8, 1600), VariantCounts(400, 2, 400), reading)
    assert record["outcome"] == "pass"

    fields = dict(analysis_fields(record))
    assert fields["analysis"].startswith(
        "PASS at step 1, look 2 (180 s into the bake; 95 % confidence, alpha "
    )
    assert fields["  errors"].startswith(
        "baseline v1 0.50 % (8/1600), candidate v2 0.50 % (2/400), tolerance +0.1 points: p "
    )
    assert fields["  latency"].startswith(
        "candidate v2 9.00 % (36/400) slower than 92.4 ms (baseline v1 p90.87 84 ms + 10 %), at most "
        "10 % allowed: p "
    )
    assert fields["  errors"].endswith(", not worse") and fields["  latency"].endswith(", not worse")
    assert fields["  window"] == "2026-01-01 12:00:00Z → 2026-01-01 12:03:00Z"
    assert "  reason" not in fields  # the figures say it all

    line = analysis_line(record)
    assert line.startswith("step 1, look 2, 180 s into the bake: errors baseline v1 0.50 % (8/1600), ")
    assert "; latency candidate v2 9.00 % (36/400) slower than 92.4 ms " in line


def test_a_look_without_enough_traffic_says_so_and_history_dumps_no_record() -> None:
    record = _record(VariantCounts(12, 0, 12), VariantCounts(3, 0, 3), None)
    assert record["outcome"] == "inconclusive" and "errors" not in record

    fields = dict(analysis_fields(record))
    assert fields["analysis"].startswith("INCONCLUSIVE at step 1, look 2 (")
    assert (
        fields["  reason"] == "not enough traffic to judge: invocations baseline 12 < 200, candidate 3 < 200"
    )
    entry = {
        "at": "2026-01-01T12:03:00+00:00",
        "event": "analysis inconclusive",
        "reason": f"step 1, 180 s into the bake: {record['reason']}",
        "step": 1,
        "analysis": record,
    }
    cells = decision_cells(decision_row(entry))
    assert cells[2] == (
        "step 1, look 2, 180 s into the bake: not enough traffic to judge: invocations baseline 12 < 200, "
        "candidate 3 < 200"
    )
    assert cells[6] == ""  # neither the record nor the step repeated as details
    assert decision_row(entry)["details"] == {"step": 1, "analysis": record}  # -o json: whole


def test_a_record_missing_values_prints_dashes_not_errors() -> None:
    record = _record(VariantCounts(1600, 0, 1600), VariantCounts(400, 0, 400), None)
    del record["errors"]["p_value"], record["alpha"], record["confidence"]  # e.g. not finite: not stored
    fields = dict(analysis_fields(record))
    assert "alpha — at this look" in fields["analysis"]
    assert "p — ≥ alpha " in fields["  errors"]
    assert fields["  reason"].startswith("no latency evidence yet")


def test_status_shows_held_only_while_paused() -> None:
    held = {
        "reason": "not enough traffic to judge: after 1800 s of step 1",
        "step": 1,
        "at": START.isoformat(),
    }
    record = {
        "rollout_id": "r",
        "version": "v2",
        "step_index": 0,
        "plan": {"steps": [{"percent": 50}, {"percent": 100}], "bake_seconds": 60},
        "held": held,
        "pause_requested": True,
    }
    paused = rollout_view({**record, "status": "PAUSED"}, START, {})
    assert paused["held"] == held
    fields = dict(rollout_fields(paused))
    assert (
        fields["held"]
        == "not enough traffic to judge: after 1800 s of step 1 (step 1, since 2026-01-01 12:00:00Z)"
    )
    assert fields["status"] == (
        "PAUSED (held by the canary analysis: `sluice promote` promotes, `sluice resume` goes on to the "
        "next step, `sluice abort` rolls back)"
    )
    ended = rollout_view({**record, "status": "ROLLED_BACK"}, START, {})
    assert ended["held"] is None and "held" not in dict(rollout_fields(ended))
