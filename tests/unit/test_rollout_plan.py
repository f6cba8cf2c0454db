"""The rollout plan: names, requests, steps, alarms, autoscaling, first deployments and the queue."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sluice.domain.deploy_config import DeployConfig, parse_deploy_config
from sluice.domain.rollout_plan import (
    BaselineAutoscaling,
    BaselineContainer,
    BaselineState,
    BaselineVariant,
    FirstDeploymentPlan,
    QueuedVersion,
    RolloutPlan,
    alarm_names,
    candidate_instances,
    candidate_variant_name,
    decide_next_queued,
    fit_name,
    plan_first_deployment,
    plan_rollout,
)
from sluice.errors import RejectedConfiguration, RejectedName, RejectedTarget

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
PRODUCTION_IMAGE = f"{ECR}/fraud:1"
ALLOWED = (f"{ECR}", "763104351884.dkr.ecr.*.amazonaws.com")
ROLE = "arn:aws:iam::123456789012:role/sluice-models"
DATA = "s3://artifacts/endpoints/fraud/v2/model.tar.gz"
TAGS = [
    {"Key": "sluice:managed", "Value": "true"},
    {"Key": "sluice:endpoint", "Value": "fraud"},
    {"Key": "sluice:version", "Value": "v2"},
    {"Key": "sluice:rollout", "Value": "abc123"},
]


def config(**values: object) -> DeployConfig:
    return parse_deploy_config(json.dumps(values).encode())


def variant(**changes: Any) -> BaselineVariant:
    values: dict[str, Any] = {
        "variant_name": "v1",
        "model_name": "fraud-v1-aaa111",
        "instance_type": "ml.m5.xlarge",
        "current_instance_count": 4,
        "current_weight": 1.0,
        "containers": [BaselineContainer(image=PRODUCTION_IMAGE, environment={"THREADS": "2"})],
    }
    return BaselineVariant(**{**values, **changes})


def baseline(*variants: BaselineVariant, **changes: Any) -> BaselineState:
    return BaselineState(
        endpoint_config_name="fraud-v1-aaa111", variants=list(variants) or [variant()], **changes
    )


def plan(
    deploy: DeployConfig | None = None, state: BaselineState | None = None, **changes: Any
) -> RolloutPlan:
    arguments: dict[str, Any] = {
        "endpoint": "fraud",
        "version": "v2",
        "config": deploy or DeployConfig(),
        "baseline": state or baseline(),
        "model_data_url": DATA,
        "execution_role_arn": ROLE,
        "suffix": "abc123",
        "allowed_registries": ALLOWED,
    }
    return plan_rollout(**{**arguments, **changes})


def first(deploy: DeployConfig, **changes: Any) -> FirstDeploymentPlan:
    arguments: dict[str, Any] = {
        "endpoint": "fraud",
        "version": "v2",
        "config": deploy,
        "model_data_url": DATA,
        "execution_role_arn": ROLE,
        "suffix": "abc123",
        "allowed_registries": ALLOWED,
    }
    return plan_first_deployment(**{**arguments, **changes})


# --------------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------------


def test_names() -> None:
    names = plan().names
    assert names.model == "fraud-v2-abc123"
    assert names.candidate_variant == "v2"
    assert names.baseline_variant == "v1"
    assert names.candidate_config == "fraud-v2-abc123-canary"
    assert names.promote_config == "fraud-v2-abc123"
    assert names.baseline_config == "fraud-v1-aaa111"
    assert (names.error_alarm, names.latency_alarm) == ("sluice-fraud-v2-errors", "sluice-fraud-v2-latency")


def test_long_names_are_cut_with_a_digest() -> None:
    endpoint, version = "e" * 63, "v" * 32
    names = plan(endpoint=endpoint, version=version).names
    assert len(names.model) == 63
    assert names.model.startswith("e" * 47 + "-")
    assert names.model.endswith("-abc123")
    assert len(names.candidate_config) == 63
    assert names.candidate_config.endswith("-abc123-canary")
    assert names.candidate_config[:-14].rsplit("-", 1)[1] == names.model[:-7].rsplit("-", 1)[1]
    assert names.error_alarm == f"sluice-{endpoint}-{version}-errors"


def test_fit_name() -> None:
    assert fit_name("a", "-b") == "a-b"
    cut = fit_name("a-" * 40, "-z")
    assert len(cut) == 62  # 52 characters kept, less the hyphen they end on, then -<8 hex>-z
    assert cut.startswith("a-" * 25 + "a-")
    assert cut[-10:-2].isalnum()
    assert cut.endswith("-z")
    assert fit_name("a-" * 40, "-z") == cut
    with pytest.raises(ValueError, match="leaves no room"):
        fit_name("a" * 70, "-" + "z" * 60)


def test_candidate_variant_avoids_the_production_name() -> None:
    assert candidate_variant_name("v2", ["v1"], "abc123") == "v2"
    assert candidate_variant_name("v2", ["V2"], "abc123") == "v2-abc123"
    assert candidate_variant_name("v2--", ["v1"], "abc123") == "v2"
    assert plan(state=baseline(variant(variant_name="v2"))).names.candidate_variant == "v2-abc123"


def test_alarm_names() -> None:
    assert alarm_names("fraud", "v2-") == ("sluice-fraud-v2--errors", "sluice-fraud-v2--latency")


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"endpoint": "bad_name"}, RejectedName, "endpoint name 'bad_name' is not a valid SageMaker name"),
        ({"version": "v2.1"}, RejectedName, "version 'v2.1' contains '.'"),
        ({"suffix": "ABC"}, ValueError, "suffix must be 1 to 12 lowercase letters or digits"),
        ({"model_data_url": "https://x/y"}, ValueError, "model data must be an s3://<bucket>/<key> URI"),
    ],
)
def test_inputs_are_checked(changes: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        plan(**changes)


# --------------------------------------------------------------------------------------------------
# CreateModel
# --------------------------------------------------------------------------------------------------


def test_the_candidate_keeps_the_production_image_and_environment_by_default() -> None:
    assert plan().create_model == {
        "ModelName": "fraud-v2-abc123",
        "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {
            "Image": PRODUCTION_IMAGE,
            "ModelDataUrl": DATA,
            "Environment": {"THREADS": "2"},
        },
        "Tags": TAGS,
    }


def test_deploy_json_image_and_environment_replace_the_production_ones() -> None:
    created = plan(config(image=f"{ECR}/fraud:2", environment={"X": "1"})).create_model
    assert created["PrimaryContainer"] == {
        "Image": f"{ECR}/fraud:2",
        "ModelDataUrl": DATA,
        "Environment": {"X": "1"},
    }
    emptied = plan(config(environment={})).create_model
    assert emptied["PrimaryContainer"]["Environment"] == {}
    assert emptied["PrimaryContainer"]["Image"] == PRODUCTION_IMAGE


def test_an_image_outside_the_allow_list_is_rejected() -> None:
    with pytest.raises(RejectedConfiguration, match=r"comes from registry 'ghcr\.io'"):
        plan(config(image="ghcr.io/x/y:1"))
    with pytest.raises(RejectedConfiguration, match="names no registry host"):
        plan(config(containers=[{"image": "nginx"}]))


def test_the_production_image_is_kept_even_if_the_allow_list_changed_since() -> None:
    kept = plan(state=baseline(variant(containers=[BaselineContainer(image="quay.io/legacy:1")])))
    assert kept.create_model["PrimaryContainer"]["Image"] == "quay.io/legacy:1"


def test_multi_container_model() -> None:
    deploy = config(
        containers=[
            {"image": f"{ECR}/prep:1", "model_data": "s3://b/prep.tar.gz", "hostname": "prep"},
            {"image": f"{ECR}/static:1", "model_data": None, "hostname": "static"},
            {"image": f"{ECR}/model:1", "environment": {"T": "4"}, "hostname": "model"},
        ],
        inference_execution_mode="Direct",
    )
    created = plan(deploy).create_model
    assert "PrimaryContainer" not in created
    assert created["Containers"] == [
        {
            "Image": f"{ECR}/prep:1",
            "Environment": {},
            "ModelDataUrl": "s3://b/prep.tar.gz",
            "ContainerHostname": "prep",
        },
        {"Image": f"{ECR}/static:1", "Environment": {}, "ContainerHostname": "static"},
        {
            "Image": f"{ECR}/model:1",
            "Environment": {"T": "4"},
            "ModelDataUrl": DATA,
            "ContainerHostname": "model",
        },
    ]
    assert created["InferenceExecutionConfig"] == {"Mode": "Direct"}
    serial = plan(config(containers=[{"image": f"{ECR}/a:1"}])).create_model
    assert serial["Containers"] == [{"Image": f"{ECR}/a:1", "Environment": {}, "ModelDataUrl": DATA}]
    assert serial["InferenceExecutionConfig"] == {"Mode": "Serial"}


def test_a_multi_container_production_needs_containers_or_an_image() -> None:
    two = [
        BaselineContainer(image=f"{ECR}/a:1"),
        BaselineContainer(image=f"{ECR}/b:1", environment={"E": "1"}),
    ]
    state = baseline(variant(containers=two, inference_execution_mode="Serial"))
    with pytest.raises(RejectedConfiguration) as caught:
        plan(state=state)
    assert caught.value.reason == (
        "the production variant 'v1' of endpoint 'fraud' runs 2 containers: list them under \"containers\" "
        'in deploy.json (leave model_data out of the one that takes the upload), or set "image" for a '
        "single container"
    )
    single = plan(config(image=f"{ECR}/c:1"), state=state).create_model
    assert single["PrimaryContainer"] == {"Image": f"{ECR}/c:1", "ModelDataUrl": DATA, "Environment": {}}


def test_vpc_network_isolation_and_data_capture_are_carried_over() -> None:
    vpc = {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]}
    capture = {"EnableCapture": True, "InitialSamplingPercentage": 10, "DestinationS3Uri": "s3://c/"}
    state = baseline(
        variant(model_settings={"VpcConfig": vpc, "EnableNetworkIsolation": True, "ModelArn": "arn:x"}),
        config_settings={"DataCaptureConfig": capture, "KmsKeyId": "key", "CreationTime": "t"},
    )
    planned = plan(state=state)
    assert planned.create_model["VpcConfig"] == vpc
    assert planned.create_model["EnableNetworkIsolation"] is True
    assert "ModelArn" not in planned.create_model
    for request in (planned.candidate_config, planned.promote_config):
        assert request["DataCaptureConfig"] == capture
        assert request["KmsKeyId"] == "key"
        assert "CreationTime" not in request


# --------------------------------------------------------------------------------------------------
# Endpoint configs and steps
# --------------------------------------------------------------------------------------------------


def test_candidate_config_keeps_production_unchanged_and_adds_the_candidate_at_weight_0() -> None:
    state = baseline(variant(current_weight=3.0, current_instance_count=4))
    assert plan(state=state).candidate_config == {
        "EndpointConfigName": "fraud-v2-abc123-canary",
        "ProductionVariants": [
            {
                "VariantName": "v1",
                "ModelName": "fraud-v1-aaa111",
                "InstanceType": "ml.m5.xlarge",
                "InitialInstanceCount": 4,
                "InitialVariantWeight": 3.0,
            },
            {
                "VariantName": "v2",
                "ModelName": "fraud-v2-abc123",
                "InstanceType": "ml.m5.xlarge",
                "InitialInstanceCount": 1,
                "InitialVariantWeight": 0.0,
            },
        ],
        "Tags": TAGS,
    }


def test_promote_config_holds_the_candidate_alone() -> None:
    assert plan().promote_config == {
        "EndpointConfigName": "fraud-v2-abc123",
        "ProductionVariants": [
            {
                "VariantName": "v2",
                "ModelName": "fraud-v2-abc123",
                "InstanceType": "ml.m5.xlarge",
                "InitialInstanceCount": 4,
                "InitialVariantWeight": 1.0,
            }
        ],
        "Tags": TAGS,
    }


def test_instance_type_and_count_from_deploy_json() -> None:
    planned = plan(config(instance_type="ml.c5.2xlarge", initial_instance_count=6))
    candidate = planned.candidate_config["ProductionVariants"][1]
    assert candidate["InstanceType"] == "ml.c5.2xlarge"
    assert planned.candidate_config["ProductionVariants"][0]["InstanceType"] == "ml.m5.xlarge"
    assert planned.promote_config["ProductionVariants"][0]["InitialInstanceCount"] == 6
    assert planned.steps[-1].candidate_instances == 6
    smaller = plan(config(initial_instance_count=2))
    assert smaller.promote_config["ProductionVariants"][0]["InitialInstanceCount"] == 4


def test_steps_shift_weight_and_capacity_together() -> None:
    planned = plan(config(rollout={"steps": [10, 25, 50, 100]}))
    assert [(s.percent, s.candidate_instances, s.baseline_instances) for s in planned.steps] == [
        (10, 1, 4),
        (25, 1, 4),
        (50, 2, 4),
        (100, 4, 4),
    ]
    # The baseline's count is never sent: it keeps the capacity it has (autoscaling may have scaled it
    # out during the canary); DesiredInstanceCount left out is unchanged on SageMaker.
    assert planned.steps[2].desired_weights_and_capacities == [
        {"VariantName": "v2", "DesiredWeight": 50.0, "DesiredInstanceCount": 2},
        {"VariantName": "v1", "DesiredWeight": 50.0},
    ]
    assert planned.steps[2].rollback_weights_and_capacities == [
        {"VariantName": "v2", "DesiredWeight": 0.0, "DesiredInstanceCount": 2},
        {"VariantName": "v1", "DesiredWeight": 100.0},
    ]
    assert planned.rollback_weights == [
        {"VariantName": "v2", "DesiredWeight": 0.0, "DesiredInstanceCount": 1},
        {"VariantName": "v1", "DesiredWeight": 100.0},
    ]
    assert not any(step.awaits_approval for step in planned.steps)


def test_full_candidate_capacity_adds_every_instance_at_zero_percent() -> None:
    """`candidate_capacity: "full"`: the candidate is added at weight 0 with the count it keeps after
    promotion, and no step changes an instance count, so every step is a weights-only change."""
    planned = plan(
        config(initial_instance_count=5, rollout={"steps": [10, 50, 100], "candidate_capacity": "full"})
    )
    candidate = planned.candidate_config["ProductionVariants"][1]
    assert (candidate["InitialVariantWeight"], candidate["InitialInstanceCount"]) == (0.0, 5)
    assert [(s.percent, s.candidate_instances) for s in planned.steps] == [(10, 5), (50, 5), (100, 5)]
    assert planned.steps[0].desired_weights_and_capacities == [
        {"VariantName": "v2", "DesiredWeight": 10.0, "DesiredInstanceCount": 5},
        {"VariantName": "v1", "DesiredWeight": 90.0},
    ]
    assert planned.rollback_weights[0]["DesiredInstanceCount"] == 5
    assert planned.promote_config["ProductionVariants"][0]["InitialInstanceCount"] == 5


def test_candidate_capacity_is_per_step_or_full() -> None:
    with pytest.raises(RejectedConfiguration, match=r"rollout\.candidate_capacity"):
        config(rollout={"candidate_capacity": "half"})


def test_manual_approval_waits_before_the_last_step() -> None:
    planned = plan(config(rollout={"manual_approval": True, "steps": [20, 100], "bake_seconds": 60}))
    assert [step.awaits_approval for step in planned.steps] == [False, True]
    assert planned.manual_approval is True
    assert planned.bake_seconds == 60


@pytest.mark.parametrize(
    ("count", "percent", "expected"), [(1, 1, 1), (4, 10, 1), (4, 26, 2), (10, 100, 10), (3, 34, 2)]
)
def test_candidate_instances(count: int, percent: int, expected: int) -> None:
    assert candidate_instances(count, percent) == expected


def test_cleanup_lists() -> None:
    planned = plan()
    assert planned.cleanup_after_promotion.model_dump() == {
        "models": ["fraud-v1-aaa111"],
        "endpoint_configs": ["fraud-v1-aaa111", "fraud-v2-abc123-canary"],
        "alarms": ["sluice-fraud-v2-errors", "sluice-fraud-v2-latency"],
    }
    assert planned.cleanup_after_rollback.model_dump() == {
        "models": ["fraud-v2-abc123"],
        "endpoint_configs": ["fraud-v2-abc123-canary"],
        "alarms": ["sluice-fraud-v2-errors", "sluice-fraud-v2-latency"],
    }


def test_several_production_variants_are_refused() -> None:
    with pytest.raises(RejectedTarget) as caught:
        plan(state=baseline(variant(), variant(variant_name="b")))
    assert caught.value.reason == (
        "endpoint 'fraud' has 2 production variants ('v1', 'b'): Sluice rolls a version out against a single "
        "production variant. Another rollout or an A/B test is in place: finish it (sluice status / abort) "
        "before uploading"
    )


def test_serverless_production_is_refused() -> None:
    with pytest.raises(RejectedTarget, match="is serverless: Sluice rolls out onto instance-backed variants"):
        plan(state=baseline(variant(instance_type=None)))
    with pytest.raises(RejectedTarget, match="is serverless"):
        plan(config(instance_type="ml.m5.large"), state=baseline(variant(instance_type=None)))


def test_the_plan_is_json_and_round_trips() -> None:
    planned = plan(config(autoscaling={"min": 2, "max": 8, "max_rps": 50}, rollout={"alarms": ["mine"]}))
    text = json.dumps(planned.to_dict())
    assert RolloutPlan.from_dict(json.loads(text)) == planned


# --------------------------------------------------------------------------------------------------
# Autoscaling
# --------------------------------------------------------------------------------------------------


def test_autoscaling_from_deploy_json() -> None:
    planned = plan(config(autoscaling={"min": 2, "max": 8, "max_rps": 50}))
    scaling = planned.autoscaling
    assert scaling is not None
    assert scaling.resource_id == "endpoint/fraud/variant/v2"
    key = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/fraud/variant/v2",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    assert scaling.register_scalable_target == {**key, "MinCapacity": 2, "MaxCapacity": 8}
    assert scaling.deregister_scalable_target == key
    assert scaling.put_scaling_policy == {
        "PolicyName": "sluice-fraud-v2-invocations",
        **key,
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": 1500.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
            "ScaleInCooldown": 300,
            "ScaleOutCooldown": 60,
        },
    }
    assert planned.baseline_autoscaling is None


def test_without_deploy_json_autoscaling_the_plan_leaves_it_to_the_promotion() -> None:
    """The baseline's scaling is carried whole at promotion, from a snapshot taken just before it is
    deregistered (sluice.domain.rollout.scaling_carry): the plan has only deploy.json's. Its bounds still
    count for the capacity warnings, and baseline_autoscaling is kept for rollouts recorded without a
    snapshot."""
    registered = BaselineAutoscaling(min=1, max=9, target=700.0, scale_out_cooldown=30)
    planned = plan(state=baseline(variant(autoscaling=registered)))
    assert planned.autoscaling is None
    assert planned.warnings[0].startswith("endpoint 'fraud' at its autoscaling min (1) runs on a single")
    restore = planned.baseline_autoscaling
    assert restore is not None
    assert restore.resource_id == "endpoint/fraud/variant/v1"
    assert restore.register_scalable_target["MaxCapacity"] == 9
    assert restore.put_scaling_policy["TargetTrackingScalingPolicyConfiguration"] == {
        "TargetValue": 700.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "ScaleOutCooldown": 30,
    }


def test_deploy_json_autoscaling_wins_over_production() -> None:
    registered = BaselineAutoscaling(min=3, max=9, target=700.0)
    planned = plan(
        config(autoscaling={"min": 4, "max": 5, "max_rps": 10}),
        state=baseline(variant(autoscaling=registered)),
    )
    assert planned.autoscaling is not None
    assert planned.autoscaling.register_scalable_target["MaxCapacity"] == 5


def test_no_autoscaling_anywhere() -> None:
    planned = plan()
    assert planned.autoscaling is None
    assert planned.baseline_autoscaling is None


# --------------------------------------------------------------------------------------------------
# Alarms
# --------------------------------------------------------------------------------------------------

DIMENSIONS = [{"Name": "EndpointName", "Value": "fraud"}, {"Name": "VariantName", "Value": "v2"}]
ALARM_TAGS = TAGS[:3]


def metric(metric_id: str, name: str) -> dict[str, Any]:
    return {
        "Id": metric_id,
        "MetricStat": {
            "Metric": {"Namespace": "AWS/SageMaker", "MetricName": name, "Dimensions": DIMENSIONS},
            "Period": 60,
            "Stat": "Sum",
        },
        "ReturnData": False,
    }


def test_error_rate_alarm() -> None:
    errors = plan().alarms[0]
    assert errors == {
        "AlarmName": "sluice-fraud-v2-errors",
        "AlarmDescription": (
            "Error rate of variant 'v2' (version 'v2') of endpoint 'fraud' above 0.01: Invocation5XXErrors "
            "over Invocations (at least 100), per minute; client 4xx errors do not count. "
            "Sluice canary alarm: ALARM rolls the rollout back; deleted when the rollout ends."
        ),
        "Metrics": [
            metric("invocations", "Invocations"),
            metric("errors5xx", "Invocation5XXErrors"),
            {
                "Id": "errorrate",
                "Expression": "errors5xx / ((invocations + 100 + ABS(invocations - 100)) / 2)",
                "Label": "error rate",
                "ReturnData": True,
            },
        ],
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "Threshold": 0.01,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "missing",  # on_insufficient_data hold (the default): no data stays no data
        "Tags": ALARM_TAGS,
    }


def test_latency_alarm_is_in_microseconds() -> None:
    latency = plan(config(rollout={"auto_alarms": {"latency_p99_ms": 250}})).alarms[1]
    assert latency == {
        "AlarmName": "sluice-fraud-v2-latency",
        "AlarmDescription": (
            "p99 ModelLatency of variant 'v2' (version 'v2') of endpoint 'fraud' above 250 ms for 2 minutes. "
            "Sluice canary alarm: ALARM rolls the rollout back; deleted when the rollout ends."
        ),
        "Namespace": "AWS/SageMaker",
        "MetricName": "ModelLatency",
        "Dimensions": DIMENSIONS,
        "ExtendedStatistic": "p99",
        "Period": 60,
        "EvaluationPeriods": 2,
        "DatapointsToAlarm": 2,
        "Threshold": 250_000.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "missing",  # on_insufficient_data hold (the default): no data stays no data
        "Tags": ALARM_TAGS,
    }


def test_insufficient_data_can_roll_back() -> None:
    planned = plan(config(rollout={"on_insufficient_data": "rollback"}))
    assert {alarm["TreatMissingData"] for alarm in planned.alarms} == {"missing"}
    assert planned.on_insufficient_data == "rollback"


def test_alarms_watched_are_the_automatic_ones_and_the_users() -> None:
    planned = plan(config(rollout={"alarms": ["fraud-p50", "fraud-business-kpi"]}))
    assert planned.alarm_names == [
        "sluice-fraud-v2-errors",
        "sluice-fraud-v2-latency",
        "fraud-p50",
        "fraud-business-kpi",
    ]


def test_automatic_alarms_can_be_switched_off() -> None:
    none = plan(config(rollout={"auto_alarms": None, "alarms": ["mine"]}))
    assert none.alarms == []
    assert none.alarm_names == ["mine"]
    assert none.cleanup_after_promotion.alarms == []
    latency_only = plan(config(rollout={"auto_alarms": {"error_rate": None}}))
    assert [alarm["AlarmName"] for alarm in latency_only.alarms] == ["sluice-fraud-v2-latency"]
    errors_only = plan(config(rollout={"auto_alarms": {"latency_p99_ms": None}}))
    assert [alarm["AlarmName"] for alarm in errors_only.alarms] == ["sluice-fraud-v2-errors"]


# --------------------------------------------------------------------------------------------------
# Warnings
# --------------------------------------------------------------------------------------------------


def test_a_single_instance_production_gives_a_warning() -> None:
    planned = plan(state=baseline(variant(current_instance_count=1)))
    assert len(planned.warnings) == 1
    assert planned.warnings[0].startswith("endpoint 'fraud' runs on a single instance: ")


def test_require_multi_instance_rejects_a_single_instance_plan() -> None:
    with pytest.raises(RejectedConfiguration, match="endpoint 'fraud' would run on a single instance"):
        plan(config(require_multi_instance=True), state=baseline(variant(current_instance_count=1)))
    ok = plan(
        config(require_multi_instance=True, initial_instance_count=2),
        state=baseline(variant(current_instance_count=1)),
    )
    assert ok.warnings == []


def test_autoscaling_down_to_one_instance_gives_a_warning() -> None:
    planned = plan(config(autoscaling={"min": 1, "max": 8, "max_rps": 5}))
    assert planned.warnings == [
        planned.warnings[0],
    ]
    assert planned.warnings[0].startswith(
        "endpoint 'fraud' at its autoscaling min (1) runs on a single instance"
    )
    with pytest.raises(RejectedConfiguration, match="at its autoscaling min"):
        plan(config(autoscaling={"min": 1, "max": 8, "max_rps": 5}, require_multi_instance=True))


def test_more_instances_than_autoscaling_max_gives_a_warning() -> None:
    planned = plan(config(autoscaling={"min": 2, "max": 3, "max_rps": 5}))
    assert planned.warnings == [
        "endpoint 'fraud' will run 4 instances but its autoscaling max is 3: Application Auto Scaling will "
        "scale it in to 3 once registered"
    ]


# --------------------------------------------------------------------------------------------------
# First deployment
# --------------------------------------------------------------------------------------------------


def test_first_deployment() -> None:
    planned = first(config(image=f"{ECR}/fraud:2", instance_type="ml.m5.large"))
    assert planned.model_name == planned.endpoint_config_name == "fraud-v2-abc123"
    assert planned.variant_name == "v2"
    assert planned.create_model == {
        "ModelName": "fraud-v2-abc123",
        "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {"Image": f"{ECR}/fraud:2", "ModelDataUrl": DATA, "Environment": {}},
        "Tags": TAGS,
    }
    assert planned.endpoint_config == {
        "EndpointConfigName": "fraud-v2-abc123",
        "ProductionVariants": [
            {
                "VariantName": "v2",
                "ModelName": "fraud-v2-abc123",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 2,
                "InitialVariantWeight": 1.0,
            }
        ],
        "Tags": TAGS,
    }
    assert planned.create_endpoint == {
        "EndpointName": "fraud",
        "EndpointConfigName": "fraud-v2-abc123",
        "Tags": TAGS,
    }
    assert planned.autoscaling is None
    assert planned.warnings == []
    assert FirstDeploymentPlan.from_dict(json.loads(json.dumps(planned.to_dict()))) == planned


def test_first_deployment_needs_an_image_and_an_instance_type() -> None:
    with pytest.raises(RejectedConfiguration) as caught:
        first(config(instance_type="ml.m5.large"))
    assert caught.value.reason == (
        "endpoint 'fraud' does not exist yet, so there is no production image to keep: its first deployment "
        'needs "image" (or "containers") in deploy.json'
    )
    with pytest.raises(RejectedConfiguration) as caught:
        first(config(image=f"{ECR}/fraud:2"))
    assert caught.value.reason == (
        "endpoint 'fraud' does not exist yet, so there is no production instance type to keep: its first "
        'deployment needs "instance_type" in deploy.json, e.g. "ml.m5.xlarge"'
    )


def test_first_deployment_instance_count() -> None:
    base = {"image": f"{ECR}/fraud:2", "instance_type": "ml.m5.large"}
    count = lambda planned: planned.endpoint_config["ProductionVariants"][0]["InitialInstanceCount"]  # noqa: E731
    assert count(first(config(**base, initial_instance_count=5))) == 5
    assert count(first(config(**base, autoscaling={"min": 3, "max": 6, "max_rps": 5}))) == 3
    assert count(first(config(**base, autoscaling={"min": 1, "max": 1, "max_rps": 5}))) == 1
    single = first(config(**base, initial_instance_count=1))
    assert single.warnings[0].startswith("endpoint 'fraud' runs on a single instance")
    with pytest.raises(RejectedConfiguration, match="require_multi_instance"):
        first(config(**base, initial_instance_count=1, require_multi_instance=True))


def test_first_deployment_with_autoscaling_and_containers() -> None:
    planned = first(
        config(
            containers=[
                {"image": f"{ECR}/a:1", "hostname": "a"},
                {"image": f"{ECR}/b:1", "hostname": "b", "model_data": None},
            ],
            instance_type="ml.m5.large",
            autoscaling={"min": 2, "max": 4, "max_rps": 10, "safety_factor": 1},
        ),
        version="v3-",
    )
    assert planned.variant_name == "v3"
    assert planned.create_model["InferenceExecutionConfig"] == {"Mode": "Serial"}
    assert planned.autoscaling is not None
    assert planned.autoscaling.resource_id == "endpoint/fraud/variant/v3"
    assert (
        planned.autoscaling.put_scaling_policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"]
        == 600.0
    )


# --------------------------------------------------------------------------------------------------
# The lease queue
# --------------------------------------------------------------------------------------------------

T0 = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


def queued(version: str, minutes: int, object_version_id: str | None = None) -> QueuedVersion:
    return QueuedVersion(
        version=version,
        key=f"endpoints/fraud/{version}/model.tar.gz",
        uploaded_at=T0 + timedelta(minutes=minutes),
        object_version_id=object_version_id,
    )


def test_the_first_queued_version_supersedes_nothing() -> None:
    assert decide_next_queued(None, queued("v3", 1)) == (queued("v3", 1), None)


def test_a_newer_upload_supersedes_the_queued_one() -> None:
    assert decide_next_queued(queued("v3", 1), queued("v4", 2)) == (queued("v4", 2), queued("v3", 1))


def test_a_late_event_of_an_older_upload_is_itself_superseded() -> None:
    assert decide_next_queued(queued("v4", 2), queued("v3", 1)) == (queued("v4", 2), queued("v3", 1))


def test_a_redelivered_event_supersedes_nothing() -> None:
    assert decide_next_queued(queued("v3", 1, "a"), queued("v3", 1, "a")) == (queued("v3", 1, "a"), None)


def test_the_same_version_uploaded_again_replaces_the_queued_one() -> None:
    assert decide_next_queued(queued("v3", 1, "a"), queued("v3", 2, "b")) == (
        queued("v3", 2, "b"),
        queued("v3", 1, "a"),
    )


def test_queued_versions_round_trip_through_json() -> None:
    item = queued("v3", 1, "a")
    assert QueuedVersion.from_dict(json.loads(json.dumps(item.to_dict()))) == item
