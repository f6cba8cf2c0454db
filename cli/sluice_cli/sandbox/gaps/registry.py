"""Every gap-filler of the sandbox, in the order installed (`EmulatorGaps`)."""

from __future__ import annotations

from types import TracebackType
from typing import Self, TypeVar

from sluice_cli.sandbox.gaps.autoscaling import (
    AutoscalingObjectNotFound,
    DeregisterDeletesScalingConfiguration,
    PutNeedsScalableTarget,
    StepScalingPolicyAlarms,
)
from sluice_cli.sandbox.gaps.awslambda import (
    LambdaEventInvocations,
    LambdaInvokeNeedsDocker,
    StepFunctionsLambdaTasks,
)
from sluice_cli.sandbox.gaps.base import Gap
from sluice_cli.sandbox.gaps.cloudformation import SandboxStackRecord
from sluice_cli.sandbox.gaps.cloudwatch import AlarmStateChangeEvents, MetricAlarmEvaluation
from sluice_cli.sandbox.gaps.cloudwatch_metric_data import GetMetricDataSeriesIndex
from sluice_cli.sandbox.gaps.cloudwatch_paging import DescribeAlarmsPaging
from sluice_cli.sandbox.gaps.cloudwatch_statistics import GetMetricDataExtendedStatistics
from sluice_cli.sandbox.gaps.cloudwatch_window import GetMetricDataWindow
from sluice_cli.sandbox.gaps.events import EventBridgeTargetEventAccount, S3EventBridgeEventIds
from sluice_cli.sandbox.gaps.iam import IamRequestResources, S3RequestActions, StepFunctionsTaskCredentials
from sluice_cli.sandbox.gaps.s3 import S3BucketPolicyTransportCondition
from sluice_cli.sandbox.gaps.sagemaker_endpoint import UpdateEndpoint, WeightsKeepOmittedFields
from sluice_cli.sandbox.gaps.sagemaker_resources import SageMakerDuplicateCreates
from sluice_cli.sandbox.gaps.sagemaker_transform import TransformJobCreateValidation, TransformJobLifecycle
from sluice_cli.sandbox.gaps.sns import SnsSubjectValidation
from sluice_cli.sandbox.gaps.stepfunctions import ExecutionStatusChangeEvents, StopExecutionInterrupts
from sluice_cli.sandbox.gaps.time_compression import TimeCompression

# Every gap, in the order installed (uninstalled in reverse). TransformJobCreateValidation wraps the
# lifecycle patch, so it refuses before a job starts. MetricAlarmEvaluation comes after
# AlarmStateChangeEvents: its thread stops before that unpatches. LambdaEventInvocations wraps
# StepFunctionsLambdaTasks' patch of LambdaFunction.invoke.
ALL_GAPS: tuple[type[Gap], ...] = (
    S3EventBridgeEventIds,
    EventBridgeTargetEventAccount,
    S3BucketPolicyTransportCondition,
    TransformJobLifecycle,
    TransformJobCreateValidation,
    LambdaInvokeNeedsDocker,
    WeightsKeepOmittedFields,
    UpdateEndpoint,
    SageMakerDuplicateCreates,
    AutoscalingObjectNotFound,
    DeregisterDeletesScalingConfiguration,
    PutNeedsScalableTarget,
    StepScalingPolicyAlarms,
    DescribeAlarmsPaging,
    GetMetricDataExtendedStatistics,
    GetMetricDataSeriesIndex,
    # After the index, so that it wraps it: the index reads the window's bounds as given, not truncated.
    GetMetricDataWindow,
    SnsSubjectValidation,
    AlarmStateChangeEvents,
    StepFunctionsLambdaTasks,
    LambdaEventInvocations,
    TimeCompression,
    StopExecutionInterrupts,
    ExecutionStatusChangeEvents,
    MetricAlarmEvaluation,
    IamRequestResources,
    S3RequestActions,
    StepFunctionsTaskCredentials,
    SandboxStackRecord,
)


G = TypeVar("G", bound=Gap)


class EmulatorGaps:
    """The sandbox's gap-fillers, installed in order and uninstalled in reverse order."""

    def __init__(self, gaps: list[Gap]) -> None:
        self.gaps = gaps

    @classmethod
    def default(
        cls,
        transform_delay_seconds: float = 1.0,
        *,
        time_scale: float = 1.0,
        update_delay_seconds: float = 0.0,
        weights_update_delay_seconds: float | None = None,
        evaluate_alarms: bool = True,
        alarm_evaluation_interval: float = 1.0,
    ) -> EmulatorGaps:
        """Every filler. `time_scale`: Step Functions seconds per declared second (TimeCompression);
        `update_delay_seconds`: the Updating phase of a SageMaker endpoint update (UpdateEndpoint), and
        `weights_update_delay_seconds` that of a weights-only one (None: the same);
        `evaluate_alarms`: run MetricAlarmEvaluation (periods scaled by TimeCompression's time_scale,
        read at every pass), a pass at least every `alarm_evaluation_interval` wall seconds."""
        compression = TimeCompression(time_scale=time_scale)
        configured: list[Gap] = [
            TransformJobLifecycle(delay_seconds=transform_delay_seconds),
            UpdateEndpoint(
                update_delay_seconds=update_delay_seconds,
                weights_update_delay_seconds=weights_update_delay_seconds,
            ),
            compression,
        ]
        if evaluate_alarms:
            configured.append(
                MetricAlarmEvaluation(
                    time_scale=lambda: compression.time_scale,
                    evaluation_interval=alarm_evaluation_interval,
                )
            )
        by_type = {type(gap): gap for gap in configured}
        left_out = set() if evaluate_alarms else {MetricAlarmEvaluation}
        return cls([by_type.get(kind) or kind() for kind in ALL_GAPS if kind not in left_out])

    def install(self) -> None:
        installed: list[Gap] = []
        try:
            for gap in self.gaps:
                gap.install()
                installed.append(gap)
        except BaseException:
            for gap in reversed(installed):
                gap.uninstall()
            raise

    def uninstall(self) -> None:
        for gap in reversed(self.gaps):
            gap.uninstall()

    def pending(self) -> int:
        return sum(gap.pending() for gap in self.gaps)

    def get(self, gap_type: type[G]) -> G:
        for gap in self.gaps:
            if isinstance(gap, gap_type):
                return gap
        raise KeyError(gap_type.__name__)

    def __enter__(self) -> Self:
        self.install()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.uninstall()
