"""The canary analysis in the rollout state machine (statemachines/rollout.asl.json walked with the real
actions): pass, fail, inconclusive, extension and hold, and what each leaves in the decision log, the
rollout record and the notifications. The statistics themselves are tested in test_analysis_*.py."""

from __future__ import annotations

from typing import Any

import pytest
from rollout_fakes import (
    ASL,
    DEPLOY,
    ENDPOINT,
    RolloutAslWalk,
    RolloutWorld,
    choose,
    decision,
    events,
    production_world,
    status,
    upload_version,
)

from sluice.domain.rollout.actions_analyse import LOOK_SECONDS
from sluice.domain.rollout.signals import request_abort, request_pause, request_promote

STEPS = [10, 50, 100]


def deploy(**rollout: Any) -> dict[str, Any]:
    return {"rollout": {**DEPLOY["rollout"], "steps": STEPS, **rollout}}


def started(world: RolloutWorld, **rollout: Any) -> tuple[str, RolloutAslWalk]:
    outcome = upload_version(world, "v2", deploy=deploy(**rollout))
    assert outcome.status == "STARTED", outcome.message
    walk = RolloutAslWalk.of_started(world)
    walk.start()
    return outcome.details["rollout_id"], walk


def record(world: RolloutWorld, rollout_id: str) -> dict[str, Any]:
    found = world.rollouts.rollout(ENDPOINT, rollout_id)
    assert found is not None
    return found


def looks(world: RolloutWorld, rollout_id: str) -> list[dict[str, Any]]:
    return [
        entry["analysis"]
        for entry in world.rollouts.history(ENDPOINT, rollout_id)
        if entry["event"].startswith("analysis ")
    ]


def test_the_asl_looks_after_every_wait_and_follows_the_answer() -> None:
    bake = ASL["States"]["Bake"]
    assert bake["TimeoutSecondsPath"] == "$.wait_seconds"
    assert ASL["States"]["Analyse"]["Next"] == "AfterAnalysis"
    assert choose("AfterAnalysis", {"analysis": {"next": "bake"}}) == "Bake"
    assert choose("AfterAnalysis", {"analysis": {"next": "hold"}}) == "Paused"
    assert choose("AfterAnalysis", {"analysis": {"next": "next_step"}}) == "NextStep"
    caught = {c["Next"] for c in ASL["States"]["Analyse"]["Catch"]}
    assert caught == {"Rollback"}


def test_an_equal_candidate_passes_each_split_step_on_its_numbers_and_is_promoted() -> None:
    world = production_world()
    rollout_id, walk = started(world, bake_seconds=180)
    while walk.next_step() != "Promote":
        walk.after_in_service()
        walk.task("CheckAlarms")
        assert walk.bake_to_end(walk.wait("Bake")) == "NextStep"
    walk.promote()

    assert status(world, rollout_id) == "PROMOTED"
    judged = looks(world, rollout_id)
    # 180 s bakes looked at each minute, at 10 % and 50 %; none at 100 % (the baseline takes no traffic)
    assert [(look["step"], look["baked_seconds"]) for look in judged] == [
        (1, 60),
        (1, 120),
        (1, 180),
        (2, 60),
        (2, 120),
        (2, 180),
    ]
    assert [look["look"] for look in judged] == [1, 2, 3, 4, 5, 6]  # alpha is spent across steps
    assert {look["outcome"] for look in judged} == {"pass"}
    first = judged[0]
    assert first["errors"]["baseline"] == {"invocations": 1000, "errors": 0, "error_rate": 0.0}
    assert first["errors"]["p_value"] > first["errors"]["alpha"]
    assert first["latency"]["baseline_ms"] == 40.0
    assert first["latency"]["threshold_ms"] == 44.0  # + latency_tolerance 10 %
    assert first["alpha"] == pytest.approx(0.05 / 2)
    assert judged[-1]["alpha"] == pytest.approx(0.05 / 42, rel=1e-5)  # recorded to 6 digits
    assert decision(world, rollout_id, "bake passed")["reason"] == (
        "step 3: 180 s without an alarm; the canary analysis does not run at 100 % (the baseline takes "
        "no traffic: nothing to compare with)"
    )
    passed = [e for e in world.rollouts.history(ENDPOINT, rollout_id) if e["event"] == "bake passed"]
    assert "the canary analysis passed (look 3)" in passed[0]["reason"]
    # the STEP notification of the next step carries the evidence the previous one passed on
    steps = [n for n in world.notifications(rollout_id) if n["status"] == "STEP"]
    assert "analysis" not in steps[0] and steps[1]["analysis"]["look"] == 3


def test_a_slower_candidate_is_rolled_back_at_the_first_look_that_shows_it() -> None:
    world = production_world()
    rollout_id, walk = started(world, bake_seconds=300)
    world.metrics.set("v2", share_above_pct=30.0)  # 30 % of its requests above the baseline's p90 + 10 %
    walk.next_step()
    walk.after_in_service()
    walk.task("CheckAlarms")
    token = walk.wait("Bake")
    error, cause = walk.fails_after_timeout(token)
    walk.rollback(error, cause)

    assert status(world, rollout_id) == "ROLLED_BACK"
    reason = record(world, rollout_id)["reason"]
    assert reason.startswith(
        "step 1: the canary analysis found the candidate worse than the baseline (look 1, 60 s into the bake)"
    )
    assert "latency: 30.00 % (300/1000) of the candidate's requests slower than 44 ms" in reason
    assert world.endpoints.weights(ENDPOINT) == {"v1": (100.0, 3)}
    fail = decision(world, rollout_id, "analysis fail")["analysis"]
    assert fail["latency"]["worse"] is True and fail["latency"]["p_value"] < fail["latency"]["alpha"]
    assert fail["errors"]["worse"] is False
    rolled_back = world.notifications(rollout_id)[-1]
    assert rolled_back["status"] == "ROLLED_BACK"
    assert "canary analysis" in rolled_back["reason"]


def test_a_candidate_erring_more_is_rolled_back_with_the_error_test_in_the_reason() -> None:
    world = production_world()
    world.metrics.set("v1", errors=5)
    world.metrics.set("v2", errors=40)
    rollout_id, walk = started(world)
    walk.next_step()
    walk.after_in_service()
    walk.task("CheckAlarms")
    walk.rollback(*walk.fails_after_timeout(walk.wait("Bake")))

    reason = record(world, rollout_id)["reason"]
    assert "errors: candidate 4.00 % (40/1000), baseline 0.50 % (5/1000), tolerance +0.1 points" in reason
    assert "Farrington-Manning score test, one-sided p = " in reason
    assert status(world, rollout_id) == "ROLLED_BACK"


def test_too_little_traffic_extends_the_bake_then_holds_until_an_operator_promotes() -> None:
    world = production_world()
    world.metrics.set("v2", invocations=30)
    rollout_id, walk = started(world, bake_seconds=120, analysis={"max_bake_seconds": 240})
    walk.next_step()
    walk.after_in_service()
    walk.task("CheckAlarms")
    where = walk.bake_to_end(walk.wait("Bake"))

    assert where == "Paused"
    judged = looks(world, rollout_id)
    assert [(look["outcome"], look["baked_seconds"]) for look in judged] == [
        ("inconclusive", 60),
        ("inconclusive", 120),
        ("inconclusive", 180),
        ("inconclusive", 240),
    ]
    assert "look" in judged[0] and judged[0]["reason"] == (
        "not enough traffic to judge: invocations candidate 30 < 200"
    )
    extended = decision(world, rollout_id, "bake extended")["reason"]
    assert extended.startswith(
        "step 1: not enough traffic to judge: invocations candidate 30 < 200; the bake"
    )
    assert "up to 240 s (max_bake_seconds), then on_insufficient_data (hold) applies" in extended
    assert events(world, rollout_id).count("bake extended") == 1
    token = walk.wait("Paused")
    rollout = record(world, rollout_id)
    assert (rollout["status"], rollout["wait_token"]) == ("PAUSED", token)
    assert rollout["held"]["reason"] == (
        "not enough traffic to judge: after 240 s of step 1 (max_bake_seconds 240), invocations candidate "
        "30 < 200"
    )
    held = world.notifications(rollout_id)[-1]
    assert held["status"] == "PAUSED" and held["event"] == "held"
    assert held["reason"].startswith("not enough traffic to judge")
    assert "`sluice promote` promotes" in held["reason"] and "`sluice abort` rolls back" in held["reason"]
    assert world.endpoints.weights(ENDPOINT)["v2"][0] == 10.0  # held at the step, nothing promoted

    request_promote(world.services, ENDPOINT, rollout_id, "alice", world.clock())
    assert walk.next_step() == "Promote"
    assert record(world, rollout_id).get("held") is None  # the operator decided: no longer held
    walk.promote()
    assert status(world, rollout_id) == "PROMOTED"


def test_a_held_rollout_resumed_goes_on_to_the_next_step_and_an_aborted_one_rolls_back() -> None:
    for answer in ("resume", "abort"):
        world = production_world()
        world.metrics.set("v1", invocations=10)
        rollout_id, walk = started(world, bake_seconds=60, analysis={"max_bake_seconds": 60})
        walk.next_step()
        walk.after_in_service()
        walk.task("CheckAlarms")
        assert walk.bake_to_end(walk.wait("Bake")) == "Paused"
        token = walk.wait("Paused")
        if answer == "resume":
            request_pause(world.services, ENDPOINT, rollout_id, False, "alice", world.clock())
            assert world.workflow.answer(token) == ("success", {"action": "continue"})
            assert walk.next_step() == "ReadEndpoint"
            assert world.endpoints.weights(ENDPOINT)["v2"][0] == 50.0
            assert record(world, rollout_id).get("held") is None
        else:
            request_abort(world.services, ENDPOINT, rollout_id, "no traffic to judge", "alice", world.clock())
            assert world.workflow.answer(token) is not None  # the pause's wait fails: Sluice.Abort
            walk.rollback("Sluice.Abort", "no traffic to judge")
            assert status(world, rollout_id) == "ROLLED_BACK"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("continue", "ReadEndpoint"), ("rollback", "Rollback")],
)
def test_without_evidence_continue_goes_on_unjudged_and_rollback_rolls_back(mode: str, expected: str) -> None:
    world = production_world()
    world.metrics.set("*", invocations=0)
    rollout_id, walk = started(
        world, bake_seconds=60, on_insufficient_data=mode, analysis={"max_bake_seconds": 60}
    )
    walk.next_step()
    walk.after_in_service()
    walk.task("CheckAlarms")
    token = walk.wait("Bake")
    if mode == "continue":
        assert walk.bake_times_out(token) == "NextStep"
        assert walk.next_step() == expected
        entry = decision(world, rollout_id, "bake passed without evidence")
        assert entry["reason"].endswith("on_insufficient_data is continue: the rollout goes on unjudged")
        assert world.notifications(rollout_id)[-2]["status"] == "STEP_UNJUDGED"
    else:
        error, cause = walk.fails_after_timeout(token)
        walk.rollback(error, cause)
        assert status(world, rollout_id) == "ROLLED_BACK"
        assert record(world, rollout_id)["reason"].endswith(
            "on_insufficient_data is rollback (no evidence, no promotion)"
        )


def test_latency_cloudwatch_cannot_answer_is_said_and_errors_alone_decide() -> None:
    world = production_world()
    world.metrics.set("*", percentile_us=None)
    rollout_id, walk = started(world)
    walk.next_step()
    walk.after_in_service()
    walk.task("CheckAlarms")
    assert walk.bake_to_end(walk.wait("Bake")) == "NextStep"
    look = decision(world, rollout_id, "analysis pass")["analysis"]
    assert look["reason"].endswith(
        "latency not judged: CloudWatch answered no ModelLatency percentile for the window"
    )
    assert "latency" not in look


def test_with_the_analysis_off_one_wait_bakes_the_step_and_no_metrics_are_read() -> None:
    world = production_world()
    rollout_id, walk = started(world, bake_seconds=300, analysis=None)
    walk.next_step()
    walk.after_in_service()
    walk.task("CheckAlarms")
    assert walk.state["wait_seconds"] == 300
    assert walk.bake_to_end(walk.wait("Bake")) == "NextStep"
    assert world.metrics.reads == []
    assert decision(world, rollout_id, "bake passed")["reason"] == (
        'step 1: 300 s without an alarm; no canary analysis (deploy.json: "analysis": null)'
    )


def test_each_look_reads_the_step_from_its_bake_start_and_waits_a_minute() -> None:
    world = production_world()
    _, walk = started(world, bake_seconds=150)
    walk.next_step()
    walk.after_in_service()
    walk.task("CheckAlarms")
    start = walk.state["bake_started_at"]
    assert walk.state["wait_seconds"] == LOOK_SECONDS
    walk.bake_times_out(walk.wait("Bake"))
    assert walk.state["wait_seconds"] == LOOK_SECONDS
    walk.bake_times_out(walk.wait("Bake"))
    assert walk.state["wait_seconds"] == 30  # what is left of the 150 s bake
    assert walk.bake_times_out(walk.wait("Bake")) == "NextStep"
    starts = {read[3].isoformat() for read in world.metrics.reads}
    assert starts == {start}
    ends = sorted({read[4] for read in world.metrics.reads})
    assert len(ends) == 3 and all(end.isoformat() > start for end in ends)


def test_a_look_cloudwatch_does_not_answer_judges_nothing_and_the_bake_goes_on() -> None:
    world = production_world()
    rollout_id, walk = started(world, bake_seconds=120)
    walk.next_step()
    walk.after_in_service()
    walk.task("CheckAlarms")
    world.metrics.unavailable = "GetMetricData: Throttling: Rate exceeded"
    assert walk.bake_times_out(walk.wait("Bake")) == "Bake"  # not a rollback of a healthy candidate
    unread = decision(world, rollout_id, "analysis inconclusive")["analysis"]
    assert unread["reason"] == "CloudWatch did not answer: GetMetricData: Throttling: Rate exceeded"
    world.metrics.unavailable = None
    assert walk.bake_times_out(walk.wait("Bake")) == "NextStep"
    assert (
        decision(world, rollout_id, "analysis pass")["analysis"]["look"] == 1
    )  # the unread one spent nothing


def test_at_100_percent_an_alarm_without_data_does_not_hold_a_rollout_the_analysis_judged() -> None:
    """SageMaker's metrics arrive late: an automatic alarm's latest period may have no data yet when the
    100 % step's bake ends. The analysis' looks at the split steps are the evidence then."""
    world = production_world()
    world.alarms.metrics_flow = False  # the automatic alarms stay INSUFFICIENT_DATA
    rollout_id, walk = started(world)
    while walk.next_step() != "Promote":
        walk.after_in_service()
        walk.task("CheckAlarms")
        assert walk.bake_to_end(walk.wait("Bake")) == "NextStep"
    walk.promote()
    assert status(world, rollout_id) == "PROMOTED"
    assert "held" not in events(world, rollout_id)
