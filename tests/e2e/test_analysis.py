"""The canary analysis (issue 11, "promote on evidence") on the sandbox, as a user meets it: SIMULATED
traffic (TrafficSimulator: per-variant AWS/SageMaker metrics in the emulated CloudWatch), a deploy.json
and an archive uploaded to S3, the rollout record and decision log read from the registry, the
notifications from the topic, and `sluice promote` / `sluice abort` run as a user runs them.

Each look compares candidate and baseline over the step's window (GetMetricData); a candidate worse
than the baseline is rolled back by the analysis long before the automatic alarms (1 % errors, p99
500 ms) would notice, and a step without traffic enough to judge extends its bake, then follows
on_insufficient_data. Effect sizes are chosen so that the statistics decide with overwhelming
probability (see each test), seeds are fixed.

Time is compressed 100 times (one module-scoped sandbox): a 60 s look lasts 0.6 s.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from integration_kit import sluice_process
from rollouts_kit import ROLE, Rollouts, assert_settled

from sluice_cli.sandbox.server import Sandbox
from sluice_cli.sandbox.traffic import TrafficSimulator

pytestmark = pytest.mark.slow

TIME_SCALE = 0.01
RPS = 20
NOT_ENOUGH_TRAFFIC = "not enough traffic to judge"


@pytest.fixture(scope="module")
def rollouts() -> Iterator[Rollouts]:
    with Sandbox(
        time_scale=TIME_SCALE,
        transform_delay_seconds=0.2,
        alarm_evaluation_interval=0.1,
        parameters={"SageMakerExecutionRoleArn": ROLE},
    ) as sandbox:
        yield Rollouts(sandbox)


def roll_out(rollouts: Rollouts, endpoint: str, rollout: dict[str, Any]) -> None:
    """deploy.json `{"rollout": rollout}`, then v2's archive: the canary of v2 against v1 starts."""
    rollouts.deploy_json(endpoint, {"rollout": rollout})
    rollouts.upload(endpoint, "v2")


def decisions(rollouts: Rollouts, endpoint: str, event: str | None = None) -> list[dict[str, Any]]:
    """v2's decision log (every entry, or those of one event), oldest first."""
    rollout_id = rollouts.rollout(endpoint, "v2")["rollout_id"]
    return [e for e in rollouts.history(endpoint, rollout_id) if event is None or e["event"] == event]


def sluice(rollouts: Rollouts, *args: str) -> subprocess.CompletedProcess[str]:
    """The `sluice` console script in its own process, against the sandbox, as a user runs it."""
    return sluice_process(rollouts.sandbox, *args, table=rollouts.table)


def notified(rollouts: Rollouts, rollout_id: str, status: str) -> list[dict[str, Any]]:
    """The rollout's notifications of `status`, once there is one (published just after the record)."""

    def published() -> list[dict[str, Any]]:
        return [n for n in rollouts.notifications(rollout_id) if n["status"] == status]

    return list(rollouts.wait_until(published, timeout=10, what=f"the {status} notification"))


def at(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(entry["at"]))


def assert_no_alarm_fired(rollouts: Rollouts, endpoint: str) -> None:
    """Neither automatic alarm went to ALARM: nothing but the analysis judged the candidate."""
    events = [e["event"] for e in decisions(rollouts, endpoint)]
    assert "alarm fired" not in events, rollouts.explain(endpoint, "v2")


# -- a. a candidate as good as the baseline ---------------------------------------------------------


def test_a_candidate_as_good_as_the_baseline_passes_every_look_and_is_promoted(rollouts: Rollouts) -> None:
    """Same latency (40 ms), no errors: each look of the 25 % and 50 % steps passes with its counts and
    p-values in the log (a false alarm is all but impossible: the candidate's share over the threshold
    is ~0.6 % where 10 % is allowed), each bake passes, and v2 is promoted. Each look's window, as
    recorded, lies within its step: after the step's weights were set, before the next step's.
    (On AWS, CloudWatch reads it from its start's minute; the sandbox reads it as given.)"""
    endpoint = rollouts.endpoint()
    with TrafficSimulator.in_sandbox(rollouts.sandbox, endpoint, rps=RPS, seed=1):
        roll_out(rollouts, endpoint, {"steps": [25, 50, 100], "bake_seconds": 120})
        rollouts.finish(endpoint, "v2")

    record = assert_settled(rollouts, endpoint, "v2", status="PROMOTED", serving="v2", lease="released")
    assert_no_alarm_fired(rollouts, endpoint)
    log = decisions(rollouts, endpoint)
    explained = rollouts.explain(endpoint, "v2")
    assert not [e for e in log if e["event"] == "analysis fail"], explained
    looks = [e for e in log if e["event"] == "analysis pass"]
    assert {e["step"] for e in looks} == {1, 2}, explained  # never at 100 %: no baseline traffic
    for entry in looks:
        analysis = entry["analysis"]
        assert analysis["outcome"] == "pass" and analysis["step"] == entry["step"]
        errors, latency = analysis["errors"], analysis["latency"]
        for variant in ("baseline", "candidate"):
            assert errors[variant]["invocations"] >= 200 and errors[variant]["errors"] == 0
        assert 0 < errors["p_value"] <= 1 and not errors["worse"]
        # one ModelLatency sample per call (a read may fall between two PutMetricData of one tick)
        assert latency["candidate_samples"] == pytest.approx(errors["candidate"]["invocations"], rel=0.05)
        assert 35 < latency["baseline_ms"] < 50 and latency["threshold_ms"] > latency["baseline_ms"]
        assert latency["candidate_slower"] < latency["candidate_samples"] * 0.05 and not latency["worse"]
        assert entry["reason"].startswith(f"step {entry['step']}, ")
        assert "no regression found" in entry["reason"]
    assert [e["step"] for e in log if e["event"] == "bake passed"] == [1, 2, 3]
    (last,) = [e for e in log if e["event"] == "bake passed" and e["step"] == 3]
    assert "does not run at 100 %" in last["reason"]

    weights_set = [at(e) for e in log if e["event"] == "weights set"]
    assert len(weights_set) == 3
    for entry in looks:
        window = entry["analysis"]["window"]
        start, end = datetime.fromisoformat(window["start"]), datetime.fromisoformat(window["end"])
        step = entry["step"]
        assert weights_set[step - 1] <= start < end <= at(entry) <= weights_set[step], (step, window)

    # each next step's STEP notification carries the evidence the previous step passed on
    steps = [n for n in rollouts.notifications(record["rollout_id"]) if n["status"] == "STEP"]
    assert [(n["step"], n.get("analysis", {}).get("outcome")) for n in steps] == [
        (1, None),
        (2, "pass"),
        (3, "pass"),
    ]


# -- b. a slower candidate --------------------------------------------------------------------------


def test_a_candidate_25_percent_slower_is_rolled_back_by_the_analysis(rollouts: Rollouts) -> None:
    """v2 answers in 50 ms where v1 takes 40 ms (each Normal, 10 % jitter): about half of v2's requests
    are slower than v1's p90 bound + 10 % (~50 ms), where 10 % may be: the first look with 200 requests
    a variant fails it (p far below 1e-20; below DynamoDB's smallest number, 1e-130, once v2 has a
    thousand requests: recorded as 0). The p99 alarm (500 ms) never fires: the analysis alone rolls v2
    back, during the first step."""
    endpoint = rollouts.endpoint()
    latency = {"v1": 40.0, "v2": 50.0}
    with TrafficSimulator.in_sandbox(rollouts.sandbox, endpoint, rps=RPS, latency_ms=latency, seed=2):
        roll_out(rollouts, endpoint, {"steps": [25, 50, 100], "bake_seconds": 120})
        rollouts.finish(endpoint, "v2")

    record = assert_settled(
        rollouts,
        endpoint,
        "v2",
        status="ROLLED_BACK",
        serving="v1",
        lease="released",
        reason="canary analysis",
    )
    assert "latency:" in record["reason"] and "errors:" not in record["reason"], record["reason"]
    assert_no_alarm_fired(rollouts, endpoint)
    log = decisions(rollouts, endpoint)
    (failed,) = [e for e in log if e["event"] == "analysis fail"]
    assert failed["step"] == 1
    assert failed["analysis"]["latency"]["worse"] and not failed["analysis"]["errors"]["worse"]
    assert (
        failed["analysis"]["latency"]["candidate_slower"]
        > failed["analysis"]["latency"]["candidate_samples"] / 4
    )
    assert len([e for e in log if e["event"] == "weights set"]) == 1  # never reached 50 %
    assert "bake passed" not in [e["event"] for e in log]


# -- c. a candidate failing twice as often ----------------------------------------------------------


def test_a_candidate_with_twice_the_baselines_error_rate_is_rolled_back_by_the_analysis(
    rollouts: Rollouts,
) -> None:
    """v2 fails 6 % of its requests, v1 3 %; the automatic error alarm is set to 20 % so that it stays
    quiet. At 50 % (600 requests a variant a minute), the score test finds v2 worse within a few looks:
    a Monte Carlo of the looks' counts (domain `judge`, 20 000 runs) failed v2 in every run, 94 % of
    them by the third look, all by the eighth; the bake (600 s: ten looks) is the horizon."""
    endpoint = rollouts.endpoint()
    errors = {"v1": 0.03, "v2": 0.06}
    with TrafficSimulator.in_sandbox(rollouts.sandbox, endpoint, rps=RPS, error_rates=errors, seed=3):
        roll_out(
            rollouts,
            endpoint,
            {"steps": [50, 100], "bake_seconds": 600, "auto_alarms": {"error_rate": 0.2}},
        )
        rollouts.finish(endpoint, "v2")

    record = assert_settled(
        rollouts,
        endpoint,
        "v2",
        status="ROLLED_BACK",
        serving="v1",
        lease="released",
        reason="canary analysis",
    )
    assert "errors: candidate" in record["reason"], record["reason"]
    assert_no_alarm_fired(rollouts, endpoint)
    (failed,) = decisions(rollouts, endpoint, "analysis fail")
    judged = failed["analysis"]["errors"]
    assert judged["worse"] and judged["p_value"] < judged["alpha"]
    assert judged["candidate"]["error_rate"] > judged["baseline"]["error_rate"]
    assert "bake passed" not in [e["event"] for e in decisions(rollouts, endpoint)]


# -- d. too little traffic to judge: the bake extends, then the rollout is held ----------------------


def test_too_little_traffic_extends_the_bake_then_holds_the_rollout_for_promote_or_abort(
    rollouts: Rollouts,
) -> None:
    """0.5 requests a second: a step of 25 % sees ~8 of v2's requests a minute, never the 200 a look
    needs. The bake (60 s) extends up to max_bake_seconds (180 s), then the rollout is PAUSED with the
    reason, and the team is told. `sluice promote` promotes one such rollout, `sluice abort` rolls back
    another."""
    config = {"steps": [25, 50, 100], "bake_seconds": 60, "analysis": {"max_bake_seconds": 180}}
    promoted, aborted = rollouts.endpoint(), rollouts.endpoint()
    with (
        TrafficSimulator.in_sandbox(rollouts.sandbox, promoted, rps=0.5, seed=4),
        TrafficSimulator.in_sandbox(rollouts.sandbox, aborted, rps=0.5, seed=5),
    ):
        for endpoint in (promoted, aborted):
            roll_out(rollouts, endpoint, config)
        for endpoint in (promoted, aborted):
            held = rollouts.wait_for_status(endpoint, "v2", "PAUSED")
            assert held["held"]["reason"].startswith(NOT_ENOUGH_TRAFFIC), held["held"]
            assert "after 180 s of step 1 (max_bake_seconds 180)" in held["held"]["reason"]
            assert held["held"]["step"] == 1
            log = decisions(rollouts, endpoint)
            events = [e["event"] for e in log]
            assert events.count("bake extended") == 1 and "analysis fail" not in events
            assert "analysis inconclusive" in events and "analysis pass" not in events
            (extended,) = [e for e in log if e["event"] == "bake extended"]
            assert "up to 180 s (max_bake_seconds)" in extended["reason"]
            assert "on_insufficient_data (hold)" in extended["reason"]
            (paused,) = notified(rollouts, held["rollout_id"], "PAUSED")
            assert paused["event"] == "held" and paused["reason"].startswith(NOT_ENOUGH_TRAFFIC)
            assert "`sluice promote` promotes" in paused["reason"]

        promote = sluice(rollouts, "promote", promoted)
        abort = sluice(rollouts, "abort", aborted, "--reason", "not enough traffic to trust it")
        assert promote.returncode == 0, (promote.stdout, promote.stderr)
        assert abort.returncode == 0, (abort.stdout, abort.stderr)
        rollouts.finish(promoted, "v2")
        rollouts.finish(aborted, "v2")

    assert_settled(rollouts, promoted, "v2", status="PROMOTED", serving="v2", lease="released")
    assert_settled(
        rollouts,
        aborted,
        "v2",
        status="ROLLED_BACK",
        serving="v1",
        lease="released",
        reason="not enough traffic to trust it",
    )
    assert "promote requested" in [e["event"] for e in decisions(rollouts, promoted)]


# -- e. no traffic at all, on_insufficient_data continue / rollback -----------------------------------


def test_no_traffic_passes_the_step_unjudged_with_continue_and_rolls_back_with_rollback(
    rollouts: Rollouts,
) -> None:
    """No request at all: every look is inconclusive until max_bake_seconds (here the bake itself).
    `continue` passes the step without evidence, says so (STEP_UNJUDGED), and promotes; `rollback`
    rolls back because there is no evidence. (Two endpoints at once.)"""
    endpoints = {policy: rollouts.endpoint() for policy in ("continue", "rollback")}
    for policy, endpoint in endpoints.items():
        roll_out(
            rollouts,
            endpoint,
            {
                "steps": [50, 100],
                "bake_seconds": 120,
                "analysis": {"max_bake_seconds": 120},
                "on_insufficient_data": policy,
            },
        )
    for endpoint in endpoints.values():
        rollouts.finish(endpoint, "v2")

    unjudged = assert_settled(
        rollouts, endpoints["continue"], "v2", status="PROMOTED", serving="v2", lease="released"
    )
    rolled_back = assert_settled(
        rollouts,
        endpoints["rollback"],
        "v2",
        status="ROLLED_BACK",
        serving="v1",
        lease="released",
        reason="on_insufficient_data is rollback (no evidence, no promotion)",
    )
    for endpoint in endpoints.values():
        events = [e["event"] for e in decisions(rollouts, endpoint)]
        assert "analysis pass" not in events and "analysis fail" not in events
        assert "analysis inconclusive" in events

    (passed,) = decisions(rollouts, endpoints["continue"], "bake passed without evidence")
    assert passed["step"] == 1 and passed["reason"].startswith(NOT_ENOUGH_TRAFFIC)
    assert "the rollout goes on unjudged" in passed["reason"]
    (told,) = notified(rollouts, unjudged["rollout_id"], "STEP_UNJUDGED")
    assert told["step"] == 1 and told["reason"] == passed["reason"]

    assert rolled_back["reason"].startswith(NOT_ENOUGH_TRAFFIC), rolled_back["reason"]
    assert "after 120 s of step 1" in rolled_back["reason"]
    assert not decisions(rollouts, endpoints["rollback"], "bake passed without evidence")
