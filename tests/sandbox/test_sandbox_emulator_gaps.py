"""gaps/: every gap is still in moto (else its filler can go), and every filler is reversible."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto.events.models import Rule
from moto.events.utils import EventTemplateParser
from moto.s3.models import FakeBucket
from moto.sagemaker.models import SageMakerModelBackend

from sluice_cli.sandbox.gaps.awslambda import LambdaInvokeNeedsDocker, StepFunctionsLambdaTasks
from sluice_cli.sandbox.gaps.base import Gap
from sluice_cli.sandbox.gaps.cloudwatch import AlarmStateChangeEvents
from sluice_cli.sandbox.gaps.cloudwatch_metric_data import GetMetricDataSeriesIndex
from sluice_cli.sandbox.gaps.events import EventBridgeTargetEventAccount, S3EventBridgeEventIds
from sluice_cli.sandbox.gaps.probes import plain_moto
from sluice_cli.sandbox.gaps.registry import ALL_GAPS, EmulatorGaps
from sluice_cli.sandbox.gaps.s3 import S3BucketPolicyTransportCondition
from sluice_cli.sandbox.gaps.sagemaker_endpoint import UpdateEndpoint
from sluice_cli.sandbox.gaps.sagemaker_transform import (
    TransformJobCreateValidation,
    TransformJobLifecycle,
    fake_prediction,
)
from sluice_cli.sandbox.gaps.stepfunctions import StopExecutionInterrupts
from sluice_cli.sandbox.gaps.time_compression import TimeCompression


@pytest.mark.parametrize("gap", ALL_GAPS, ids=lambda gap: gap.name)
def test_gap_still_present_in_plain_moto(gap: type[Gap]) -> None:
    """If this fails, moto fixed the gap: delete its filler (and its row in docs/EMULATION.md)."""
    assert gap.still_present(), f"moto no longer has the gap {gap.name!r}: {gap.reason}"


def test_gap_still_present_transform_job_completes_at_once() -> None:
    assert TransformJobLifecycle.still_present()


def test_gap_still_present_transform_job_creation_unvalidated() -> None:
    assert TransformJobCreateValidation.still_present()


def test_gap_still_present_s3_eventbridge_events_share_one_id() -> None:
    assert S3EventBridgeEventIds.still_present()


def test_gap_still_present_put_events_delivered_without_account() -> None:
    assert EventBridgeTargetEventAccount.still_present()


def test_gap_still_present_bucket_policy_conditions_ignored() -> None:
    assert S3BucketPolicyTransportCondition.still_present()


def test_gap_still_present_lambda_invoke_needs_docker() -> None:
    assert LambdaInvokeNeedsDocker.still_present()


def test_fillers_install_and_uninstall_cleanly() -> None:
    originals = (
        SageMakerModelBackend.__dict__["create_transform_job"],
        Rule.__dict__["send_to_targets"],
        FakeBucket.__dict__["get_permission"],
        EventTemplateParser.__dict__["parse"],
    )
    gaps = EmulatorGaps.default()
    with gaps:
        assert all(gap.installed for gap in gaps.gaps)
        assert SageMakerModelBackend.__dict__["create_transform_job"] is not originals[0]
        assert Rule.__dict__["send_to_targets"] is not originals[1]
        assert FakeBucket.__dict__["get_permission"] is not originals[2]
        assert EventTemplateParser.__dict__["parse"] is not originals[3]
    assert not any(gap.installed for gap in gaps.gaps)
    assert (
        SageMakerModelBackend.__dict__["create_transform_job"],
        Rule.__dict__["send_to_targets"],
        FakeBucket.__dict__["get_permission"],
        EventTemplateParser.__dict__["parse"],
    ) == originals


def test_canary_fillers_install_and_uninstall_cleanly() -> None:
    from moto.awslambda.models import LambdaFunction
    from moto.cloudwatch.models import Alarm
    from moto.sagemaker.responses import SageMakerResponse
    from moto.stepfunctions.parser.asl.component.common.retry.jitter_strategy_decl import JitterStrategyDecl
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
    from moto.stepfunctions.parser.asl.eval.callback import callback
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    patched = [
        (SageMakerModelBackend, "update_endpoint_weights_and_capacities"),
        (Alarm, "update_state"),
        (LambdaFunction, "_invoke_lambda"),
        (LambdaFunction, "invoke"),
        (WaitFunction, "_wait_interval"),
        (JitterStrategyDecl, "_eval_body"),
        (callback, "Event"),
        (execute_state, "threading"),
        (ExecutionWorker, "stop"),
        (Environment, "set_error"),
    ]
    added = [(SageMakerModelBackend, "update_endpoint"), (SageMakerResponse, "update_endpoint")]
    originals = [owner.__dict__[name] for owner, name in patched]
    assert not any(name in owner.__dict__ for owner, name in added)
    gaps = EmulatorGaps(
        [UpdateEndpoint(), AlarmStateChangeEvents(), StepFunctionsLambdaTasks(), TimeCompression(0.5),
         StopExecutionInterrupts()]
    )  # fmt: skip
    with gaps:
        assert all(
            owner.__dict__[name] is not original
            for (owner, name), original in zip(patched, originals, strict=True)
        )
        assert all(name in owner.__dict__ for owner, name in added)
        assert gaps.get(TimeCompression).time_scale == 0.5
    assert [owner.__dict__[name] for owner, name in patched] == originals
    assert not any(name in owner.__dict__ for owner, name in added)


def test_default_gaps_take_the_sandbox_clock_and_endpoint_delay() -> None:
    gaps = EmulatorGaps.default(time_scale=0.02, update_delay_seconds=0.5)
    assert gaps.get(TimeCompression).time_scale == 0.02
    assert gaps.get(UpdateEndpoint).update_delay_seconds == 0.5
    assert {type(gap) for gap in gaps.gaps} == set(ALL_GAPS)


def test_uninstalling_out_of_order_is_refused() -> None:
    lifecycle, validation = TransformJobLifecycle(), TransformJobCreateValidation()
    lifecycle.install()
    validation.install()
    with pytest.raises(RuntimeError, match="reverse order"):
        lifecycle.uninstall()
    validation.uninstall()
    lifecycle.uninstall()
    assert not lifecycle.installed


def test_transport_condition_is_evaluated_as_tls() -> None:
    policy = {
        "Statement": [
            {"Effect": "Deny", "Action": "s3:*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            {"Effect": "Deny", "Action": "s3:Get*", "Condition": {"Bool": {"aws:SecureTransport": ["true"]}}},
            {"Effect": "Deny", "Action": "s3:Put*", "Condition": {"StringEquals": {"aws:username": "x"}}},
        ]
    }
    assert S3BucketPolicyTransportCondition.effective_policy(policy)["Statement"] == [
        {"Effect": "Deny", "Action": "s3:Get*"},
        {"Effect": "Deny", "Action": "s3:Put*", "Condition": {"StringEquals": {"aws:username": "x"}}},
    ]


def test_fake_prediction_is_deterministic() -> None:
    assert fake_prediction("1,2") == fake_prediction("1,2")
    score, line = fake_prediction("1,2").split(",", 1)
    assert line == "1,2"
    assert 0 <= float(score) < 1


def test_get_metric_data_from_the_series_index_answers_as_moto_does() -> None:
    """GetMetricDataSeriesIndex changes how fast GetMetricData answers, not what (but for one moto bug):
    the same values, timestamps and labels as moto's own scan, per series, per period, with a unit
    filter, in both orders."""

    def dimensions(variant: str) -> list[dict[str, str]]:
        return [{"Name": "EndpointName", "Value": "ep"}, {"Name": "VariantName", "Value": variant}]

    def stat(query_id: str, variant: str, metric: str, statistic: str, **extra: Any) -> dict[str, Any]:
        found = {"Namespace": "AWS/SageMaker", "MetricName": metric, "Dimensions": dimensions(variant)}
        return {"Id": query_id, "MetricStat": {"Metric": found, "Period": 120, "Stat": statistic, **extra}}

    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    queries = [
        stat("inv", "v1", "Invocations", "Sum"),
        stat("inv2", "v2", "Invocations", "Sum"),
        stat("lat", "v1", "ModelLatency", "SampleCount"),
        stat("max", "v1", "ModelLatency", "Maximum", Unit="Microseconds"),
        stat("none", "v3", "Invocations", "Sum"),
    ]
    with plain_moto() as clients:
        cloudwatch = clients("cloudwatch")
        for minute in range(10):
            at = start + timedelta(minutes=minute, seconds=7)
            for variant, count in (("v1", minute + 1), ("v2", 2 * minute)):
                cloudwatch.put_metric_data(
                    Namespace="AWS/SageMaker",
                    MetricData=[
                        {"MetricName": "Invocations", "Dimensions": dimensions(variant), "Timestamp": at,
                         "Value": float(count), "Unit": "Count"},
                        {"MetricName": "ModelLatency", "Dimensions": dimensions(variant), "Timestamp": at,
                         "Values": [100.0 * minute, 50.0], "Counts": [2.0, 1.0], "Unit": "Microseconds"},
                    ],
                )  # fmt: skip
            cloudwatch.put_metric_data(
                Namespace="Other",
                MetricData=[{"MetricName": "Invocations", "Dimensions": dimensions("v1"), "Timestamp": at,
                             "Value": 1000.0}],
            )  # fmt: skip

        def answer(scan_by: str) -> list[dict[str, Any]]:
            return cloudwatch.get_metric_data(
                MetricDataQueries=queries,
                StartTime=start + timedelta(seconds=30),
                EndTime=start + timedelta(minutes=9, seconds=30),
                ScanBy=scan_by,
            )["MetricDataResults"]

        scans = {scan_by: answer(scan_by) for scan_by in ("TimestampAscending", "TimestampDescending")}
        gap = GetMetricDataSeriesIndex()
        gap.install()
        try:
            indexed = {scan_by: answer(scan_by) for scan_by in scans}
        finally:
            gap.uninstall()

    # moto's scan counts the other namespace's datum of the same dimensions in v1's Invocations (its
    # dimension filter ignores the namespace); CloudWatch and the index do not: 2005 -> 5, ...
    (plain_v1, *plain_rest), (v1, *rest) = scans["TimestampAscending"], indexed["TimestampAscending"]
    assert plain_v1["Values"] == [2005.0, 2009.0, 2013.0, 2017.0, 1010.0]
    assert v1 == {**plain_v1, "Values": [5.0, 9.0, 13.0, 17.0, 10.0]}
    assert rest == plain_rest
    assert indexed["TimestampDescending"][1:] == scans["TimestampDescending"][1:]
    assert indexed["TimestampDescending"][0]["Values"] == [10.0, 17.0, 13.0, 9.0, 5.0]
    assert [len(r["Values"]) for r in scans["TimestampAscending"]] == [5, 5, 5, 5, 0]
