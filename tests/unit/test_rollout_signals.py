"""Signals during a rollout: alarms (with no missed window), abort, promote, pause/resume, manual
approval; and the small pieces the state machine relies on (error_reason, run_action)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rollout_fakes import (
    ASL,
    ENDPOINT,
    USER_ALARM,
    RolloutAslWalk,
    RolloutWorld,
    choose,
    decision,
    events,
    lambda_cause,
    production_world,
    status,
    upload_version,
    walk_happy_path_like_rollout_asl,
)

from sluice.domain.rollout.actions import run_action
from sluice.domain.rollout.intake import new_suffix
from sluice.domain.rollout.record import error_reason
from sluice.domain.rollout.signals import (
    active_rollout,
    alarm_fired,
    request_abort,
    request_pause,
    request_promote,
)
from sluice.domain.rollout.status import ABORT_ERROR
from sluice.errors import RolloutAborted, RolloutRefused

ERRORS_ALARM = "sluice-fraud-v2-errors"
ALARM_REASON = "Threshold Crossed: 1 out of the last 1 datapoints [0.042 (25/11/26 12:01:00)] > 0.01"
ALARM_CAUSE = f"alarm {ERRORS_ALARM} is in ALARM: {ALARM_REASON}"


def started(world: RolloutWorld, deploy: dict[str, Any] | None = None) -> tuple[str, RolloutAslWalk]:
    outcome = upload_version(world, "v2", **({"deploy": deploy} if deploy else {}))
    assert outcome.status == "STARTED", outcome.message
    return outcome.details["rollout_id"], RolloutAslWalk.of_started(world)


def fire(world: RolloutWorld, name: str = ERRORS_ALARM, reason: str = ALARM_REASON) -> list[str]:
    """The alarm goes to ALARM and its EventBridge event reaches the alarm handler."""
    world.alarms.set_state(name, "ALARM", reason)
    return alarm_fired(world.services, name, reason, world.clock())


def signal_of(world: RolloutWorld, token: str) -> dict[str, Any]:
    """$.signal after a wait answered with success (ResultPath $.signal)."""
    answer = world.workflow.answer(token)
    assert answer is not None
    assert answer[0] == "success", answer
    return dict(answer[1])


# -- alarms ---------------------------------------------------------------------------------------


def test_an_alarm_during_step_2_rolls_back_to_the_baseline_with_its_reason() -> None:
    world = production_world()
    rollout_id, walk = started(world)
    walk.start()
    walk.bake_times_out(walk.to_bake())
    token = walk.to_bake()
    assert world.rollouts.rollout(ENDPOINT, rollout_id)["wait_token"] == token  # type: ignore[index]

    assert fire(world) == [rollout_id]

    assert world.workflow.failed == [(token, ABORT_ERROR, ALARM_CAUSE)]
    assert decision(world, rollout_id, "alarm fired")["alarm"] == ERRORS_ALARM

    # Bake's Catch States.ALL → Rollback: weights first, in one call, then the config.
    mark = len(world.calls)
    walk.caught("Rollback", ABORT_ERROR, ALARM_CAUSE)
    assert world.endpoints.weights(ENDPOINT) == {"v1": (100.0, 3), "v2": (0.0, 2)}
    walk.task("RestoreBaselineConfig")
    assert world.endpoints.endpoints[ENDPOINT].config_name == "fraud-v1-aaa111"
    assert walk.after_in_service() == "FinishRollback"
    walk.task("FinishRollback")

    sagemaker = [call[0] for call in world.calls[mark:] if call[0].startswith("endpoints.")]
    assert sagemaker[:2] == ["endpoints.set_weights", "endpoints.update_endpoint"]
    assert world.endpoints.weights(ENDPOINT) == {"v1": (100.0, 3)}  # retained: weight and count as they were
    assert "fraud-v2-" not in " ".join(world.endpoints.models) + " ".join(world.endpoints.configs)
    assert ERRORS_ALARM not in world.alarms.alarms
    assert USER_ALARM in world.alarms.alarms
    assert world.autoscaling.registration(ENDPOINT, "v1") is not None

    rollout = world.rollouts.rollout(ENDPOINT, rollout_id)
    assert rollout is not None
    assert (rollout["status"], rollout["alarm"], rollout["reason"]) == (
        "ROLLED_BACK",
        ERRORS_ALARM,
        ALARM_CAUSE,
    )
    rolled_back = decision(world, rollout_id, "rolled back")
    assert rolled_back["alarm"] == ERRORS_ALARM
    assert ALARM_REASON in rolled_back["reason"]
    assert rolled_back["weights"] == {"v1": 100}
    notification = world.notifications(rollout_id)[-1]
    assert (notification["status"], notification["alarm"]) == ("ROLLED_BACK", ERRORS_ALARM)
    assert ALARM_REASON in notification["reason"]
    assert events(world, rollout_id)[-5:] == [
        "baking",
        "alarm fired",
        "rolling back",
        "candidate removed",
        "rolled back",
    ]
    assert world.rollouts.lease(ENDPOINT) is None
    assert world.rollouts.alarm_owners(ERRORS_ALARM) == []


def test_the_first_alarm_stays_the_reason_when_a_second_fires_before_the_rollback() -> None:
    """Alarms can flap (ALARM → OK → ALARM) or fire together: each firing is logged, but the rollout's
    reason and alarm stay those of the first, the one that caused the rollback."""
    world = production_world()
    rollout_id, walk = started(world)
    walk.start()
    token = walk.to_bake()
    fire(world)
    fire(world, USER_ALARM, "p50 above 80 ms")
    walk.caught("Rollback", ABORT_ERROR, ALARM_CAUSE)

    rollout = world.rollouts.rollout(ENDPOINT, rollout_id)
    assert rollout is not None
    assert (rollout["alarm"], rollout["reason"]) == (ERRORS_ALARM, ALARM_CAUSE)
    fired = [e for e in world.rollouts.history(ENDPOINT, rollout_id) if e["event"] == "alarm fired"]
    assert [e["alarm"] for e in fired] == [
        ERRORS_ALARM,
        USER_ALARM,
    ]
    assert world.workflow.failed[0] == (token, ABORT_ERROR, ALARM_CAUSE)


def test_an_alarm_before_the_bake_token_is_stored_is_not_missed() -> None:
    world = production_world()
    rollout_id, walk = started(world)
    walk.start()
    walk.bake_times_out(walk.to_bake())
    assert walk.next_step() == "ReadEndpoint"
    walk.task("CheckAlarms")

    assert fire(world) == [rollout_id]  # no token stored yet: nothing to fail
    assert world.workflow.failed == []

    token = walk.wait("Bake")  # stores its token, reads the abort back, fails its own wait

    assert world.workflow.failed == [(token, ABORT_ERROR, ALARM_CAUSE)]
    assert "baking" not in events(world, rollout_id)[-2:]


def test_an_alarm_after_the_bake_timed_out_is_caught_at_the_next_boundary() -> None:
    world = production_world()
    rollout_id, walk = started(world)
    walk.start()
    token = walk.to_bake()
    world.workflow.expire(token)  # TimeoutSecondsPath elapsed: the token is spent, Analyse not yet run

    assert fire(world) == [rollout_id]
    assert world.workflow.failed == []  # the stale token was refused

    walk.caught("Analyse", "States.Timeout", "")
    error, cause = walk.fails("NextStep")
    assert (error, json.loads(cause)["errorMessage"]) == ("RolloutAborted", ALARM_CAUSE)
    assert len(world.endpoints.weight_history) == 1  # no further step


def test_an_alarm_between_the_weights_and_the_boundary_check_ends_the_step() -> None:
    world = production_world()
    _, walk = started(world)
    walk.start()
    assert walk.next_step() == "ReadEndpoint"
    fire(world)
    with pytest.raises(RolloutAborted, match=ALARM_REASON.split(":")[0]):
        walk.task("CheckAlarms")
    assert world.workflow.failed == []


def test_an_alarm_already_firing_at_a_step_boundary_aborts_without_an_event() -> None:
    world = production_world()
    rollout_id, walk = started(world)
    walk.start()
    world.alarms.set_state(USER_ALARM, "ALARM", "Threshold Crossed: 9 > 5")

    error, cause = walk.fails("NextStep")

    assert error == "RolloutAborted"
    assert world.endpoints.weight_history == []
    rollout = world.rollouts.rollout(ENDPOINT, rollout_id)
    assert rollout is not None
    assert rollout["abort_requested"]["by"] == "step boundary check"
    assert rollout["abort_requested"]["alarm"] == USER_ALARM
    walk.rollback(error, cause)
    assert decision(world, rollout_id, "rolled back")["alarm"] == USER_ALARM
    assert "Threshold Crossed: 9 > 5" in decision(world, rollout_id, "rolled back")["reason"]


def test_an_alarm_guarding_no_active_rollout_aborts_nothing() -> None:
    world = production_world()
    assert fire(world, USER_ALARM, "x") == []
    world.alarms.set_state(USER_ALARM, "OK", "back to normal")
    rollout_id, walk = started(world)
    walk.start()
    world.rollouts.update_rollout(ENDPOINT, rollout_id, {"status": "PROMOTED"})
    assert fire(world, USER_ALARM, "late") == []
    assert world.workflow.failed == []
    assert "alarm fired" not in events(world, rollout_id)


def test_a_stale_token_of_a_bake_that_already_ended_is_not_answered_twice() -> None:
    world = production_world()
    rollout_id, walk = started(world)
    walk.start()
    token = walk.to_bake()
    assert request_promote(world.services, ENDPOINT, rollout_id, "alice", world.clock()) is not None
    fire(world)  # the same stored token: the wait already ended with the promote
    assert world.workflow.succeeded == [(token, {"action": "promote"})]
    assert world.workflow.failed == []


# -- abort by an operator ---------------------------------------------------------------------------


def test_abort_of_an_unknown_or_finished_rollout_does_nothing() -> None:
    world = production_world()
    assert request_abort(world.services, ENDPOINT, "nope", "why", "alice", world.clock()) is None
    rollout_id, _ = started(world)
    world.rollouts.update_rollout(ENDPOINT, rollout_id, {"status": "REFUSED"})
    again = request_abort(world.services, ENDPOINT, rollout_id, "why", "alice", world.clock())
    assert again is not None
    assert again["status"] == "REFUSED"
    assert "abort requested" not in events(world, rollout_id)


def test_active_rollout_is_the_newest_one_in_flight() -> None:
    world = production_world()
    assert active_rollout(world.services, ENDPOINT) is None
    rollout_id, _ = started(world)
    upload_version(world, "v3")  # QUEUED: not in flight
    active = active_rollout(world.services, ENDPOINT)
    assert active is not None
    assert active["rollout_id"] == rollout_id


# -- promote ----------------------------------------------------------------------------------------


def test_promote_during_a_bake_answers_the_bake_and_skips_the_remaining_steps() -> None:
    world = production_world()
    rollout_id, walk = started(world)
    walk.start()
    token = walk.to_bake()

    request_promote(world.services, ENDPOINT, rollout_id, "alice", world.clock())

    assert world.workflow.succeeded == [(token, {"action": "promote"})]
    walk.state["signal"] = signal_of(world, token)
    assert choose("AfterSignal", walk.state) == "Promote"
    walk.promote()
    assert world.endpoints.weight_history == [{"v1": (90.0, 3), "v2": (10.0, 1)}]
    assert world.endpoints.weights(ENDPOINT) == {"v2": (1.0, 3)}
    assert status(world, rollout_id) == "PROMOTED"


def test_promote_arriving_before_the_bake_token_is_answered_at_once() -> None:
    world = production_world()
    rollout_id, walk = started(world)
    walk.start()
    assert walk.next_step() == "ReadEndpoint"
    walk.task("CheckAlarms")
    request_promote(world.services, ENDPOINT, rollout_id, "alice", world.clock())
    assert world.workflow.succeeded == []

    token = walk.wait("Bake")

    assert world.workflow.succeeded == [(token, {"action": "promote"})]


def test_promote_between_steps_is_taken_at_the_next_boundary() -> None:
    world = production_world()
    rollout_id, walk = started(world)
    walk.start()
    walk.bake_times_out(walk.to_bake())
    request_promote(world.services, ENDPOINT, rollout_id, "bob", world.clock())
    assert world.workflow.succeeded == []  # no wait to answer between steps

    assert walk.next_step() == "Promote"
    assert decision(world, rollout_id, "promote requested")["reason"] == "by bob"
    assert decision(world, rollout_id, "skipping to promotion")["reason"] == (
        "promote requested by bob: remaining steps skipped"
    )


# -- pause / resume ---------------------------------------------------------------------------------


def test_pause_waits_at_the_step_boundary_until_resume() -> None:
    world = production_world()
    rollout_id, walk = started(world)
    walk.start()
    bake = walk.to_bake()
    request_pause(world.services, ENDPOINT, rollout_id, True, "alice", world.clock())
    assert world.workflow.succeeded == []  # a bake is not cut short by a pause
    assert decision(world, rollout_id, "pause requested")["reason"] == "by alice"
    walk.bake_times_out(bake)

    assert walk.next_step() == "Paused"
    assert walk.state["action"] == "pause"
    token = walk.wait("Paused")
    rollout = world.rollouts.rollout(ENDPOINT, rollout_id)
    assert rollout is not None
    assert (rollout["status"], rollout["wait_token"], rollout["waiting_for"]) == ("PAUSED", token, "pause")
    assert "sluice resume" in decision(world, rollout_id, "pause")["reason"]

    request_pause(world.services, ENDPOINT, rollout_id, False, "alice", world.clock())

    assert world.workflow.succeeded == [(token, {"action": "continue"})]
    assert ASL["States"]["Paused"]["Next"] == "NextStep"
    walk.to_bake()
    assert world.endpoints.weight_history[-1] == {"v1": (50.0, 3), "v2": (50.0, 2)}
    # PAUSED once, when the rollout really stops at the boundary (not when the pause is requested).
    assert [n["status"] for n in world.notifications(rollout_id)][-4:] == [
        "STEP",
        "PAUSED",
        "RESUMED",
        "STEP",
    ]


def test_promote_while_paused_ends_the_pause_and_promotes() -> None:
    world = production_world()
    rollout_id, walk = started(world)
    walk.start()
    walk.bake_times_out(walk.to_bake())
    request_pause(world.services, ENDPOINT, rollout_id, True, "alice", world.clock())
    assert walk.next_step() == "Paused"
    token = walk.wait("Paused")

    request_promote(world.services, ENDPOINT, rollout_id, "bob", world.clock())

    assert world.workflow.succeeded[-1] == (token, {"action": "promote"})
    assert walk.next_step() == "Promote"  # Paused continues into NextStep, which sees the request


def test_pause_and_resume_of_a_finished_rollout_change_nothing() -> None:
    world = production_world()
    rollout_id, walk = started(world)
    walk_happy_path_like_rollout_asl(walk)
    sent = len(world.notifier.sent)
    request_pause(world.services, ENDPOINT, rollout_id, True, "alice", world.clock())
    assert len(world.notifier.sent) == sent
    assert "pause requested" not in events(world, rollout_id)


def test_resume_before_the_pause_token_is_stored_continues_at_once() -> None:
    world = production_world()
    rollout_id, walk = started(world)
    walk.start()
    request_pause(world.services, ENDPOINT, rollout_id, True, "alice", world.clock())
    assert walk.next_step() == "Paused"
    request_pause(world.services, ENDPOINT, rollout_id, False, "alice", world.clock())

    token = walk.wait("Paused")

    assert world.workflow.succeeded == [(token, {"action": "continue"})]


def test_pause_of_an_unknown_rollout_is_nothing() -> None:
    world = production_world()
    assert request_pause(world.services, ENDPOINT, "nope", True, "alice", world.clock()) is None
    assert world.notifier.sent == []


# -- manual approval --------------------------------------------------------------------------------

APPROVAL = {"rollout": {"steps": [10, 100], "bake_seconds": 60, "manual_approval": True}}


def test_manual_approval_waits_for_promote_before_the_final_step() -> None:
    world = production_world()
    rollout_id, walk = started(world, APPROVAL)
    walk.start()
    walk.bake_times_out(walk.to_bake())

    assert walk.next_step() == "AwaitApproval"
    assert walk.state["action"] == "approve"
    token = walk.wait("AwaitApproval")
    assert status(world, rollout_id) == "AWAITING_APPROVAL"
    assert decision(world, rollout_id, "approval")["reason"] == "the final step waits for `sluice promote`"
    assert world.notifications(rollout_id)[-1]["status"] == "AWAITING_APPROVAL"
    assert world.endpoints.weights(ENDPOINT) == {"v1": (90.0, 3), "v2": (10.0, 1)}

    request_promote(world.services, ENDPOINT, rollout_id, "alice", world.clock())

    assert world.workflow.succeeded == [(token, {"action": "promote"})]
    walk.state["signal"] = signal_of(world, token)
    assert choose("AfterSignal", walk.state) == "Promote"
    walk.promote()
    assert status(world, rollout_id) == "PROMOTED"
    assert world.endpoints.weights(ENDPOINT) == {"v2": (1.0, 3)}


def test_an_approval_given_before_the_wait_is_answered_at_once() -> None:
    world = production_world()
    rollout_id, walk = started(world, APPROVAL)
    walk.start()
    walk.bake_times_out(walk.to_bake())
    assert walk.next_step() == "AwaitApproval"
    request_promote(world.services, ENDPOINT, rollout_id, "alice", world.clock())

    token = walk.wait("AwaitApproval")

    assert world.workflow.succeeded == [(token, {"action": "promote"})]


def test_an_abort_while_awaiting_approval_fails_the_wait() -> None:
    world = production_world()
    rollout_id, walk = started(world, APPROVAL)
    walk.start()
    walk.bake_times_out(walk.to_bake())
    walk.next_step()
    token = walk.wait("AwaitApproval")
    request_abort(world.services, ENDPOINT, rollout_id, "not today", "alice", world.clock())
    assert world.workflow.failed == [(token, ABORT_ERROR, "not today")]


# -- error_reason, run_action, new_suffix -----------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            {"Error": "RolloutRefused", "Cause": lambda_cause(RolloutRefused("endpoint fraud is Failed"))},
            "endpoint fraud is Failed",
        ),
        (
            {"Error": "Sluice.Abort", "Cause": "alarm x is in ALARM: y"},
            "Sluice.Abort: alarm x is in ALARM: y",
        ),
        ({"Error": "States.Timeout", "Cause": None}, "States.Timeout"),
        (
            {"Error": "Lambda.Unknown", "Cause": json.dumps({"errorType": "Oops"})},
            'Lambda.Unknown: {"errorType": "Oops"}',
        ),
        ({"Error": "E", "Cause": "[1, 2]"}, "E: [1, 2]"),
        ({}, "error"),
        (None, "unknown error"),
        ("States.ALL", "unknown error"),
    ],
)
def test_error_reason_reads_a_catch_result(error: Any, reason: str) -> None:
    assert error_reason(error) == reason


def test_run_action_rejects_unknown_actions_and_waits_without_a_token() -> None:
    world = production_world()
    state = {"rollout_id": "r", "endpoint": ENDPOINT}
    with pytest.raises(ValueError, match="unknown rollout action 'explode'"):
        run_action(world.services, "explode", state, None, world.clock())
    for wait in ("bake", "pause", "await_approval"):
        with pytest.raises(ValueError, match=f"{wait} needs the task token"):
            run_action(world.services, wait, state, None, world.clock())
        with pytest.raises(ValueError, match="needs the task token"):
            run_action(world.services, wait, state, "", world.clock())


def test_suffixes_are_six_hex_characters() -> None:
    suffix = new_suffix("seed")
    assert len(suffix) == 6
    int(suffix, 16)


def test_an_alarm_named_in_deploy_json_that_does_not_exist_is_called_out() -> None:
    world = production_world()
    deploy = {"rollout": {"steps": [50, 100], "bake_seconds": 60, "alarms": ["fraud-5xx-typo"]}}
    rollout_id, walk = started(world, deploy)
    walk.start()
    armed = decision(world, rollout_id, "alarms armed")
    assert "WARNING: no such alarm fraud-5xx-typo (it guards nothing)" in armed["reason"]
    assert armed["missing_alarms"] == ["fraud-5xx-typo"]
