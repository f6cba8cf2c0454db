"""Canary rollouts end to end on the sandbox: the real ASL on moto's Step Functions, the real handlers,
driven only through AWS APIs (S3 uploads, SageMaker, CloudWatch set-alarm-state), asserting on
DescribeEndpoint weights and the rollout's decision log.

Time is compressed (time_scale): a 300 s bake takes about 3 s, ReadEndpoint's 2 s reads 0.02 s (within
an invocation of at most 0.6 s), except where a test turns real time on (`real_time`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from integration_kit import UNJUDGED, aborted_in, make_archive
from rollouts_kit import IMAGE, Rollouts, new_endpoint_name, rollouts_in_a_sandbox

from sluice.adapters.registry import from_item
from sluice_cli.sandbox.gaps.sagemaker_endpoint import UpdateEndpoint
from sluice_cli.sandbox.gaps.time_compression import TimeCompression
from sluice_cli.sandbox.server import Sandbox

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rollouts() -> Iterator[Rollouts]:
    with rollouts_in_a_sandbox() as running:
        yield running


def test_a_version_is_promoted_step_by_step(rollouts: Rollouts) -> None:
    endpoint = rollouts.endpoint(count=2)
    rollouts.deploy_json(endpoint, {"rollout": {"steps": [10, 25, 50, 100], "bake_seconds": 60, **UNJUDGED}})
    rollouts.upload(endpoint, "v2")
    final = rollouts.finish(endpoint, "v2")

    assert final["status"] == "PROMOTED", rollouts.explain(endpoint, final["version"])
    assert rollouts.weights(endpoint) == {"v2": (1.0, 2)}
    history = rollouts.history(endpoint, final["rollout_id"])
    set_weights = [entry["weights"] for entry in history if entry["event"] == "weights set"]
    assert set_weights == [{"v2": p, "v1": 100 - p} for p in (10, 25, 50, 100)]
    reasons = [entry["reason"] for entry in history if entry["event"] == "weights set"]
    assert reasons[0] == "step 1/4: v2 10 % on 1 instance(s), v1 90 % on 2"
    assert [e["event"] for e in history][:4] == ["received", "started", "candidate added", "alarms armed"]
    assert [e["event"] for e in history][-3:] == ["promoting", "kept", "promoted"]
    # the user's own v1 model and config (made without Sluice) stay; Sluice's canary config is gone
    sm = rollouts.client("sagemaker")
    assert sm.describe_model(ModelName=f"{endpoint}-v1")["ModelName"] == f"{endpoint}-v1"
    configs = [c["EndpointConfigName"] for c in sm.list_endpoint_configs(MaxResults=100)["EndpointConfigs"]]
    assert f"{endpoint}-v1" in configs
    assert not [c for c in configs if c.startswith(f"{endpoint}-v2") and c.endswith("-canary")]
    alarms = rollouts.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"sluice-{endpoint}-")[
        "MetricAlarms"
    ]
    assert alarms == []  # the temporary alarms are cleaned up after promotion


def test_an_alarm_during_step_two_rolls_back_to_the_baseline(rollouts: Rollouts) -> None:
    endpoint = rollouts.endpoint(count=2)
    rollouts.deploy_json(endpoint, {"rollout": {"steps": [10, 50, 100], "bake_seconds": 600, **UNJUDGED}})
    rollouts.upload(endpoint, "v3")
    rollouts.wait_until(
        lambda: (
            rollouts.status(endpoint, "v3") == "BAKING"
            and rollouts.rollout_or_none(endpoint, "v3", "step_index") == 1
        ),
        what="the bake of step 2",
    )
    assert rollouts.weights(endpoint)["v3"][0] == 50.0

    fired_at = time.monotonic()
    rollouts.client("cloudwatch").set_alarm_state(
        AlarmName=f"sluice-{endpoint}-v3-errors",
        StateValue="ALARM",
        StateReason="Threshold Crossed: 1 datapoint [0.08] was greater than the threshold (0.01)",
    )
    rollouts.wait_until(
        lambda: rollouts.weights(endpoint).get("v1", (0,))[0] == 100.0, what="baseline at 100 %"
    )
    seconds_to_baseline = time.monotonic() - fired_at
    final = rollouts.finish(endpoint, "v3")

    assert seconds_to_baseline < 30  # seconds, not a bake's worth of minutes (not a timing benchmark)
    assert final["status"] == "ROLLED_BACK", rollouts.explain(endpoint, final["version"])
    assert final["alarm"] == f"sluice-{endpoint}-v3-errors"
    assert rollouts.weights(endpoint) == {"v1": (100.0, 2)}  # the candidate variant is gone
    history = rollouts.history(endpoint, final["rollout_id"])
    fired = [e for e in history if e["event"] == "alarm fired"]
    assert fired
    assert "0.08] was greater than the threshold" in fired[0]["reason"]
    events = [e["event"] for e in history]
    assert events.index("alarm fired") < events.index("rolling back") < events.index("rolled back")


def test_the_candidate_serves_the_validated_bytes_after_the_upload_key_is_overwritten(
    rollouts: Rollouts,
) -> None:
    """Issue 9, finding 24. SageMaker downloads ModelDataUrl again on every scale-out or instance
    replacement: the candidate model must name the validated object version's bytes, not the upload
    key, which anyone with write access to endpoints/ may overwrite (here: with bytes that are not even
    an archive) while the canary bakes."""
    endpoint = rollouts.endpoint()
    rollouts.deploy_json(endpoint, {"rollout": {"steps": [50, 100], "bake_seconds": 600}})
    validated = make_archive({"model.pth": b"v2 weights, validated"})
    put = rollouts.upload(endpoint, "v2", validated)
    rollouts.wait_for_status(endpoint, "v2", "BAKING")
    s3, sm = rollouts.client("s3"), rollouts.client("sagemaker")
    s3.put_object(Bucket=rollouts.bucket, Key=f"endpoints/{endpoint}/v2/model.tar.gz", Body=b"not validated")
    rollouts.sandbox.wait_idle(timeout=30, include_delayed=False)  # that upload's own intake: rejected

    rollout = rollouts.rollout(endpoint, "v2")
    model = sm.describe_model(ModelName=rollout["plan"]["create_model"]["ModelName"])
    url = model["PrimaryContainer"]["ModelDataUrl"]
    bucket, _, key = url.removeprefix("s3://").partition("/")
    served = s3.get_object(Bucket=bucket, Key=key)
    assert served["Body"].read() == validated
    assert served["Metadata"]["sluice-source-version-id"] == put["VersionId"]
    assert key.startswith(f"published/endpoints/{endpoint}/v2/")
    assert (
        rollout["model_data_url"],
        rollouts.history(endpoint, rollout["rollout_id"])[0]["model_data_url"],
    ) == (
        url,
        url,
    )
    # the copy started no rollout of its own: v2 is still the only one on the endpoint
    assert [r["version"] for r in rollouts.rollouts(endpoint)] == ["v2"]

    rollouts.client("cloudwatch").set_alarm_state(
        AlarmName=f"sluice-{endpoint}-v2-errors", StateValue="ALARM", StateReason="error rate 9 %"
    )
    assert rollouts.finish(endpoint, "v2")["status"] == "ROLLED_BACK", rollouts.explain(endpoint, "v2")
    # kept after the rollback (Sluice never deletes published model data), and never overwritten
    versions = s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]
    assert [v["VersionId"] for v in versions] == [served["VersionId"]]


UPDATE_SECONDS = 4.0  # `sluice sandbox serve --update-seconds 4`


@contextmanager
def real_time(sandbox: Sandbox, update_seconds: float) -> Iterator[None]:
    """The running sandbox at time scale 1 (as `make sandbox` serves: Step Functions' waits and the
    functions' own, both read at each use) with endpoint updates Updating `update_seconds`, for the
    duration."""
    compression, updates = sandbox.gaps.get(TimeCompression), sandbox.gaps.get(UpdateEndpoint)
    saved = compression.time_scale, updates.update_delay_seconds
    compression.time_scale, updates.update_delay_seconds = 1.0, update_seconds
    try:
        yield
    finally:
        compression.time_scale, updates.update_delay_seconds = saved


def test_an_alarm_while_a_step_is_updating_rolls_back_as_soon_as_the_endpoint_is_in_service(
    rollouts: Rollouts,
) -> None:
    """Real time, every endpoint update Updating for 4 s. The alarm fires while step 1's weights are
    being applied: ReadEndpoint, reading the endpoint every 2 s within its invocation, ends with
    RolloutAborted, and the rollback's weights call (refused while SageMaker is busy, retried every 2 s)
    goes out within about 2 s of the endpoint being InService again. Before (finding 27), the state
    machine read the endpoint every 15 s and saw the abort only at CheckAlarms after that: the baseline
    came back up to 15 s after InService."""
    sagemaker = rollouts.client("sagemaker")
    endpoint = rollouts.endpoint()
    rollouts.deploy_json(endpoint, {"rollout": {"steps": [50, 100], "bake_seconds": 600}})
    with real_time(rollouts.sandbox, UPDATE_SECONDS):
        rollouts.upload(endpoint, "v2")
        rollouts.wait_until(
            lambda: (
                rollouts.status(endpoint, "v2") == "SHIFTING"
                and sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "Updating"
            ),
            timeout=120,
            what="step 1's weights being applied",
        )
        rollouts.client("cloudwatch").set_alarm_state(
            AlarmName=f"sluice-{endpoint}-v2-errors", StateValue="ALARM", StateReason="error rate 9 %"
        )
        in_service = issued = None
        deadline = time.monotonic() + 60
        while issued is None and time.monotonic() < deadline:
            described = sagemaker.describe_endpoint(EndpointName=endpoint)
            now = time.monotonic()
            baseline = next(v for v in described["ProductionVariants"] if v["VariantName"] == "v1")
            if baseline.get("DesiredWeight") == 100.0:  # the rollback's weights call was accepted
                issued = now
            if in_service is None and (described["EndpointStatus"] == "InService" or issued):
                in_service = now
            time.sleep(0.05)
        final = rollouts.finish(endpoint, "v2", timeout=120)

    assert final["status"] == "ROLLED_BACK", rollouts.explain(endpoint, "v2")
    assert rollouts.weights(endpoint) == {"v1": (100.0, 2)}
    assert in_service is not None and issued is not None
    assert issued - in_service < 5  # the retry interval (2 s) and a little, not a 15 s poll
    # the abort ended the wait itself, not the boundary check after it
    assert aborted_in(rollouts.sandbox, final["execution_arn"]) == ["ReadEndpoint"]


def test_an_alarm_already_firing_refuses_the_rollout_and_changes_nothing(rollouts: Rollouts) -> None:
    endpoint = rollouts.endpoint()
    cloudwatch = rollouts.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=f"{endpoint}-p99",
        MetricName="ModelLatency",
        Namespace="AWS/SageMaker",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanThreshold",
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}],
    )
    cloudwatch.set_alarm_state(AlarmName=f"{endpoint}-p99", StateValue="ALARM", StateReason="p99 too high")
    rollouts.deploy_json(endpoint, {"rollout": {"alarms": [f"{endpoint}-p99"], "bake_seconds": 60}})
    rollouts.upload(endpoint, "v2")
    final = rollouts.finish(endpoint, "v2")

    assert final["status"] == "REFUSED", rollouts.explain(endpoint, final["version"])
    assert f"alarm {endpoint}-p99 is already in ALARM (p99 too high)" in final["reason"]
    assert rollouts.weights(endpoint) == {"v1": (1.0, 2)}
    models = rollouts.client("sagemaker").list_models()["Models"]  # moto ignores NameContains
    assert [m["ModelName"] for m in models if m["ModelName"].startswith(f"{endpoint}-v2")] == []


def test_two_uploads_during_a_rollout_only_the_newest_runs_next(rollouts: Rollouts) -> None:
    endpoint = rollouts.endpoint()
    rollouts.deploy_json(endpoint, {"rollout": {"steps": [50, 100], "bake_seconds": 300, **UNJUDGED}})
    rollouts.upload(endpoint, "v2")
    rollouts.wait_until(lambda: rollouts.status(endpoint, "v2") == "BAKING", what="v2 baking")
    rollouts.upload(endpoint, "v3")
    rollouts.wait_until(lambda: rollouts.status(endpoint, "v3") == "QUEUED", what="v3 queued")
    rollouts.upload(endpoint, "v4")
    rollouts.wait_until(lambda: rollouts.status(endpoint, "v3") == "SUPERSEDED", what="v3 superseded")

    assert rollouts.finish(endpoint, "v2")["status"] == "PROMOTED", rollouts.explain(endpoint, "v2")
    assert rollouts.finish(endpoint, "v4")["status"] == "PROMOTED"
    assert rollouts.status(endpoint, "v3") == "SUPERSEDED"
    assert rollouts.rollout_or_none(endpoint, "v3", "execution_arn") is None  # never ran
    assert rollouts.weights(endpoint) == {"v4": (1.0, 2)}
    assert "superseded" in rollouts.events(endpoint, "v3")


def test_first_deployment_creates_the_endpoint_at_100_percent(rollouts: Rollouts) -> None:
    endpoint = new_endpoint_name("new")
    rollouts.deploy_json(
        endpoint,
        {
            "image": IMAGE,
            "instance_type": "ml.m5.xlarge",
            "autoscaling": {"min": 2, "max": 4, "max_rps": 50, "safety_factor": 0.5},
        },
    )
    rollouts.upload(endpoint, "v1")
    final = rollouts.finish(endpoint, "v1")

    assert final["status"] == "DEPLOYED", rollouts.explain(endpoint, final["version"])
    assert rollouts.weights(endpoint) == {"v1": (1.0, 2)}
    policies = rollouts.client("application-autoscaling").describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=f"endpoint/{endpoint}/variant/v1"
    )["ScalingPolicies"]
    target = policies[0]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"]
    assert target == 50 * 0.5 * 60  # max_rps x safety_factor x 60


def test_autoscaling_moves_to_the_promoted_variant(rollouts: Rollouts) -> None:
    endpoint = rollouts.endpoint(autoscaling=True)
    rollouts.deploy_json(endpoint, {"rollout": {"steps": [100], "bake_seconds": 1, **UNJUDGED}})
    rollouts.upload(endpoint, "v2")
    assert rollouts.finish(endpoint, "v2")["status"] == "PROMOTED", rollouts.explain(endpoint, "v2")

    aas = rollouts.client("application-autoscaling")
    targets = aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    mine = {
        t["ResourceId"]: (t["MinCapacity"], t["MaxCapacity"])
        for t in targets
        if f"/{endpoint}/" in t["ResourceId"]
    }
    assert mine == {f"endpoint/{endpoint}/variant/v2": (2, 6)}


def test_an_invalid_deploy_json_is_rejected_and_nothing_changes(rollouts: Rollouts) -> None:
    endpoint = rollouts.endpoint()
    rollouts.deploy_json(endpoint, {"rollout": {"steps": [50, 25, 100]}}, version="v2")
    put = rollouts.upload(endpoint, "v2")
    rollouts.sandbox.wait_idle(timeout=30, include_delayed=False)

    assert rollouts.rollouts(endpoint) == []
    tags = rollouts.client("s3").get_object_tagging(
        Bucket=rollouts.bucket, Key=f"endpoints/{endpoint}/v2/model.tar.gz", VersionId=put["VersionId"]
    )["TagSet"]
    assert {"Key": "sluice:status", "Value": "rejected"} in tags
    assert rollouts.weights(endpoint) == {"v1": (1.0, 2)}


def test_a_restore_sagemaker_could_not_apply_needs_attention(rollouts: Rollouts) -> None:
    """The rollback's UpdateEndpoint back to the baseline config fails after Updating: the traffic is
    on the baseline already, but the candidate variant is still deployed. A human is needed, not a
    ROLLED_BACK that cleans up (deletes) the candidate config still in use."""
    endpoint = rollouts.endpoint()
    rollouts.deploy_json(endpoint, {"rollout": {"steps": [50, 100], "bake_seconds": 600}})
    rollouts.upload(endpoint, "v2")
    rollouts.wait_for_status(endpoint, "v2", "BAKING")
    rollouts.sandbox.gaps.get(UpdateEndpoint).fail_next_update(endpoint, "Internal error restoring instances")
    rollouts.client("cloudwatch").set_alarm_state(
        AlarmName=f"sluice-{endpoint}-v2-errors", StateValue="ALARM", StateReason="error rate 9 %"
    )
    final = rollouts.finish(endpoint, "v2")

    assert final["status"] == "NEEDS_ATTENTION", rollouts.explain(endpoint, final["version"])
    assert "Internal error restoring instances" in final["reason"]
    assert rollouts.weights(endpoint)["v1"][0] == 100.0
    config = rollouts.client("sagemaker").describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    assert config.endswith("-canary")
    assert rollouts.client("sagemaker").describe_endpoint_config(EndpointConfigName=config)


def test_an_update_whose_rollback_failed_is_not_waited_on_forever(rollouts: Rollouts) -> None:
    """UpdateRollbackFailed: SageMaker gave up half-way. It is not an update in progress (Sluice used to
    poll it until the execution's history ran out): the rollout ends NEEDS_ATTENTION with the reason."""
    endpoint = rollouts.endpoint()
    rollouts.sandbox.gaps.get(UpdateEndpoint).fail_next_update(
        endpoint, "Both the deployment and the rollback failed", rollback_failed=True
    )
    rollouts.deploy_json(endpoint, {"rollout": {"steps": [50, 100], "bake_seconds": 60}})
    rollouts.upload(endpoint, "v2")
    final = rollouts.finish(endpoint, "v2", timeout=60)

    assert final["status"] == "NEEDS_ATTENTION", rollouts.explain(endpoint, final["version"])
    assert "UpdateRollbackFailed: Both the deployment and the rollback failed" in final["reason"]


def test_a_baseline_scaled_out_during_the_canary_keeps_its_capacity_through_steps_and_rollback(
    rollouts: Rollouts,
) -> None:
    """Autoscaling (or an operator) scales the baseline from 2 to 4 instances while v2 bakes at 10 %.
    The next step must not pin it back to the 2 read at prepare time, and neither must the rollback."""
    endpoint = rollouts.endpoint(count=2)
    rollouts.deploy_json(endpoint, {"rollout": {"steps": [10, 50, 100], "bake_seconds": 300, **UNJUDGED}})
    rollouts.upload(endpoint, "v2")
    rollouts.wait_for_status(endpoint, "v2", "BAKING")
    rollouts.client("sagemaker").update_endpoint_weights_and_capacities(
        EndpointName=endpoint, DesiredWeightsAndCapacities=[{"VariantName": "v1", "DesiredInstanceCount": 4}]
    )
    rollouts.wait_until(
        lambda: rollouts.rollout_or_none(endpoint, "v2", "step_index") == 1, what="step 2 (50 %)"
    )
    assert rollouts.weights(endpoint)["v1"] == (50.0, 4)
    rollouts.client("cloudwatch").set_alarm_state(
        AlarmName=f"sluice-{endpoint}-v2-errors", StateValue="ALARM", StateReason="error rate 9 %"
    )
    final = rollouts.finish(endpoint, "v2")

    assert final["status"] == "ROLLED_BACK", rollouts.explain(endpoint, final["version"])
    assert rollouts.weights(endpoint) == {"v1": (100.0, 4)}


def test_the_baselines_hosting_settings_are_carried_into_the_canary(rollouts: Rollouts) -> None:
    """VolumeSizeInGB, download and health-check timeouts of the baseline variant are not reset to
    SageMaker's defaults by the canary config (which would redeploy the baseline)."""
    endpoint = rollouts.endpoint(count=2)
    sm = rollouts.client("sagemaker")
    hosting = {
        "VolumeSizeInGB": 64,
        "ModelDataDownloadTimeoutInSeconds": 1200,
        "ContainerStartupHealthCheckTimeoutInSeconds": 600,
    }
    (variant,) = sm.describe_endpoint_config(EndpointConfigName=f"{endpoint}-v1")["ProductionVariants"]
    sm.create_endpoint_config(
        EndpointConfigName=f"{endpoint}-v1-big",
        ProductionVariants=[{**variant, **hosting}],
        AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": f"s3://{rollouts.bucket}/async/"}},
    )
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=f"{endpoint}-v1-big")
    rollouts.deploy_json(endpoint, {"rollout": {"steps": [50, 100], "bake_seconds": 600}})
    rollouts.upload(endpoint, "v2")
    rollouts.wait_for_status(endpoint, "v2", "BAKING")

    canary = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    described = sm.describe_endpoint_config(EndpointConfigName=canary)
    baseline = next(v for v in described["ProductionVariants"] if v["VariantName"] == "v1")
    assert {key: baseline.get(key) for key in hosting} == hosting
    assert described["AsyncInferenceConfig"]["OutputConfig"]["S3OutputPath"].endswith("/async/")
    rollouts.client("stepfunctions").stop_execution(
        executionArn=rollouts.rollout(endpoint, "v2")["execution_arn"]
    )


def test_a_multi_container_version_is_promoted_with_its_containers(rollouts: Rollouts) -> None:
    endpoint = rollouts.endpoint()
    rollouts.deploy_json(
        endpoint,
        {
            "containers": [
                {"image": IMAGE, "hostname": "preprocess", "model_data": None},
                {"image": IMAGE.replace("pytorch-inference", "xgboost-inference"), "hostname": "predict"},
            ],
            "inference_execution_mode": "Serial",
            "rollout": {"steps": [100], "bake_seconds": 1, **UNJUDGED},
        },
    )
    rollouts.upload(endpoint, "v2")
    final = rollouts.finish(endpoint, "v2")

    assert final["status"] == "PROMOTED", rollouts.explain(endpoint, final["version"])
    sm = rollouts.client("sagemaker")
    config = sm.describe_endpoint_config(
        EndpointConfigName=sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    )
    model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    assert [c.get("ContainerHostname") for c in model["Containers"]] == ["preprocess", "predict"]
    assert "ModelDataUrl" not in model["Containers"][0]
    assert model["Containers"][1]["ModelDataUrl"] == final["model_data_url"]
    assert final["model_data_url"].startswith(f"s3://{rollouts.bucket}/published/endpoints/{endpoint}/v2/")
    # moto 5.2.5 drops InferenceExecutionConfig from DescribeModel: check what Sluice asked for instead.
    assert final["plan"]["create_model"]["InferenceExecutionConfig"] == {"Mode": "Serial"}


def test_an_image_outside_the_allow_list_is_rejected(rollouts: Rollouts) -> None:
    endpoint = rollouts.endpoint()
    rollouts.deploy_json(endpoint, {"image": "docker.io/someone/miner:latest"}, version="v2")
    put = rollouts.upload(endpoint, "v2")
    rollouts.sandbox.wait_idle(timeout=30, include_delayed=False)

    assert rollouts.rollouts(endpoint) == []
    intake = rollouts.client("dynamodb").get_item(
        TableName=rollouts.table,
        Key={
            "pk": {"S": f"intake#{rollouts.bucket}/endpoints/{endpoint}/v2/model.tar.gz"},
            "sk": {"S": f"version#{put['VersionId']}"},
        },
    )["Item"]
    reason = from_item(intake)["reason"]
    assert reason.startswith(f"endpoints/{endpoint}/v2/deploy.json: image: ")  # the file and the field
    assert "docker.io" in reason
    assert "763104351884.dkr.ecr" in reason  # the allow-list is named


def test_autoscaling_of_the_baseline_survives_a_rollback(rollouts: Rollouts) -> None:
    endpoint = rollouts.endpoint(autoscaling=True)
    rollouts.deploy_json(endpoint, {"rollout": {"steps": [50, 100], "bake_seconds": 600}})
    rollouts.upload(endpoint, "v2")
    rollouts.wait_for_status(endpoint, "v2", "BAKING")
    rollouts.client("cloudwatch").set_alarm_state(
        AlarmName=f"sluice-{endpoint}-v2-latency", StateValue="ALARM", StateReason="p99 above 500 ms"
    )
    assert rollouts.finish(endpoint, "v2")["status"] == "ROLLED_BACK", rollouts.explain(endpoint, "v2")

    aas = rollouts.client("application-autoscaling")
    targets = aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    mine = {
        t["ResourceId"]: (t["MinCapacity"], t["MaxCapacity"])
        for t in targets
        if f"/{endpoint}/" in t["ResourceId"]
    }
    assert mine == {f"endpoint/{endpoint}/variant/v1": (2, 6)}
    policies = aas.describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=f"endpoint/{endpoint}/variant/v1"
    )["ScalingPolicies"]
    assert policies[0]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 600.0


# -- the baseline's whole autoscaling configuration (issue 9, finding 11) -------------------------

STEP_SCALING = {
    "AdjustmentType": "ChangeInCapacity",
    "StepAdjustments": [
        {"MetricIntervalLowerBound": 0.0, "MetricIntervalUpperBound": 20.0, "ScalingAdjustment": 1},
        {"MetricIntervalLowerBound": 20.0, "ScalingAdjustment": 2},
    ],
    "Cooldown": 120,
    "MetricAggregationType": "Maximum",
}


def scale_by_hand(rollouts: Rollouts, endpoint: str) -> str:
    """What a user adds to v1's target tracking with plain APIs: bounds with scheduled scaling suspended,
    a step policy invoked by their own CPU alarm, two scheduled actions. Returns the alarm's name."""
    aas = rollouts.client("application-autoscaling")
    key = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": f"endpoint/{endpoint}/variant/v1",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    aas.register_scalable_target(
        **key, MinCapacity=2, MaxCapacity=5, SuspendedState={"ScheduledScalingSuspended": True}
    )
    arn = aas.put_scaling_policy(
        **key, PolicyName="cpu-steps", PolicyType="StepScaling", StepScalingPolicyConfiguration=STEP_SCALING
    )["PolicyARN"]
    aas.put_scheduled_action(
        **key,
        ScheduledActionName="business-hours",
        Schedule="cron(0 8 ? * MON-FRI *)",
        Timezone="Europe/Berlin",
        StartTime=datetime(2026, 1, 1, tzinfo=UTC),
        EndTime=datetime(2027, 1, 1, tzinfo=UTC),
        ScalableTargetAction={"MinCapacity": 3, "MaxCapacity": 5},
    )
    aas.put_scheduled_action(
        **key,
        ScheduledActionName="nights",
        Schedule="cron(0 20 * * ? *)",
        ScalableTargetAction={"MinCapacity": 2},
    )
    alarm = f"{endpoint}-cpu-high"
    rollouts.client("cloudwatch").put_metric_alarm(
        AlarmName=alarm,
        Namespace="/aws/sagemaker/Endpoints",
        MetricName="CPUUtilization",
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "v1"}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=2,
        Threshold=70.0,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[arn],
    )
    return alarm


def scaling_of(rollouts: Rollouts, endpoint: str, variant: str) -> dict[str, Any]:
    """DescribeScalableTargets / DescribeScalingPolicies / DescribeScheduledActions of a variant, without
    what AWS generates (ARNs, creation times, alarms) or the key."""
    aas = rollouts.client("application-autoscaling")
    rid = f"endpoint/{endpoint}/variant/{variant}"
    generated = {
        "PolicyARN",
        "ScheduledActionARN",
        "ScalableTargetARN",
        "CreationTime",
        "Alarms",
        "ResourceId",
    }

    def plain(item: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in item.items() if k not in generated and v is not None}

    targets = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[rid])[
        "ScalableTargets"
    ]
    policies = aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=rid)["ScalingPolicies"]
    actions = aas.describe_scheduled_actions(ServiceNamespace="sagemaker", ResourceId=rid)["ScheduledActions"]
    return {
        "target": [plain(t) for t in targets if t["ResourceId"] == rid],
        "policies": sorted(
            (plain(p) for p in policies if p["ResourceId"] == rid), key=lambda p: p["PolicyName"]
        ),
        "actions": sorted(
            (plain(a) for a in actions if a["ResourceId"] == rid), key=lambda a: a["ScheduledActionName"]
        ),
    }


def step_policy_arn(rollouts: Rollouts, endpoint: str, variant: str) -> str:
    policies = rollouts.client("application-autoscaling").describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=f"endpoint/{endpoint}/variant/{variant}"
    )["ScalingPolicies"]
    # by name here: moto 5.2.5 ignores DescribeScalingPolicies' PolicyNames (Sluice never filters by it)
    (found,) = [p for p in policies if p["PolicyName"] == "cpu-steps"]
    return str(found["PolicyARN"])


def test_a_failed_promotion_gives_the_baseline_back_its_whole_scaling_configuration(
    rollouts: Rollouts,
) -> None:
    """Promotion deregisters v1 (AWS then deletes its policies and scheduled actions), SageMaker fails
    the update, the rollout rolls back: v1 has every policy, scheduled action and bound it had, and the
    user's step alarm invokes the re-created step policy."""
    endpoint = rollouts.endpoint(autoscaling=True)
    alarm = scale_by_hand(rollouts, endpoint)
    before = scaling_of(rollouts, endpoint, "v1")
    old_arn = step_policy_arn(rollouts, endpoint, "v1")
    rollouts.deploy_json(endpoint, {"rollout": {"steps": [100], "bake_seconds": 300, **UNJUDGED}})
    rollouts.upload(endpoint, "v2")
    rollouts.wait_for_status(endpoint, "v2", "BAKING")
    rollouts.sandbox.gaps.get(UpdateEndpoint).fail_next_update(endpoint, "insufficient capacity")
    final = rollouts.finish(endpoint, "v2")

    assert final["status"] == "ROLLED_BACK", rollouts.explain(endpoint, "v2")
    assert scaling_of(rollouts, endpoint, "v1") == before
    assert "autoscaling removed" in rollouts.events(endpoint, "v2")
    assert len(before["policies"]) == 2 and len(before["actions"]) == 2
    assert scaling_of(rollouts, endpoint, "v2") == {"target": [], "policies": [], "actions": []}
    new_arn = step_policy_arn(rollouts, endpoint, "v1")
    (described,) = rollouts.client("cloudwatch").describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    assert described["AlarmActions"] == [new_arn] != [old_arn]
    assert final["baseline_scaling"]["variant"] == "v1"


def test_a_promotion_carries_the_baselines_whole_scaling_configuration(rollouts: Rollouts) -> None:
    endpoint = rollouts.endpoint(autoscaling=True)
    alarm = scale_by_hand(rollouts, endpoint)
    before = scaling_of(rollouts, endpoint, "v1")
    rollouts.deploy_json(endpoint, {"rollout": {"steps": [100], "bake_seconds": 1, **UNJUDGED}})
    rollouts.upload(endpoint, "v2")
    final = rollouts.finish(endpoint, "v2")

    assert final["status"] == "PROMOTED", rollouts.explain(endpoint, "v2")
    assert scaling_of(rollouts, endpoint, "v2") == before
    assert scaling_of(rollouts, endpoint, "v1") == {"target": [], "policies": [], "actions": []}
    (described,) = rollouts.client("cloudwatch").describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    assert described["AlarmActions"] == [step_policy_arn(rollouts, endpoint, "v2")]
    assert {"Name": "VariantName", "Value": "v2"} in described["Dimensions"]
    history = rollouts.history(endpoint, final["rollout_id"])
    (snapshot,) = [entry for entry in history if entry["event"] == "autoscaling snapshot"]
    names = sorted(p["request"]["PolicyName"] for p in snapshot["scaling"]["policies"])
    assert names == [p["PolicyName"] for p in before["policies"]]
    assert "autoscaling carried" in [entry["event"] for entry in history]
