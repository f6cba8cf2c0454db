"""Has the endpoint done what the rollout asked? InService on the old config is a failed update. And
how ReadEndpoint waits for an endpoint still updating: within its invocation, interrupted by an abort
while a step's weights are being applied (issue 9, finding 27)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rollout_fakes import (
    ENDPOINT,
    POLL_BUDGET,
    POLL_INTERVAL,
    RolloutAslWalk,
    RolloutWorld,
    WaitClock,
    caught_to,
    choose,
    events,
    production_world,
    retrier_for,
    status,
    upload_version,
)

from sluice.domain.rollout.endpoint_check import Expectation, read
from sluice.domain.rollout.polling import POLL_MARGIN_SECONDS, EndpointPolling
from sluice.domain.rollout.signals import alarm_fired, request_abort


def endpoint(
    status: str, config: str, weights: dict[str, float], failure: str | None = None
) -> dict[str, Any]:
    return {
        "status": status,
        "failure_reason": failure,
        "config_name": config,
        "variants": [{"variant_name": name, "current_weight": weight} for name, weight in weights.items()],
    }


def test_in_service_on_the_config_asked_for_is_ready() -> None:
    reading = read(Expectation("ep-v2-canary"), endpoint("InService", "ep-v2-canary", {"v1": 1.0, "v2": 0.0}))
    assert (reading.status, reading.outcome) == ("InService", "ready")


@pytest.mark.parametrize("status", ["Creating", "Updating", "SystemUpdating", "RollingBack"])
def test_an_update_in_progress_means_wait(status: str) -> None:
    assert read(Expectation("new"), endpoint(status, "old", {"v1": 1.0})).outcome == "waiting"


def test_in_service_on_the_previous_config_is_a_failed_update_with_sagemakers_reason() -> None:
    """What SageMaker shows after a failed UpdateEndpoint: InService, the old config, a FailureReason."""
    reading = read(
        Expectation("ep-v2-promote"),
        endpoint("InService", "ep-v2-canary", {"v1": 0.0, "v2": 1.0}, failure="Insufficient capacity"),
    )
    assert reading.outcome == "failed"
    assert reading.reason == (
        "the update did not apply: the endpoint is InService on ep-v2-canary, not ep-v2-promote: "
        "Insufficient capacity"
    )


def test_weights_that_did_not_apply_are_a_failure() -> None:
    reading = read(
        Expectation("canary", {"v2": 50.0, "v1": 50.0}),
        endpoint("InService", "canary", {"v1": 0.9, "v2": 0.1}),
    )
    assert reading.outcome == "failed"
    assert "the weights did not apply" in reading.reason


def test_weights_compare_as_shares_of_traffic() -> None:
    """SageMaker keeps weights as given (50/50 or 1/1 both split traffic in two)."""
    expected = Expectation("canary", {"v2": 50.0, "v1": 50.0})
    assert read(expected, endpoint("InService", "canary", {"v1": 1.0, "v2": 1.0})).outcome == "ready"
    at_zero = Expectation("canary", {"v2": 100.0, "v1": 0.0})
    assert read(at_zero, endpoint("InService", "canary", {"v1": 0.0, "v2": 3.0})).outcome == "ready"


@pytest.mark.parametrize(
    ("status", "failure"),
    [
        ("UpdateRollbackFailed", "Both the deployment and the rollback failed"),
        ("Failed", "The primary container did not pass the ping health check"),
        ("OutOfService", None),
    ],
)
def test_an_endpoint_that_gave_up_is_a_failure_with_its_reason(status: str, failure: str | None) -> None:
    """UpdateRollbackFailed is not waited on: SageMaker stopped, with old and new configs mixed."""
    reading = read(Expectation("new"), endpoint(status, "old", {"v1": 1.0}, failure=failure))
    assert reading.outcome == "failed"
    assert reading.reason == f"endpoint is {status}: {failure or 'no FailureReason given'}"


def test_an_endpoint_deleted_during_the_rollout_is_a_failure() -> None:
    reading = read(Expectation("new"), None)
    assert (reading.status, reading.outcome) == ("Deleted", "failed")


# -- waiting within the invocation ---------------------------------------------------------------

ERRORS_ALARM = "sluice-fraud-v2-errors"
ALARM_REASON = "Threshold Crossed: 1 datapoint [0.09] was greater than the threshold (0.01)"


def rollout_at_first_step(world: RolloutWorld) -> tuple[str, RolloutAslWalk]:
    """v2's canary with step 1's weights just set (NextStep → StepAction → ReadEndpoint next)."""
    outcome = upload_version(world, "v2")
    walk = RolloutAslWalk.of_started(world)
    walk.start()
    assert walk.next_step() == "ReadEndpoint"
    return outcome.details["rollout_id"], walk


def updating_for(world: RolloutWorld, seconds: float) -> None:
    """SageMaker applies the change for `seconds` of the waiting task's clock (Updating, then InService)."""
    described = world.endpoints.endpoints[ENDPOINT]
    described.status = "Updating"
    world.waits.after(seconds, lambda: setattr(described, "status", "InService"))


def alarm_fires_after(world: RolloutWorld, seconds: float) -> None:
    """The candidate's alarm goes to ALARM while the task sleeps: the alarm handler flags the abort."""

    def fire() -> None:
        world.alarms.set_state(ERRORS_ALARM, "ALARM", ALARM_REASON)
        alarm_fired(world.services, ERRORS_ALARM, ALARM_REASON, world.clock())

    world.waits.after(seconds, fire)


def abort_requested_after(world: RolloutWorld, rollout_id: str, seconds: float) -> None:
    """`sluice abort` while the task sleeps."""
    world.waits.after(
        seconds,
        lambda: request_abort(
            world.services, ENDPOINT, rollout_id, "operator: bad canary", "alice", world.clock()
        ),
    )


def read_step_one(updating_seconds: float | None) -> tuple[RolloutWorld, RolloutAslWalk, int]:
    """ReadEndpoint after step 1's weights, the endpoint Updating for `updating_seconds` of the task's
    clock (None: applied at once): the world, the walk and how many DescribeEndpoint calls it made."""
    world = production_world()
    _, walk = rollout_at_first_step(world)
    if updating_seconds is not None:
        updating_for(world, updating_seconds)
    reads = world.endpoints.reads
    walk.task("ReadEndpoint")
    return world, walk, world.endpoints.reads - reads


def test_an_endpoint_still_updating_is_read_every_interval_until_ready_in_one_invocation() -> None:
    world, walk, reads = read_step_one(7)

    assert walk.state["endpoint_state"] == {"status": "InService", "outcome": "ready", "reason": ""}
    assert choose("EndpointStatus", walk.state) == "AfterInService"
    # read at once, then at 2, 4, 6 (Updating) and 8 s (InService): seen within one interval
    assert reads == 5
    assert world.waits.slept == [POLL_INTERVAL] * 4


def test_an_endpoint_already_applied_is_read_once_without_waiting() -> None:
    world, walk, reads = read_step_one(None)
    assert walk.state["endpoint_state"]["outcome"] == "ready"
    assert (reads, world.waits.slept) == (1, [])


def test_the_budget_spent_answers_waiting_for_the_state_machine_to_loop() -> None:
    world, walk, reads = read_step_one(3600)

    assert walk.state["endpoint_state"] == {"status": "Updating", "outcome": "waiting", "reason": ""}
    assert choose("EndpointStatus", walk.state) == "WaitForEndpoint"
    assert sum(world.waits.slept) == POLL_BUDGET  # never past the budget
    assert reads == POLL_BUDGET / POLL_INTERVAL + 1  # 0, 2, ... 60 s
    # a pass of the state machine's loop now stands for a minute of Updating, not 15 s
    assert world.waits.now == POLL_BUDGET


def test_the_budget_ends_short_of_the_invocations_deadline() -> None:
    polling = EndpointPolling(WaitClock(), interval=2.0, budget=60.0)
    assert polling.within(None) == polling
    assert polling.within(120.0).budget == 60.0
    assert polling.within(40.0).budget == 40.0 - POLL_MARGIN_SECONDS
    assert polling.within(5.0).budget == 0.0  # one read, no waiting
    assert not polling.within(5.0).another_read_fits(0.0)
    assert not EndpointPolling().another_read_fits(0.0)  # no clock: one read


def test_an_abort_while_a_steps_weights_are_applied_ends_the_wait_and_rolls_back() -> None:
    """The alarm fires 5 s into the step's Updating phase: the task ends with RolloutAborted at its next
    read instead of waiting for InService, the state machine neither retries it nor reads it as an
    unreadable endpoint, and rolls back; the rollback's own wait is not ended by that same abort."""
    world = production_world()
    rollout_id, walk = rollout_at_first_step(world)
    updating_for(world, 30)
    alarm_fires_after(world, 5)

    error, cause = walk.fails("ReadEndpoint")

    assert (error, json.loads(cause)["errorMessage"]) == (
        "RolloutAborted",
        f"alarm {ERRORS_ALARM} is in ALARM: {ALARM_REASON}",
    )
    assert world.waits.slept == [POLL_INTERVAL] * 3  # seen at the first read after the alarm (6 s)
    retrier = retrier_for("ReadEndpoint", error)
    assert retrier is not None and retrier["MaxAttempts"] == 0  # never retried
    assert caught_to("ReadEndpoint", error) == "Rollback"

    walk.caught("Rollback", error, cause)
    assert world.endpoints.weights(ENDPOINT)["v1"][0] == 100.0
    walk.task("RestoreBaselineConfig")
    walk.task("ReadEndpoint")  # phase rollback, abort still on record: waits for InService (30 s)
    assert walk.state["endpoint_state"]["outcome"] == "ready"
    assert world.waits.now >= 30
    assert choose("AfterInService", walk.state) == "FinishRollback"
    walk.task("FinishRollback")
    assert status(world, rollout_id) == "ROLLED_BACK"
    assert events(world, rollout_id)[-4:] == [
        "alarm fired",
        "rolling back",
        "candidate removed",
        "rolled back",
    ]


def test_an_abort_while_the_candidate_joins_at_zero_percent_waits_for_in_service() -> None:
    """After AddCandidate the candidate has no traffic, and a rollback in mid-UpdateEndpoint would find
    the baseline config still named: the wait goes on, CreateAlarms aborts once the update applied."""
    world = production_world()
    rollout_id = upload_version(world, "v2").details["rollout_id"]
    walk = RolloutAslWalk.of_started(world)
    walk.task("Prepare")
    walk.task("AddCandidate")
    updating_for(world, 9)
    abort_requested_after(world, rollout_id, 1)

    assert walk.after_in_service() == "CreateAlarms"
    assert world.waits.now == 10
    error, cause = walk.fails("CreateAlarms")
    assert (error, json.loads(cause)["errorMessage"]) == ("RolloutAborted", "operator: bad canary")
    assert len(world.endpoints.weight_history) == 0  # no step's weights were ever set


def test_read_endpoint_retries_other_failures_then_treats_the_endpoint_as_unreadable() -> None:
    retrier = retrier_for("ReadEndpoint", "ClientError")
    assert retrier is not None and retrier["MaxAttempts"] > 0
    assert caught_to("ReadEndpoint", "ClientError") == "EndpointUnreadable"
