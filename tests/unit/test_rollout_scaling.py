"""The baseline's whole autoscaling configuration survives a rollout (issue 9, finding 11): snapshotted
before promotion deregisters it (which deletes its policies and scheduled actions), kept in the rollout
record, and re-created on the variant that serves afterwards - the baseline after a rollback, the
promoted variant unless deploy.json has its own `autoscaling`."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from rollout_fakes import (
    ENDPOINT,
    FakeAwsError,
    RolloutAslWalk,
    RolloutWorld,
    decision,
    events,
    production_world,
    status,
    upload_version,
    walk_happy_path_like_rollout_asl,
)

from sluice.domain.rollout.resolve import resolve
from sluice.domain.rollout.scaling import (
    ScalingSnapshot,
    renamed_dimensions,
    repointed_alarm,
    requests_for,
)
from sluice.domain.rollout_plan import scalable_target

V1 = scalable_target(ENDPOINT, "v1")
V2 = scalable_target(ENDPOINT, "v2")
CPU_ALARM = "fraud-cpu-high"
SNS = "arn:aws:sns:us-east-1:123456789012:oncall"
SUSPENDED = {
    "DynamicScalingInSuspended": False,
    "DynamicScalingOutSuspended": False,
    "ScheduledScalingSuspended": True,
}


def variant_metric(variant: str) -> list[dict[str, str]]:
    return [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": variant}]


def scaled_like_a_demanding_user(world: RolloutWorld) -> None:
    """v1 as its user scaled it by hand: bounds and a suspended state; target tracking on a customized
    metric of v1; step scaling invoked by the user's own alarm on v1 (which also pages on-call); a
    recurring scheduled action with a timezone, start and end, and one with a minimum only."""
    aas = world.autoscaling
    aas.register({**V1, "MinCapacity": 2, "MaxCapacity": 8, "SuspendedState": SUSPENDED})
    aas.put_policy(
        {
            **V1,
            "PolicyName": "latency-target",
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": 250.5,
                "CustomizedMetricSpecification": {
                    "MetricName": "ModelLatency",
                    "Namespace": "AWS/SageMaker",
                    "Dimensions": variant_metric("v1"),
                    "Statistic": "Average",
                    "Unit": "Microseconds",
                },
                "ScaleInCooldown": 600,
                "ScaleOutCooldown": 30,
                "DisableScaleIn": True,
            },
        }
    )
    aas.put_policy(
        {
            **V1,
            "PolicyName": "cpu-steps",
            "PolicyType": "StepScaling",
            "StepScalingPolicyConfiguration": {
                "AdjustmentType": "ChangeInCapacity",
                "StepAdjustments": [
                    {
                        "MetricIntervalLowerBound": 0.0,
                        "MetricIntervalUpperBound": 20.0,
                        "ScalingAdjustment": 1,
                    },
                    {"MetricIntervalLowerBound": 20.0, "ScalingAdjustment": 3},
                ],
                "Cooldown": 120,
                "MetricAggregationType": "Maximum",
                "MinAdjustmentMagnitude": 1,
            },
        }
    )
    world.alarms.define(
        {
            "AlarmName": CPU_ALARM,
            "Namespace": "/aws/sagemaker/Endpoints",
            "MetricName": "CPUUtilization",
            "Dimensions": variant_metric("v1"),
            "Statistic": "Maximum",
            "Period": 60,
            "EvaluationPeriods": 2,
            "Threshold": 70.0,
            "ComparisonOperator": "GreaterThanThreshold",
            "AlarmActions": [policy_arn(world, "v1", "cpu-steps"), SNS],
        }
    )
    aas.put_scheduled_action(
        {
            **V1,
            "ScheduledActionName": "business-hours",
            "Schedule": "cron(0 8 ? * MON-FRI *)",
            "Timezone": "Europe/Berlin",
            "StartTime": "2026-01-01T00:00:00+00:00",
            "EndTime": "2027-01-01T00:00:00+00:00",
            "ScalableTargetAction": {"MinCapacity": 4, "MaxCapacity": 8},
        }
    )
    aas.put_scheduled_action(
        {
            **V1,
            "ScheduledActionName": "nights",
            "Schedule": "cron(0 20 * * ? *)",
            "ScalableTargetAction": {"MinCapacity": 2},
        }
    )


def policy_arn(world: RolloutWorld, variant: str, name: str) -> str:
    return str(world.autoscaling.policies[(ENDPOINT, variant)][name]["policy_arn"])


def as_it_was_on(before: dict[str, Any], variant: str) -> dict[str, Any]:
    """The configuration read on v1 before the rollout, as it must read on `variant`: its key, and the
    customized metric of v1 naming `variant`."""
    expected = copy.deepcopy(before)
    key = scalable_target(ENDPOINT, variant)
    expected["target"].update(key)
    for policy in expected["policies"]:
        policy["request"].update(key)
        policy.pop("policy_arn")
        policy.pop("alarms")
    tracking = expected["policies"][0]["request"]["TargetTrackingScalingPolicyConfiguration"]
    tracking["CustomizedMetricSpecification"]["Dimensions"] = variant_metric(variant)
    for action in expected["scheduled_actions"]:
        action.update(key)
    return expected


def read_on(world: RolloutWorld, variant: str) -> dict[str, Any]:
    found = world.autoscaling.configuration(ENDPOINT, variant)
    assert found is not None, f"{variant} is not a scalable target"
    for policy in found["policies"]:
        policy.pop("policy_arn")
        policy.pop("alarms")
    return found


def user_world() -> RolloutWorld:
    world = production_world(autoscaled=False)
    scaled_like_a_demanding_user(world)
    return world


def started(world: RolloutWorld, deploy: dict[str, Any] | None = None) -> tuple[str, RolloutAslWalk]:
    settings = {"rollout": {"steps": [50, 100], "bake_seconds": 60}, **(deploy or {})}
    outcome = upload_version(world, "v2", deploy=settings)
    assert outcome.status == "STARTED", outcome.message
    return outcome.details["rollout_id"], RolloutAslWalk.of_started(world)


# -- promotion --------------------------------------------------------------------------------------


def test_promotion_carries_every_policy_scheduled_action_and_bound_to_the_promoted_variant() -> None:
    world = user_world()
    before = world.autoscaling.configuration(ENDPOINT, "v1")
    assert before is not None
    old_arn = policy_arn(world, "v1", "cpu-steps")
    rollout_id, walk = started(world)

    walk_happy_path_like_rollout_asl(walk)

    assert status(world, rollout_id) == "PROMOTED"
    assert world.autoscaling.configuration(ENDPOINT, "v1") is None
    assert read_on(world, "v2") == as_it_was_on(before, "v2")
    # The user's step alarm invokes the re-created policy (a new ARN) and watches v2; the rest is as it was.
    alarm = world.alarms.alarms[CPU_ALARM].request
    new_arn = policy_arn(world, "v2", "cpu-steps")
    assert new_arn != old_arn
    assert alarm["AlarmActions"] == [new_arn, SNS]
    assert alarm["Dimensions"] == variant_metric("v2")
    assert alarm["Threshold"] == 70.0
    # The snapshot is in the rollout record and in the decision log, taken before the deregistration.
    rollout = world.rollouts.rollout(ENDPOINT, rollout_id)
    assert rollout is not None
    snapshot = ScalingSnapshot.from_dict(rollout["baseline_scaling"])
    assert snapshot.registered
    assert snapshot.policy_names == ["latency-target", "cpu-steps"]
    assert snapshot.action_names == ["business-hours", "nights"]
    assert snapshot.target["SuspendedState"] == SUSPENDED
    assert snapshot.step_alarms() == [CPU_ALARM]
    logged = decision(world, rollout_id, "autoscaling snapshot")
    assert logged["scaling"] == rollout["baseline_scaling"]
    assert "latency-target (TargetTrackingScaling), cpu-steps (StepScaling)" in logged["reason"]
    order = events(world, rollout_id)
    assert order.index("autoscaling snapshot") < order.index("autoscaling removed") < order.index("promoting")
    carried = decision(world, rollout_id, "autoscaling carried")["reason"]
    assert "policies latency-target, cpu-steps" in carried
    assert "scheduled actions business-hours, nights" in carried
    assert f"alarms {CPU_ALARM} now invoke the re-created step policies" in carried


def test_deploy_json_autoscaling_wins_and_the_log_names_what_is_not_carried() -> None:
    world = user_world()
    rollout_id, walk = started(world, {"autoscaling": {"min": 3, "max": 5, "max_rps": 10}})

    walk_happy_path_like_rollout_asl(walk)

    on_v2 = read_on(world, "v2")
    assert (on_v2["target"]["MinCapacity"], on_v2["target"]["MaxCapacity"]) == (3, 5)
    assert [p["request"]["PolicyName"] for p in on_v2["policies"]] == ["sluice-fraud-v2-invocations"]
    assert on_v2["scheduled_actions"] == []
    entry = decision(world, rollout_id, "autoscaling not carried")
    assert entry["reason"] == (
        "deploy.json's autoscaling replaces v1's on v2; not carried: policies latency-target, cpu-steps, "
        "scheduled actions business-hours, nights (the snapshot in this rollout's record has them); "
        f"alarms {CPU_ALARM} still name the deleted step policies"
    )
    assert (entry["policies"], entry["scheduled_actions"]) == (
        ["latency-target", "cpu-steps"],
        ["business-hours", "nights"],
    )


def test_a_retried_promotion_re_creates_from_the_first_snapshot() -> None:
    """Promote deregisters v1, then SageMaker is busy: the task is retried, v1 reads as unregistered
    now, and the snapshot stored by the first attempt is what gets carried."""
    world = user_world()
    before = world.autoscaling.configuration(ENDPOINT, "v1")
    assert before is not None
    rollout_id, walk = started(world)
    walk.start()
    for _ in range(2):
        walk.bake_times_out(walk.to_bake())
    assert walk.next_step() == "Promote"
    world.endpoints.busy = 1
    assert walk.fails("Promote")[0] == "EndpointBusy"
    assert world.autoscaling.configuration(ENDPOINT, "v1") is None

    walk.promote()  # the Retry on EndpointBusy

    assert status(world, rollout_id) == "PROMOTED"
    assert read_on(world, "v2") == as_it_was_on(before, "v2")
    assert events(world, rollout_id).count("autoscaling snapshot") == 1


def test_a_put_aws_refuses_is_logged_and_the_rest_is_carried() -> None:
    world = user_world()
    world.autoscaling.refuse["business-hours"] = "the start time is in the past"
    rollout_id, walk = started(world)

    walk_happy_path_like_rollout_asl(walk)

    assert status(world, rollout_id) == "PROMOTED"
    on_v2 = read_on(world, "v2")
    assert [a["ScheduledActionName"] for a in on_v2["scheduled_actions"]] == ["nights"]
    assert len(on_v2["policies"]) == 2
    entry = decision(world, rollout_id, "autoscaling carried")
    assert entry["refused"] == [
        "scheduled action business-hours: ValidationException: the start time is in the past"
    ]
    assert "NOT re-created: scheduled action business-hours" in entry["reason"]


# -- rollback and resolve -------------------------------------------------------------------------


def test_a_failed_promotion_restores_the_whole_configuration_on_the_baseline() -> None:
    world = user_world()
    before = world.autoscaling.configuration(ENDPOINT, "v1")
    assert before is not None
    old_arn = policy_arn(world, "v1", "cpu-steps")
    rollout_id, walk = started(world)
    walk.start()
    for _ in range(2):
        walk.bake_times_out(walk.to_bake())
    assert walk.next_step() == "Promote"
    world.endpoints.broken["update_endpoint"] = FakeAwsError("ValidationException: boom")
    error, cause = walk.fails("Promote")
    assert world.autoscaling.configuration(ENDPOINT, "v1") is None  # deleted with the scalable target
    del world.endpoints.broken["update_endpoint"]

    walk.rollback(error, cause)

    assert status(world, rollout_id) == "ROLLED_BACK"
    assert read_on(world, "v1") == as_it_was_on(before, "v1")
    assert world.autoscaling.configuration(ENDPOINT, "v2") is None
    alarm = world.alarms.alarms[CPU_ALARM].request
    assert alarm["AlarmActions"] == [policy_arn(world, "v1", "cpu-steps"), SNS] != [old_arn, SNS]
    assert alarm["Dimensions"] == variant_metric("v1")
    assert "autoscaling restored" in events(world, rollout_id)


def test_a_rollback_that_never_reached_the_promotion_changes_no_autoscaling() -> None:
    world = user_world()
    before = world.autoscaling.configuration(ENDPOINT, "v1")
    setup = len(world.calls)
    rollout_id, walk = started(world)
    walk.start()
    token = walk.to_bake()
    world.workflow.fail(token, "Sluice.Abort", "stop")
    walk.rollback("Sluice.Abort", "stop")

    assert status(world, rollout_id) == "ROLLED_BACK"
    assert world.autoscaling.configuration(ENDPOINT, "v1") == before
    writes = {"autoscaling.remove", "autoscaling.register", "autoscaling.put_policy", "alarms.update_alarm"}
    assert [call for call in world.calls[setup:] if call[0] in writes] == []


def test_resolve_re_creates_only_what_the_serving_variant_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """FinishPromotion failed half-way (throttled after the policies): NEEDS_ATTENTION with v2 serving.
    `resolve` puts the rest, and leaves what is there (a policy the human changed meanwhile) alone."""
    world = user_world()
    rollout_id, walk = started(world)
    walk.start()
    for _ in range(2):
        walk.bake_times_out(walk.to_bake())
    assert walk.next_step() == "Promote"
    walk.task("Promote")
    assert walk.after_in_service() == "FinishPromotion"

    def throttled(request: dict[str, Any]) -> None:
        raise FakeAwsError("ThrottlingException: Rate exceeded")

    with monkeypatch.context() as patched:
        patched.setattr(world.autoscaling, "put_scheduled_action", throttled)
        error, cause = walk.fails("FinishPromotion")
    walk.caught("NeedsAttention", error, cause)
    assert status(world, rollout_id) == "NEEDS_ATTENTION"
    changed = copy.deepcopy(world.autoscaling.policies[(ENDPOINT, "v2")]["latency-target"]["request"])
    changed["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] = 300.0
    world.autoscaling.put_policy(changed)

    result = resolve(world.services, ENDPOINT, "throttling passed", "alice", world.clock())

    assert result["serving"] == "v2"
    on_v2 = read_on(world, "v2")
    assert [a["ScheduledActionName"] for a in on_v2["scheduled_actions"]] == ["business-hours", "nights"]
    tracking = on_v2["policies"][0]["request"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 300.0
    assert "scheduled actions business-hours, nights" in decision(world, rollout_id, "resolved")["reason"]


# -- the rules, one by one ------------------------------------------------------------------------


def test_requests_move_the_key_and_the_variants_metric_and_nothing_else() -> None:
    snapshot = ScalingSnapshot(
        variant="v1",
        registered=True,
        target={**V1, "MinCapacity": 1, "MaxCapacity": 3},
        policies=[
            {
                "request": {
                    **V1,
                    "PolicyName": "p",
                    "PolicyType": "TargetTrackingScaling",
                    "TargetTrackingScalingPolicyConfiguration": {
                        "TargetValue": 1.0,
                        "CustomizedMetricSpecification": {
                            "Metrics": [
                                {
                                    "Id": "m",
                                    "MetricStat": {
                                        "Metric": {"MetricName": "X", "Dimensions": variant_metric("v1")},
                                        "Stat": "Sum",
                                    },
                                },
                                {
                                    "Id": "other",
                                    "Label": "v1 of another endpoint",
                                    "MetricStat": {
                                        "Metric": {
                                            "MetricName": "X",
                                            "Dimensions": [
                                                {"Name": "EndpointName", "Value": "elsewhere"},
                                                {"Name": "VariantName", "Value": "v1"},
                                            ],
                                        },
                                        "Stat": "Sum",
                                    },
                                },
                            ]
                        },
                    },
                },
                "policy_arn": "arn:old",
            }
        ],
        scheduled_actions=[{**V1, "ScheduledActionName": "a", "Schedule": "rate(1 day)"}],
    )
    same = requests_for(snapshot, ENDPOINT, "v1")
    assert same.put_scaling_policies == [snapshot.policies[0].request]
    moved = requests_for(snapshot, ENDPOINT, "v2")
    assert moved.register_scalable_target == {**V2, "MinCapacity": 1, "MaxCapacity": 3}
    assert moved.put_scheduled_actions == [{**V2, "ScheduledActionName": "a", "Schedule": "rate(1 day)"}]
    metrics = moved.put_scaling_policies[0]["TargetTrackingScalingPolicyConfiguration"][
        "CustomizedMetricSpecification"
    ]["Metrics"]
    assert metrics[0]["MetricStat"]["Metric"]["Dimensions"] == variant_metric("v2")
    assert metrics[1]["MetricStat"]["Metric"]["Dimensions"][1] == {"Name": "VariantName", "Value": "v1"}


def test_only_an_alarm_that_invokes_an_old_policy_arn_is_re_pointed() -> None:
    alarm = {"AlarmName": "a", "AlarmActions": [SNS], "Dimensions": variant_metric("v1")}
    arns = {"arn:old": "arn:new"}
    assert repointed_alarm(alarm, arns, ENDPOINT, "v1", "v2") is None  # not a step policy's: left alone
    assert repointed_alarm({**alarm, "OKActions": ["arn:old"]}, arns, ENDPOINT, "v1", "v2") == {
        **alarm,
        "OKActions": ["arn:new"],
        "Dimensions": variant_metric("v2"),
    }
    assert (
        repointed_alarm({**alarm, "OKActions": ["arn:old"]}, {"arn:old": "arn:old"}, ENDPOINT, "v1", "v1")
        is None
    )
    assert renamed_dimensions(alarm, ENDPOINT, "v1", "v1") == alarm
