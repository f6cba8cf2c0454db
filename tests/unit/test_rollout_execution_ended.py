"""A rollout execution that ended while its rollout still ran (stopped by hand, timed out, failed in Step
Functions itself): settled when its "Execution Status Change" arrives, not at the next upload."""

from __future__ import annotations

from typing import Any

from rollout_fakes import (
    ENDPOINT,
    RolloutAslWalk,
    RolloutWorld,
    decision,
    events,
    production_world,
    status,
    upload_version,
)

from sluice.domain.rollout.execution_ended import execution_ended


def started(world: RolloutWorld, version: str = "v2", **kwargs: Any) -> tuple[str, str]:
    """(rollout id, execution ARN) of a version whose rollout started."""
    rollout_id = upload_version(world, version, **kwargs).details["rollout_id"]
    rollout = world.rollouts.rollout(ENDPOINT, rollout_id)
    assert rollout is not None
    return rollout_id, str(rollout["execution_arn"])


def ended(world: RolloutWorld, rollout_id: str, arn: str, how: str = "ABORTED") -> str | None:
    world.workflow.end(arn)
    return execution_ended(world.services, ENDPOINT, rollout_id, arn, how, world.clock())


def test_stopped_half_way_the_rollout_needs_attention_at_once_and_keeps_the_lease() -> None:
    world = production_world()
    rollout_id, arn = started(world, deploy={"rollout": {"steps": [10, 100]}})
    walk = RolloutAslWalk.of_started(world)
    walk.start()
    walk.to_bake()  # v2 at 10 %, baking, when someone stops the execution in the console

    assert ended(world, rollout_id, arn) == "NEEDS_ATTENTION"

    rollout = world.rollouts.rollout(ENDPOINT, rollout_id)
    assert rollout is not None
    assert rollout["status"] == "NEEDS_ATTENTION"
    assert rollout["reason"] == (
        f"its execution {arn} is no longer running but the rollout was BAKING: endpoint fraud is "
        "InService with v1 90 %, v2 10 %"
    )
    assert rollout["endpoint_state"] == {
        "v1": {"weight": 90.0, "instances": 3},
        "v2": {"weight": 10.0, "instances": 1},
    }
    lease = world.rollouts.lease(ENDPOINT)
    assert lease is not None and lease["rollout_id"] == rollout_id
    assert world.notifications(rollout_id)[-1]["status"] == "NEEDS_ATTENTION"
    assert (
        "ended ABORTED while the rollout was BAKING"
        in decision(world, rollout_id, "execution ended")["reason"]
    )
    assert world.endpoints.weights(ENDPOINT) == {"v1": (90.0, 3), "v2": (10.0, 1)}  # nothing touched


def test_ended_before_it_changed_anything_the_rollout_is_abandoned_and_the_lease_released() -> None:
    world = production_world()
    rollout_id, arn = started(world)

    assert ended(world, rollout_id, arn, "TIMED_OUT") == "ABANDONED"

    assert status(world, rollout_id) == "ABANDONED"
    assert world.rollouts.lease(ENDPOINT) is None
    reason = decision(world, rollout_id, "abandoned")["reason"]
    assert reason.endswith(
        "endpoint fraud is InService with v1 serving all traffic, so its lease was handed on"
    )
    assert world.notifications(rollout_id)[-1]["status"] == "ABANDONED"


def test_ended_in_one_piece_the_lease_passes_to_the_queued_version() -> None:
    world = production_world()
    rollout_id, arn = started(world)
    queued = upload_version(world, "v3").details["rollout_id"]
    assert status(world, queued) == "QUEUED"

    assert ended(world, rollout_id, arn, "FAILED") == "ABANDONED"

    lease = world.rollouts.lease(ENDPOINT)
    assert lease is not None and lease["rollout_id"] == queued
    assert [payload["version"] for _, payload in world.workflow.started] == ["v2", "v3"]
    assert "dequeued" in events(world, queued)


def test_an_execution_that_ended_its_rollout_itself_changes_nothing() -> None:
    """A rollback ends in the state machine's Fail state: the execution is FAILED, the rollout was
    recorded ROLLED_BACK before, and the event about it is not news."""
    world = production_world()
    rollout_id, arn = started(world)
    walk = RolloutAslWalk.of_started(world)
    walk.start()
    walk.rollback("RolloutAborted", "alarm")
    before = events(world, rollout_id)

    assert ended(world, rollout_id, arn, "FAILED") is None
    assert status(world, rollout_id) == "ROLLED_BACK"
    assert events(world, rollout_id) == before


def test_an_event_about_another_execution_of_the_rollout_changes_nothing() -> None:
    world = production_world()
    rollout_id, arn = started(world)

    earlier = arn + "-earlier"
    assert execution_ended(world.services, ENDPOINT, rollout_id, earlier, "ABORTED", world.clock()) is None
    assert status(world, rollout_id) == "STARTING"
    lease = world.rollouts.lease(ENDPOINT)
    assert lease is not None and lease["rollout_id"] == rollout_id
