"""A rollout that NEEDS_ATTENTION keeps its endpoint until a human resolves it: later uploads queue
behind it (also once its execution has ended), and `resolve` hands the lease on only when the endpoint
is in one piece again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rollout_fakes import (
    ENDPOINT,
    USER_ALARM,
    FakeAwsError,
    RolloutAslWalk,
    RolloutWorld,
    decision,
    production_world,
    status,
    upload_version,
    walk_happy_path_like_rollout_asl,
)

from sluice.domain.rollout.resolve import cancel_queued_version, resolve, state_machine_of
from sluice.domain.rollout.signals import request_abort
from sluice.domain.rollout_plan import scalable_target
from sluice.errors import NotResolvable

BASELINE_CONFIG = "fraud-v1-aaa111"
ERRORS_ALARM = "sluice-fraud-v2-errors"
LATENCY_ALARM = "sluice-fraud-v2-latency"


def stuck_world() -> tuple[RolloutWorld, str]:
    """v2 at 50 %, its rollback's weights call failing for good: NEEDS_ATTENTION, execution ended,
    well past the lease's grace period."""
    world = production_world()
    outcome = upload_version(world, "v2", deploy={"rollout": {"steps": [50, 100], "alarms": [USER_ALARM]}})
    rollout_id = outcome.details["rollout_id"]
    walk = RolloutAslWalk.of_started(world)
    walk.start()
    walk.to_bake()
    request_abort(world.services, ENDPOINT, rollout_id, "error spike", "alarm", world.clock())
    world.endpoints.broken["set_weights"] = FakeAwsError("InternalFailure: try later")
    for _ in range(5):
        error, cause = walk.fails("Rollback")
    walk.caught("NeedsAttention", error, cause)
    rollout = world.rollouts.rollout(ENDPOINT, rollout_id)
    assert rollout is not None and rollout["status"] == "NEEDS_ATTENTION"
    world.workflow.end(rollout["execution_arn"])
    world.clock.at += timedelta(minutes=30)
    del world.endpoints.broken["set_weights"]
    return world, rollout_id


def weights(world: RolloutWorld) -> dict[str, float]:
    return {name: float(v["weight"]) for name, v in world.endpoints.endpoints[ENDPOINT].variants.items()}


def all_traffic_to(world: RolloutWorld, variant: str) -> None:
    """What the human does by hand: UpdateEndpointWeightsAndCapacities."""
    for name, v in world.endpoints.endpoints[ENDPOINT].variants.items():
        v["weight"] = 1.0 if name == variant else 0.0


def test_an_upload_queues_behind_a_rollout_that_needs_attention_even_after_its_execution_ended() -> None:
    world, stuck = stuck_world()
    started_before = len(world.workflow.started)

    queued = upload_version(world, "v3").details["rollout_id"]

    assert status(world, queued) == "QUEUED"
    assert len(world.workflow.started) == started_before  # the dead execution's lease was not taken over
    lease = world.rollouts.lease(ENDPOINT)
    assert lease is not None and lease["rollout_id"] == stuck
    assert "needs attention" in decision(world, queued, "queued")["reason"]
    assert "`sluice resolve fraud`" in decision(world, queued, "queued")["reason"]


def test_resolve_refuses_while_the_endpoint_still_splits_traffic_and_changes_nothing() -> None:
    world, stuck = stuck_world()
    assert weights(world) == {"v1": 50.0, "v2": 50.0}

    with pytest.raises(NotResolvable, match=r"still splits traffic \(v1 50 %, v2 50 %\)"):
        resolve(world.services, ENDPOINT, "looked at it", "alice", world.clock())

    assert status(world, stuck) == "NEEDS_ATTENTION"
    lease = world.rollouts.lease(ENDPOINT)
    assert lease is not None and lease["rollout_id"] == stuck
    assert ERRORS_ALARM in world.alarms.alarms


def test_resolve_refuses_while_the_endpoint_is_updating() -> None:
    world, stuck = stuck_world()
    all_traffic_to(world, "v1")
    world.endpoints.endpoints[ENDPOINT].status = "Updating"

    with pytest.raises(NotResolvable, match="endpoint fraud is Updating, not InService"):
        resolve(world.services, ENDPOINT, "looked at it", "alice", world.clock())
    assert status(world, stuck) == "NEEDS_ATTENTION"


def test_resolve_records_who_and_why_cleans_up_and_starts_the_newest_queued_version() -> None:
    world, stuck = stuck_world()
    queued = upload_version(world, "v3").details["rollout_id"]
    world.endpoints.update_endpoint(ENDPOINT, BASELINE_CONFIG)  # the human went back to v1's config
    world.autoscaling.remove(scalable_target(ENDPOINT, "v1"))  # lost on the way

    result = resolve(world.services, ENDPOINT, "weights moved back by hand", "alice", world.clock())

    assert (result["rollout_id"], result["serving"], result["started"]) == (stuck, "v1", queued)
    assert status(world, stuck) == "RESOLVED"
    entry = decision(world, stuck, "resolved")
    assert entry["reason"].startswith("by alice: weights moved back by hand; v1 serves 100 %")
    assert "autoscaling registered again on v1" in entry["reason"]
    assert entry["weights"] == {"v1": 100.0}
    assert world.notifications(stuck)[-1]["status"] == "RESOLVED"
    # the rollout's own alarms are gone, the user's alarm it watched is not
    assert ERRORS_ALARM not in world.alarms.alarms and LATENCY_ALARM not in world.alarms.alarms
    assert USER_ALARM in world.alarms.alarms
    assert sorted(result["alarms_deleted"]) == [ERRORS_ALARM, LATENCY_ALARM]
    assert world.autoscaling.registration(ENDPOINT, "v1") is not None
    # the lease went straight to the queued version, which started
    lease = world.rollouts.lease(ENDPOINT)
    assert lease is not None and lease["rollout_id"] == queued
    assert world.workflow.started[-1][1]["rollout_id"] == queued
    assert status(world, queued) == "STARTING"


def test_resolve_will_not_start_a_queued_version_onto_an_endpoint_with_a_leftover_variant() -> None:
    world, stuck = stuck_world()
    queued = upload_version(world, "v3").details["rollout_id"]
    all_traffic_to(world, "v1")  # weights only: v2 is still deployed, at weight 0

    with pytest.raises(NotResolvable) as refused:
        resolve(world.services, ENDPOINT, "weights moved back", "alice", world.clock())

    assert str(refused.value).startswith(
        "endpoint fraud still has v2 deployed at weight 0, and version v3 is queued to run next"
    )
    assert f"--endpoint-config-name {BASELINE_CONFIG}" in str(refused.value)
    assert (status(world, stuck), status(world, queued)) == ("NEEDS_ATTENTION", "QUEUED")


def test_with_nothing_queued_a_leftover_variant_is_only_a_note() -> None:
    world, stuck = stuck_world()
    all_traffic_to(world, "v1")

    result = resolve(world.services, ENDPOINT, "weights moved back", "alice", world.clock())

    assert result["started"] is None
    assert status(world, stuck) == "RESOLVED"
    entry = decision(world, stuck, "resolved")
    assert "v2 still deployed at weight 0 (instances billed)" in entry["reason"]
    assert entry["weights"] == {"v1": 100.0, "v2": 0.0}
    assert world.rollouts.lease(ENDPOINT) is None


def test_resolve_can_cancel_the_queued_version_and_leave_the_endpoint_free() -> None:
    world, stuck = stuck_world()
    queued = upload_version(world, "v3").details["rollout_id"]
    all_traffic_to(world, "v2")  # the human kept the candidate
    started_before = len(world.workflow.started)

    result = resolve(
        world.services, ENDPOINT, "v2 is fine after all", "bob", world.clock(), cancel_queued=True
    )

    assert (result["serving"], result["cancelled"], result["started"]) == ("v2", queued, None)
    assert status(world, stuck) == "RESOLVED"
    assert status(world, queued) == "CANCELLED"
    assert decision(world, queued, "cancelled")["reason"] == f"by bob while resolving rollout {stuck}"
    assert world.rollouts.lease(ENDPOINT) is None
    assert len(world.workflow.started) == started_before
    # a later upload starts at once
    assert upload_version(world, "v4").status == "STARTED"


def test_resolve_accepts_a_deleted_endpoint() -> None:
    world, stuck = stuck_world()
    del world.endpoints.endpoints[ENDPOINT]

    result = resolve(world.services, ENDPOINT, "endpoint deleted, will redeploy", "alice", world.clock())

    assert result["serving"] is None
    assert status(world, stuck) == "RESOLVED"
    assert "endpoint fraud no longer exists" in decision(world, stuck, "resolved")["reason"]
    assert world.rollouts.lease(ENDPOINT) is None


def test_resolve_with_nothing_needing_attention_says_so() -> None:
    world = production_world()
    with pytest.raises(
        NotResolvable, match="no rollout of endpoint fraud needs attention: nothing to resolve"
    ):
        resolve(world.services, ENDPOINT, "?", "alice", world.clock())


def test_the_state_machine_of_an_execution() -> None:
    assert (
        state_machine_of("arn:aws:states:us-east-1:123456789012:execution:sluice-rollout:fraud-v2-abc123")
        == "arn:aws:states:us-east-1:123456789012:stateMachine:sluice-rollout"
    )


def test_a_queued_version_can_be_cancelled_and_never_starts() -> None:
    world = production_world()
    running = upload_version(world, "v2", deploy={"rollout": {"steps": [100]}}).details["rollout_id"]
    walk = RolloutAslWalk.of_started(world)
    queued = upload_version(world, "v3").details["rollout_id"]
    assert status(world, queued) == "QUEUED"

    dropped = cancel_queued_version(world.services, ENDPOINT, "(wrong artifact)", "carol", world.clock())

    assert dropped is not None and dropped["rollout_id"] == queued
    assert status(world, queued) == "CANCELLED"
    assert decision(world, queued, "cancelled")["reason"] == "by carol (wrong artifact)"
    assert world.notifications(queued)[-1]["status"] == "CANCELLED"
    assert cancel_queued_version(world.services, ENDPOINT, "", "carol", world.clock()) is None
    # the running rollout ends: the lease is released, v3 does not start
    walk_happy_path_like_rollout_asl(walk)
    assert status(world, running) == "PROMOTED"
    assert world.rollouts.lease(ENDPOINT) is None
    assert [payload["version"] for _, payload in world.workflow.started] == ["v2"]
