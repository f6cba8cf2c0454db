"""The canary analysis as an operator sees it: `sluice status` (the latest look's verdict, a held rollout
and what to do about it, --watch on a held rollout) and `sluice history` (one line per look), against real
rollouts on the sandbox judged from SIMULATED traffic (sluice_cli.sandbox.traffic), or from none.

A sandbox rather than records written by hand: the records these commands show are the ones the rollout's
own Analyse state wrote from GetMetricData, so a change of the record's shape fails here. Time is
compressed 100x: a look each simulated minute is 0.6 s of wall time.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice_cli.commands.history import decision_cells
from sluice_cli.commands.status_watch import EXIT_TIMEOUT
from sluice_cli.sandbox.traffic import TrafficSimulator

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # tests/cli: the rollout tests' sandbox helpers (Canary)

from test_cli_rollouts import Canary, canary_in_a_sandbox  # noqa: E402

pytestmark = pytest.mark.slow

ENDED = ("PROMOTED", "ROLLED_BACK", "NEEDS_ATTENTION")
# Small enough for a few simulated minutes of 20 requests a second split 50/50.
JUDGED_QUICKLY = {"min_invocations": 50, "max_bake_seconds": 600}


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    # 50x, not the other files' 100x: a step's first look then comes at least 1.2 s after its bake
    # started. At 0.6 s both ends of the look's window can fall in the same wall-clock second, which the
    # sandbox's GetMetricData refuses ("StartTime must not equal parameter EndTime"); no real bake is
    # that short.
    yield from canary_in_a_sandbox(time_scale=0.02)


def _ended(canary: Canary, endpoint: str) -> dict[str, Any]:
    """The rollout once it ended. Longer than Canary.wait_for's minute: each look is a Lambda invocation
    and a few state transitions, seconds each on a loaded machine, and a step takes several looks."""
    deadline, seen = time.monotonic() + 300, None
    while time.monotonic() < deadline:
        seen = canary.rollout(endpoint)
        if seen and seen["status"] in ENDED:
            return seen
        time.sleep(0.2)
    raise AssertionError(f"rollout on {endpoint} still {seen} after 300 s")


def _field(stdout: str, name: str) -> str:
    """The value of the one `name  value` line of a printed status (its first line when it wraps)."""
    (value,) = [
        line.strip()[len(name) :].strip()
        for line in stdout.splitlines()
        if line.strip().startswith(f"{name} ")
    ]
    return value


def _rows(stdout: str, event: str) -> list[str]:
    """The first line of each printed history row of `event` (a long reason wraps onto more lines)."""
    return [line for line in stdout.splitlines() if f"│ {event} " in line]


def _decisions(canary: Canary, endpoint: str) -> list[dict[str, Any]]:
    (rollout,) = canary.json("history", endpoint)["rollouts"]
    return list(rollout["decisions"])


def test_status_and_history_show_each_look_of_a_passing_analysis(canary: Canary) -> None:
    endpoint = canary.endpoint()
    traffic = TrafficSimulator.in_sandbox(canary.sandbox, endpoint, rps=20, seed=11)
    with traffic:
        canary.deploy(
            endpoint,
            "v2",
            {
                "steps": [50, 100],
                "bake_seconds": 120,
                "analysis": JUDGED_QUICKLY,
                # The 100 % step is judged by the alarms alone, which may lack a full period of data at
                # its end in compressed time; that is not what this test is about.
                "on_insufficient_data": "continue",
            },
        )
        final = _ended(canary, endpoint)
    assert final["status"] == "PROMOTED", (final["reason"], final["analysis"])

    status = canary.json("status", endpoint)["rollout"]
    verdict = status["analysis"]
    assert (verdict["outcome"], verdict["step"]) == ("pass", 1)
    assert verdict["variants"] == {"baseline": "v1", "candidate": "v2"}
    assert verdict["errors"]["baseline"]["invocations"] >= 50
    assert verdict["errors"]["candidate"]["invocations"] >= 50
    assert verdict["latency"]["candidate_samples"] > 0
    assert status["held"] is None

    shown = canary.ok("status", endpoint)
    headline = _field(shown, "analysis")
    assert headline.startswith(f"PASS at step 1, look {verdict['look']} (")
    assert "95 % confidence" in headline
    errors = _field(shown, "errors")
    candidate = verdict["errors"]["candidate"]
    assert f"candidate v2 {candidate['errors'] / candidate['invocations'] * 100:.2f} %" in errors
    assert f"({candidate['errors']}/{candidate['invocations']})" in errors
    assert "baseline v1 " in errors and "tolerance +0.1 points" in errors
    assert errors.endswith(", not worse") and " ≥ alpha " in errors
    latency = _field(shown, "latency")
    slow = verdict["latency"]
    assert f"candidate v2 {slow['candidate_slower'] / slow['candidate_samples'] * 100:.2f} %" in latency
    assert f"slower than {slow['threshold_ms']:.4g} ms (baseline v1 {slow['baseline_rank']} " in latency
    assert "+ 10 %), at most 10 % allowed: p " in latency
    assert latency.endswith(", not worse")

    decisions = _decisions(canary, endpoint)
    looks = [d for d in decisions if d["event"].startswith("analysis ")]
    assert looks and looks[-1]["event"] == "analysis pass"
    assert looks[-1]["details"]["analysis"]["outcome"] == "pass"  # -o json keeps the whole record
    (passed,) = [d for d in decisions if d["event"] == "bake passed" and (d["details"] or {}).get("analysis")]
    assert "the canary analysis passed" in passed["reason"]
    printed = canary.ok("history", endpoint)
    rows = _rows(printed, "analysis pass")
    assert len(rows) == sum(d["event"] == "analysis pass" for d in looks)
    assert "step 1, look " in rows[-1]
    assert "baseline_rank" not in printed  # the record is not dumped
    # What the row says, whole (printed, it wraps in its column):
    (cells,) = [decision_cells(d) for d in decisions if d["event"] == "analysis pass"][-1:]
    assert cells[2].startswith(f"step 1, look {looks[-1]['details']['analysis']['look']}, ")
    assert "errors baseline v1 " in cells[2] and "; latency candidate v2 " in cells[2]
    assert cells[2].count(" p ") == 2 and cells[6] == ""


def test_a_worse_candidate_fails_the_analysis_and_status_says_why(canary: Canary) -> None:
    endpoint = canary.endpoint()
    # 10 % errors against none: worse beyond doubt, with a p-value DynamoDB can store. Far worse (30 %
    # over a few hundred requests) gives a p-value below 1E-130, the smallest number DynamoDB stores: the
    # look's record then fails to write (PutItem "Number underflow") and the rollout rolls back with that
    # error as its reason instead of the analysis' (a product bug left to the analysis' owners).
    traffic = TrafficSimulator.in_sandbox(canary.sandbox, endpoint, rps=20, error_rates={"v2": 0.1}, seed=12)
    with traffic:
        canary.deploy(
            endpoint,
            "v2",
            {"steps": [50, 100], "bake_seconds": 300, "analysis": JUDGED_QUICKLY, "auto_alarms": None},
        )
        final = _ended(canary, endpoint)
    assert final["status"] == "ROLLED_BACK", (final["reason"], final["analysis"])
    assert final["reason"].startswith(
        "step 1: the canary analysis found the candidate worse than the baseline"
    )

    verdict = canary.json("status", endpoint)["rollout"]["analysis"]
    assert verdict["outcome"] == "fail" and verdict["errors"]["worse"] is True
    shown = canary.ok("status", endpoint)
    assert _field(shown, "analysis").startswith("FAIL at step 1, look ")
    errors = _field(shown, "errors")
    assert errors.endswith(", WORSE") and " < alpha " in errors

    assert len(_rows(canary.ok("history", endpoint), "analysis fail")) == 1
    (failed,) = [decision_cells(d)[2] for d in _decisions(canary, endpoint) if d["event"] == "analysis fail"]
    assert failed.startswith("step 1, look ") and "errors baseline v1 " in failed and ", WORSE" in failed


def test_a_rollout_without_traffic_is_held_and_status_says_what_to_do(canary: Canary) -> None:
    endpoint = canary.endpoint()
    canary.deploy(
        endpoint,
        "v2",
        {"steps": [50, 100], "bake_seconds": 60, "analysis": {"max_bake_seconds": 120}},
    )
    canary.wait_for_status(endpoint, "PAUSED")

    rollout = canary.json("status", endpoint)["rollout"]
    held = rollout["held"]
    assert held["step"] == 1
    assert held["reason"].startswith("not enough traffic to judge: after 120 s of step 1")
    assert rollout["analysis"]["outcome"] == "inconclusive"
    assert "errors" not in rollout["analysis"]  # nothing was tested
    shown = canary.ok("status", endpoint)
    assert (
        "PAUSED (held by the canary analysis: `sluice promote` promotes, `sluice resume` goes on to the "
        "next step, `sluice abort` rolls back)"
    ) in shown
    assert _field(shown, "held").startswith("not enough traffic to judge: after 120 s of step 1")
    assert _field(shown, "analysis").startswith("INCONCLUSIVE at step 1, look ")
    assert _field(shown, "reason").startswith("not enough traffic to judge: invocations baseline 0 < 200")

    # Held is not an end: --watch keeps watching it, until --timeout here.
    watched = canary.sluice("status", endpoint, "--watch", "--interval", "0.2", "--timeout", "1")
    assert watched.exit_code == EXIT_TIMEOUT, (watched.stdout, watched.stderr)
    assert "held by the canary analysis" in watched.stdout
    assert "gave up after 1 s; the rollout goes on" in watched.stdout

    decisions = _decisions(canary, endpoint)
    events = [d["event"] for d in decisions]
    assert events.index("analysis inconclusive") < events.index("bake extended") < events.index("held")
    (extended,) = [d["reason"] for d in decisions if d["event"] == "bake extended"]
    assert "the bake goes on up to 120 s (max_bake_seconds), then on_insufficient_data (hold)" in extended
    (held_reason,) = [d["reason"] for d in decisions if d["event"] == "held"]
    assert held_reason.startswith("not enough traffic to judge: after 120 s of step 1")
    assert held_reason.endswith(
        "`sluice promote` promotes, `sluice resume` goes on to the next step, `sluice abort` rolls back"
    )
    printed = canary.ok("history", endpoint)
    assert len(_rows(printed, "bake extended")) == len(_rows(printed, "held")) == 1
    looks = _rows(printed, "analysis inconclusive")
    assert len(looks) == events.count("analysis inconclusive") >= 2
    assert "step 1, look 1, 60 s into the bake: not enough traffic to judge" in looks[0]

    assert canary.sluice("abort", endpoint, "--reason", "no traffic today").exit_code == 0
    assert _ended(canary, endpoint)["status"] == "ROLLED_BACK"
    assert canary.json("status", endpoint)["rollout"]["held"] is None  # an ended rollout holds nothing
