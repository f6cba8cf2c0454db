"""Canary rollouts: everything a rollout will do, planned up front from deploy.json and the endpoint's state.

Pure: no boto3, no I/O, no clock reads. The plan is plain JSON (`to_dict`) because it travels in the Step
Functions input; its request dicts are the boto3 keyword arguments of the calls the state machine makes.

Weights are percent-like: at a step of w % the candidate's DesiredWeight is w and the baseline's 100 - w
(SageMaker routes by each weight over their sum). Every DesiredWeightAndCapacity names both DesiredWeight
and DesiredInstanceCount: SageMaker keeps an omitted field, but the local emulator erases it.

Capacity follows weight: at w % the candidate runs max(1, ceil(baseline_count x w / 100)) instances,
set in the same call, and the baseline keeps its full count until promotion, so a rollback never lacks
capacity. At 100 % the candidate already runs the count it keeps after promotion.

`rollout.candidate_capacity: "full"` gives the candidate that final count at 0 % instead: every step is
weights-only (a rollback never waits for instances; SageMaker refuses updates while Updating) and a
capacity shortfall shows before traffic moves, but the candidate's whole fleet is paid for all along.

Names (SageMaker: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}); `suffix` is unique per rollout and chosen by the
caller, which keeps planning deterministic and lets a version be uploaded again:
- model and promotion config `<endpoint>-<version>-<suffix>`, candidate config `...-canary`; cut, with
  8 hex of a digest, to fit 63 characters.
- candidate variant `<version>` (trailing hyphens dropped; `<version>-<suffix>` if production has it).
- alarms `sluice-<endpoint>-<version>-errors` and `-latency`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any, Literal

from pydantic import Field

from sluice.domain.deploy_config import (
    AnalysisSettings,
    Autoscaling,
    DeployConfig,
    autoscaling_target,
    check_images,
    instance_count_warning,
)
from sluice.domain.layout import validate_sagemaker_name, validate_version
from sluice.domain.records import Record as _Record
from sluice.errors import RejectedConfiguration, RejectedTarget

NAME_MAX_LENGTH = 63
NAME_DIGEST_LENGTH = 8
ALARM_NAME_MAX_LENGTH = 255
FIRST_DEPLOYMENT_INSTANCE_COUNT = 2
CANDIDATE_CONFIG_TAIL = "-canary"
SUFFIX_PATTERN = re.compile(r"^[a-z0-9]{1,12}$")
S3_URI = re.compile(r"^s3://[^/\s]+/\S.*$")

SAGEMAKER_NAMESPACE = "AWS/SageMaker"
ALARM_PERIOD_SECONDS = 60
# Errors: one bad minute is enough to act. Latency: a p99 over one minute of canary traffic is noisy, so
# two minutes in a row.
ERROR_ALARM_PERIODS = 1
LATENCY_ALARM_PERIODS = 2
MICROSECONDS_PER_MILLISECOND = 1000
# Server errors only: Invocation5XXErrors counts requests the model answered with a 5xx; InvocationModelErrors
# counts every non-2XX answer, 4xx included ("Monitor Amazon SageMaker with Amazon CloudWatch"), so a burst of
# malformed client requests would roll back a healthy canary. Divided by the larger of the invocations and a
# floor (max(a, b) = (a + b + |a - b|) / 2, plain arithmetic that CloudWatch metric math and the sandbox both
# evaluate). No invocations in a minute = no data point.
ERRORS_EXPRESSION = "errors5xx"


def error_rate_expression(min_invocations: int) -> str:
    """Metric math for the candidate's error rate, with `min_invocations` as the least denominator."""
    floor = int(min_invocations)
    return f"{ERRORS_EXPRESSION} / ((invocations + {floor} + ABS(invocations - {floor})) / 2)"


SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
SCALING_METRIC = "SageMakerVariantInvocationsPerInstance"
# How the automatic alarms treat minutes without data. `rollback` does not mean "breaching": the candidate
# has no traffic yet when its alarms are created and, at a small step, may see none for a minute or two,
# so a breaching alarm would abort nearly every rollout at step 1 (issue 9, finding 21). `missing` keeps
# such an alarm in INSUFFICIENT_DATA (never ALARM: CloudWatch user guide, "Configuring how CloudWatch
# alarms treat missing data"), and the policy is applied when a step's bake ends
# (actions_walk.bake_passed): an automatic alarm still without data then rolls the rollout back.
MISSING_DATA_TREATMENT = {"continue": "notBreaching", "rollback": "missing", "hold": "missing"}
# Fields of the production model / endpoint config that the candidate keeps (network isolation, VPC,
# data capture, volume encryption): a rollout changes the model, not how it is hosted.
CARRIED_MODEL_SETTINGS = ("VpcConfig", "EnableNetworkIsolation")
# Every other field of the endpoint config (AsyncInferenceConfig, DataCaptureConfig, KmsKeyId, ...) and of
# the production variant (VolumeSizeInGB, ModelDataDownloadTimeoutInSeconds, RoutingConfig,
# InferenceAmiVersion, ...) is carried into the rollout's configs as DescribeEndpointConfig gave it: a
# field left out would redeploy the baseline with SageMaker's default.
SHADOW_VARIANTS = "ShadowProductionVariants"
CONFIG_IDENTITY = frozenset({"EndpointConfigName", "EndpointConfigArn", "CreationTime", "ProductionVariants"})


# --------------------------------------------------------------------------------------------------
# The endpoint as it is (read by the adapters, passed in)
# --------------------------------------------------------------------------------------------------


class BaselineContainer(_Record):
    """A container of the production model, as DescribeModel returned it."""

    image: str
    environment: dict[str, str] = Field(default_factory=dict)
    model_data_url: str | None = None
    hostname: str | None = None


class BaselineAutoscaling(_Record):
    """The production variant's Application Auto Scaling registration (target tracking)."""

    min: int = Field(ge=0)
    max: int = Field(ge=0)
    target: float = Field(gt=0)
    scale_in_cooldown: int | None = None
    scale_out_cooldown: int | None = None


class BaselineVariant(_Record):
    """A production variant of the endpoint. `model_settings` holds the production model's
    CreateModel fields as DescribeModel returned them; those in CARRIED_MODEL_SETTINGS are kept.
    `hosting_settings`: the variant's other ProductionVariant fields (VolumeSizeInGB, timeouts,
    RoutingConfig, ...), all kept."""

    variant_name: str
    model_name: str
    instance_type: str | None  # None: a serverless variant
    current_instance_count: int = Field(ge=1)
    current_weight: float = Field(ge=0)
    containers: list[BaselineContainer] = Field(min_length=1)
    inference_execution_mode: Literal["Serial", "Direct"] | None = None
    model_settings: dict[str, Any] = Field(default_factory=dict)
    hosting_settings: dict[str, Any] = Field(default_factory=dict)
    autoscaling: BaselineAutoscaling | None = None


class BaselineState(_Record):
    """The endpoint before the rollout. `config_settings` holds the endpoint config's other fields as
    DescribeEndpointConfig returned them, all kept in the rollout's configs."""

    endpoint_config_name: str
    variants: list[BaselineVariant] = Field(min_length=1)
    config_settings: dict[str, Any] = Field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------------------


class RolloutNames(_Record):
    model: str
    candidate_variant: str
    baseline_variant: str
    candidate_config: str
    promote_config: str
    baseline_config: str
    error_alarm: str
    latency_alarm: str


class RolloutStep(_Record):
    """One step: the exact UpdateEndpointWeightsAndCapacities list, and the one that undoes it."""

    percent: int
    candidate_instances: int
    baseline_instances: int
    desired_weights_and_capacities: list[dict[str, Any]]
    rollback_weights_and_capacities: list[dict[str, Any]]
    awaits_approval: bool


class AutoscalingPlan(_Record):
    """Application Auto Scaling requests for one variant (boto3 keyword arguments)."""

    resource_id: str
    register_scalable_target: dict[str, Any]
    put_scaling_policy: dict[str, Any]
    deregister_scalable_target: dict[str, Any]


class Cleanup(_Record):
    models: list[str]
    endpoint_configs: list[str]
    alarms: list[str]


class RolloutPlan(_Record):
    """What a rollout does, in order: create_model, candidate_config (then UpdateEndpoint), alarms, the
    steps (each followed by a bake of bake_seconds; the step with awaits_approval waits for `promote`
    first), then promote_config (UpdateEndpoint) and autoscaling (deploy.json's, else the baseline's
    carried over). A rollback sets the current rollback_weights_and_capacities (`rollback_weights`
    before the first step), then returns the endpoint to names.baseline_config and restores the
    baseline's autoscaling (baseline_autoscaling: rollouts recorded without a scaling snapshot)."""

    endpoint: str
    version: str
    suffix: str
    names: RolloutNames
    create_model: dict[str, Any]
    candidate_config: dict[str, Any]
    promote_config: dict[str, Any]
    rollback_weights: list[dict[str, Any]]
    steps: list[RolloutStep]
    autoscaling: AutoscalingPlan | None
    baseline_autoscaling: AutoscalingPlan | None
    alarms: list[dict[str, Any]]
    alarm_names: list[str]
    manual_approval: bool
    bake_seconds: int
    on_insufficient_data: Literal["hold", "continue", "rollback"]
    analysis: AnalysisSettings | None = None  # None also for rollouts recorded before the analysis
    warnings: list[str]
    cleanup_after_promotion: Cleanup
    cleanup_after_rollback: Cleanup


class FirstDeploymentPlan(_Record):
    """A new endpoint: create_model, endpoint_config, create_endpoint, then autoscaling (if any)."""

    endpoint: str
    version: str
    suffix: str
    model_name: str
    variant_name: str
    endpoint_config_name: str
    create_model: dict[str, Any]
    endpoint_config: dict[str, Any]
    create_endpoint: dict[str, Any]
    autoscaling: AutoscalingPlan | None
    warnings: list[str]


# --------------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------------


def fit_name(base: str, tail: str, max_length: int = NAME_MAX_LENGTH) -> str:
    """`base + tail`, or when longer than max_length, base cut and marked with 8 hex of its digest.

    `base` must start with a letter or digit and `tail` must end with one; the result then matches
    SageMaker's name pattern whenever both parts hold only letters, digits and hyphens.
    """
    name = f"{base}{tail}"
    if len(name) <= max_length:
        return name
    digest = hashlib.sha256(base.encode()).hexdigest()[:NAME_DIGEST_LENGTH]
    keep = max_length - len(tail) - NAME_DIGEST_LENGTH - 1
    if keep < 1:
        raise ValueError(f"tail {tail!r} leaves no room in {max_length} characters")
    return f"{base[:keep].rstrip('-')}-{digest}{tail}"


def candidate_variant_name(version: str, baseline_variants: Sequence[str], suffix: str) -> str:
    """The candidate variant: the version (a valid variant name without its trailing hyphens), with the
    rollout suffix when a production variant already has that name."""
    name = version.rstrip("-")
    taken = {variant.casefold() for variant in baseline_variants}
    return f"{name}-{suffix}" if name.casefold() in taken else name


def alarm_names(endpoint: str, version: str) -> tuple[str, str]:
    """The automatic alarms' names (errors, latency): discoverable by endpoint and version."""
    base = f"sluice-{endpoint}-{version}"
    return (
        fit_name(base, "-errors", ALARM_NAME_MAX_LENGTH),
        fit_name(base, "-latency", ALARM_NAME_MAX_LENGTH),
    )


def _check_inputs(endpoint: str, version: str, model_data_url: str, suffix: str) -> None:
    validate_sagemaker_name(endpoint, "endpoint")
    validate_version(version)
    if not SUFFIX_PATTERN.fullmatch(suffix):
        raise ValueError(f"suffix must be 1 to 12 lowercase letters or digits, got {suffix!r}")
    if not S3_URI.fullmatch(model_data_url):
        raise ValueError(f"model data must be an s3://<bucket>/<key> URI, got {model_data_url!r}")


def _tags(endpoint: str, version: str, suffix: str) -> list[dict[str, str]]:
    return [
        {"Key": "sluice:managed", "Value": "true"},
        {"Key": "sluice:endpoint", "Value": endpoint},
        {"Key": "sluice:version", "Value": version},
        {"Key": "sluice:rollout", "Value": suffix},
    ]


# --------------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------------


def _model_containers(
    config: DeployConfig,
    baseline: BaselineVariant | None,
    model_data_url: str,
    allowed_registries: Sequence[str],
    endpoint: str,
) -> dict[str, Any]:
    """PrimaryContainer, or Containers + InferenceExecutionConfig, of the candidate's CreateModel."""
    check_images(config, allowed_registries)
    if config.containers is not None:
        containers: list[dict[str, Any]] = []
        for spec in config.containers:
            container: dict[str, Any] = {"Image": spec.image, "Environment": dict(spec.environment)}
            model_data = model_data_url if spec.takes_upload else spec.model_data
            if model_data is not None:
                container["ModelDataUrl"] = model_data
            if spec.hostname is not None:
                container["ContainerHostname"] = spec.hostname
            containers.append(container)
        return {"Containers": containers, "InferenceExecutionConfig": {"Mode": config.execution_mode}}
    if baseline is None:
        if config.image is None:
            raise RejectedConfiguration(
                f"endpoint {endpoint!r} does not exist yet, so there is no production image to keep: its "
                'first deployment needs "image" (or "containers") in deploy.json'
            )
        image, environment = config.image, config.environment or {}
    elif config.image is None and len(baseline.containers) > 1:
        raise RejectedConfiguration(
            f"the production variant {baseline.variant_name!r} of endpoint {endpoint!r} runs "
            f'{len(baseline.containers)} containers: list them under "containers" in deploy.json (leave '
            'model_data out of the one that takes the upload), or set "image" for a single container'
        )
    else:
        production = baseline.containers[0]
        image = config.image or production.image
        carried = production.environment if len(baseline.containers) == 1 else {}
        environment = config.environment if config.environment is not None else carried
    return {
        "PrimaryContainer": {"Image": image, "ModelDataUrl": model_data_url, "Environment": dict(environment)}
    }


def _production_variant(
    variant: str,
    model: str,
    instance_type: str,
    count: int,
    weight: float,
    hosting_settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        **(hosting_settings or {}),
        "VariantName": variant,
        "ModelName": model,
        "InstanceType": instance_type,
        "InitialInstanceCount": count,
        "InitialVariantWeight": weight,
    }


def _weights(
    candidate: str, candidate_weight: int, candidate_count: int, baseline: str
) -> list[dict[str, Any]]:
    """A DesiredWeightsAndCapacities list, weights adding up to 100. The candidate's capacity follows its
    weight; the baseline's count is left out, so it keeps the capacity it has now (DesiredInstanceCount
    is optional: a field left out is unchanged), including a scale-out by autoscaling during the canary."""
    return [
        {
            "VariantName": candidate,
            "DesiredWeight": float(candidate_weight),
            "DesiredInstanceCount": candidate_count,
        },
        {"VariantName": baseline, "DesiredWeight": float(100 - candidate_weight)},
    ]


def candidate_instances(baseline_count: int, percent: int) -> int:
    """Instances the candidate needs at `percent` % of the traffic the baseline serves with baseline_count:
    max(1, ceil(baseline_count x percent / 100)), in integers."""
    return max(1, -(-baseline_count * percent // 100))


def scalable_target(endpoint: str, variant: str) -> dict[str, str]:
    """A variant's scalable target (the Application Auto Scaling key of its instance count)."""
    return {
        "ServiceNamespace": "sagemaker",
        "ResourceId": f"endpoint/{endpoint}/variant/{variant}",
        "ScalableDimension": SCALABLE_DIMENSION,
    }


def _autoscaling_plan(
    endpoint: str,
    variant: str,
    minimum: int,
    maximum: int,
    target: float,
    scale_in_cooldown: int | None,
    scale_out_cooldown: int | None,
) -> AutoscalingPlan:
    target_key = scalable_target(endpoint, variant)
    resource_id = target_key["ResourceId"]
    tracking: dict[str, Any] = {
        "TargetValue": target,
        "PredefinedMetricSpecification": {"PredefinedMetricType": SCALING_METRIC},
    }
    if scale_in_cooldown is not None:
        tracking["ScaleInCooldown"] = scale_in_cooldown
    if scale_out_cooldown is not None:
        tracking["ScaleOutCooldown"] = scale_out_cooldown
    return AutoscalingPlan(
        resource_id=resource_id,
        register_scalable_target={**target_key, "MinCapacity": minimum, "MaxCapacity": maximum},
        put_scaling_policy={
            "PolicyName": f"sluice-{endpoint}-{variant}-invocations",
            **target_key,
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": tracking,
        },
        deregister_scalable_target=dict(target_key),
    )


def _from_config(endpoint: str, variant: str, autoscaling: Autoscaling) -> AutoscalingPlan:
    return _autoscaling_plan(
        endpoint,
        variant,
        autoscaling.min,
        autoscaling.max,
        autoscaling_target(autoscaling),
        autoscaling.scale_in_cooldown,
        autoscaling.scale_out_cooldown,
    )


def _from_baseline(
    endpoint: str, variant: str, autoscaling: BaselineAutoscaling | None
) -> AutoscalingPlan | None:
    if autoscaling is None:
        return None
    return _autoscaling_plan(
        endpoint,
        variant,
        autoscaling.min,
        autoscaling.max,
        autoscaling.target,
        autoscaling.scale_in_cooldown,
        autoscaling.scale_out_cooldown,
    )


def _alarm_requests(
    config: DeployConfig, endpoint: str, version: str, variant: str, names: RolloutNames
) -> list[dict[str, Any]]:
    auto = config.rollout.auto_alarms
    if auto is None:
        return []
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    common: dict[str, Any] = {
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": MISSING_DATA_TREATMENT[config.rollout.on_insufficient_data],
        "Tags": [
            {"Key": "sluice:managed", "Value": "true"},
            {"Key": "sluice:endpoint", "Value": endpoint},
            {"Key": "sluice:version", "Value": version},
        ],
    }
    scope = f"variant {variant!r} (version {version!r}) of endpoint {endpoint!r}"
    cleanup = "Sluice canary alarm: ALARM rolls the rollout back; deleted when the rollout ends."
    alarms: list[dict[str, Any]] = []
    if auto.error_rate is not None:

        def invocation_metric(metric_id: str, metric_name: str) -> dict[str, Any]:
            metric = {"Namespace": SAGEMAKER_NAMESPACE, "MetricName": metric_name, "Dimensions": dimensions}
            return {
                "Id": metric_id,
                "MetricStat": {"Metric": metric, "Period": ALARM_PERIOD_SECONDS, "Stat": "Sum"},
                "ReturnData": False,
            }

        alarms.append(
            {
                "AlarmName": names.error_alarm,
                "AlarmDescription": (
                    f"Error rate of {scope} above {auto.error_rate:g}: Invocation5XXErrors over "
                    f"Invocations (at least {auto.min_invocations}), per minute; client 4xx errors do not "
                    f"count. {cleanup}"
                ),
                "Metrics": [
                    invocation_metric("invocations", "Invocations"),
                    invocation_metric("errors5xx", "Invocation5XXErrors"),
                    {
                        "Id": "errorrate",
                        "Expression": error_rate_expression(auto.min_invocations),
                        "Label": "error rate",
                        "ReturnData": True,
                    },
                ],
                "EvaluationPeriods": ERROR_ALARM_PERIODS,
                "DatapointsToAlarm": ERROR_ALARM_PERIODS,
                "Threshold": auto.error_rate,
                **common,
            }
        )
    if auto.latency_p99_ms is not None:
        alarms.append(
            {
                "AlarmName": names.latency_alarm,
                "AlarmDescription": (
                    f"p99 ModelLatency of {scope} above {auto.latency_p99_ms:g} ms for "
                    f"{LATENCY_ALARM_PERIODS} minutes. {cleanup}"
                ),
                "Namespace": SAGEMAKER_NAMESPACE,
                "MetricName": "ModelLatency",
                "Dimensions": dimensions,
                "ExtendedStatistic": "p99",
                "Period": ALARM_PERIOD_SECONDS,
                "EvaluationPeriods": LATENCY_ALARM_PERIODS,
                "DatapointsToAlarm": LATENCY_ALARM_PERIODS,
                # ModelLatency is reported in microseconds.
                "Threshold": auto.latency_p99_ms * MICROSECONDS_PER_MILLISECOND,
                **common,
            }
        )
    return alarms


# --------------------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------------------


def plan_rollout(
    *,
    endpoint: str,
    version: str,
    config: DeployConfig,
    baseline: BaselineState,
    model_data_url: str,
    execution_role_arn: str,
    suffix: str,
    allowed_registries: Sequence[str],
) -> RolloutPlan:
    """Plan the canary rollout of `version` (its archive at model_data_url) onto an existing endpoint.

    Raises RejectedConfiguration (deploy.json asks for something impossible, e.g. an image outside the
    allow-list) or RejectedTarget (the endpoint's shape is one Sluice does not roll out onto).
    """
    _check_inputs(endpoint, version, model_data_url, suffix)
    production = _single_production_variant(endpoint, baseline)
    if production.instance_type is None:
        raise RejectedTarget(
            f"the production variant {production.variant_name!r} of endpoint {endpoint!r} is serverless: "
            "Sluice rolls out onto instance-backed variants only"
        )
    instance_type = config.instance_type or production.instance_type
    error_alarm, latency_alarm = alarm_names(endpoint, version)
    base = f"{endpoint}-{version}"
    names = RolloutNames(
        model=fit_name(base, f"-{suffix}"),
        candidate_variant=candidate_variant_name(version, [production.variant_name], suffix),
        baseline_variant=production.variant_name,
        candidate_config=fit_name(base, f"-{suffix}{CANDIDATE_CONFIG_TAIL}"),
        promote_config=fit_name(base, f"-{suffix}"),
        baseline_config=baseline.endpoint_config_name,
        error_alarm=error_alarm,
        latency_alarm=latency_alarm,
    )
    carried_model = {
        key: production.model_settings[key]
        for key in CARRIED_MODEL_SETTINGS
        if key in production.model_settings
    }
    carried_config = {k: v for k, v in baseline.config_settings.items() if k not in CONFIG_IDENTITY}
    # The baseline's hosting settings suit the candidate when it runs on the same instance type.
    candidate_hosting = production.hosting_settings if instance_type == production.instance_type else {}
    tags = _tags(endpoint, version, suffix)
    create_model = {
        "ModelName": names.model,
        "ExecutionRoleArn": execution_role_arn,
        **_model_containers(config, production, model_data_url, allowed_registries, endpoint),
        **carried_model,
        "Tags": tags,
    }

    baseline_count = production.current_instance_count
    promote_count = max(baseline_count, config.initial_instance_count or 0)
    steps: list[RolloutStep] = []
    final = config.rollout.steps[-1]
    full = config.rollout.candidate_capacity == "full"
    for percent in config.rollout.steps:
        # "full": every instance from the start (added at 0 %), so no step waits for instances to launch
        count = promote_count if full else candidate_instances(baseline_count, percent)
        if percent == final:
            count = max(count, promote_count)
        steps.append(
            RolloutStep(
                percent=percent,
                candidate_instances=count,
                baseline_instances=baseline_count,
                desired_weights_and_capacities=_weights(
                    names.candidate_variant, percent, count, names.baseline_variant
                ),
                rollback_weights_and_capacities=_weights(
                    names.candidate_variant, 0, count, names.baseline_variant
                ),
                awaits_approval=config.rollout.manual_approval and percent == final,
            )
        )
    first_count = steps[0].candidate_instances
    candidate_config = {
        "EndpointConfigName": names.candidate_config,
        "ProductionVariants": [
            _production_variant(
                production.variant_name,
                production.model_name,
                production.instance_type,
                baseline_count,
                production.current_weight,
                production.hosting_settings,
            ),
            _production_variant(
                names.candidate_variant, names.model, instance_type, first_count, 0.0, candidate_hosting
            ),
        ],
        **carried_config,
        "Tags": tags,
    }
    promote_config = {
        "EndpointConfigName": names.promote_config,
        "ProductionVariants": [
            _production_variant(
                names.candidate_variant, names.model, instance_type, promote_count, 1.0, candidate_hosting
            )
        ],
        **carried_config,
        "Tags": tags,
    }

    # deploy.json's; else promotion carries the baseline's whole configuration (rollout/scaling_carry.py)
    scaling = config.autoscaling
    autoscaling = None if scaling is None else _from_config(endpoint, names.candidate_variant, scaling)
    baseline_autoscaling = _from_baseline(endpoint, production.variant_name, production.autoscaling)
    carried = _from_baseline(endpoint, names.candidate_variant, production.autoscaling)

    alarms = _alarm_requests(config, endpoint, version, names.candidate_variant, names)
    auto_names = [alarm["AlarmName"] for alarm in alarms]
    warnings = _capacity_warnings(
        endpoint, promote_count, autoscaling or carried, config.require_multi_instance
    )
    return RolloutPlan(
        endpoint=endpoint,
        version=version,
        suffix=suffix,
        names=names,
        create_model=create_model,
        candidate_config=candidate_config,
        promote_config=promote_config,
        rollback_weights=_weights(names.candidate_variant, 0, first_count, names.baseline_variant),
        steps=steps,
        autoscaling=autoscaling,
        baseline_autoscaling=baseline_autoscaling,
        alarms=alarms,
        alarm_names=[*auto_names, *config.rollout.alarms],
        manual_approval=config.rollout.manual_approval,
        bake_seconds=config.rollout.bake_seconds,
        on_insufficient_data=config.rollout.on_insufficient_data,
        analysis=config.rollout.analysis,
        warnings=warnings,
        cleanup_after_promotion=Cleanup(
            models=[production.model_name],
            endpoint_configs=[baseline.endpoint_config_name, names.candidate_config],
            alarms=auto_names,
        ),
        cleanup_after_rollback=Cleanup(
            models=[names.model], endpoint_configs=[names.candidate_config], alarms=auto_names
        ),
    )


def _single_production_variant(endpoint: str, baseline: BaselineState) -> BaselineVariant:
    if len(baseline.variants) > 1:
        listed = ", ".join(repr(variant.variant_name) for variant in baseline.variants)
        raise RejectedTarget(
            f"endpoint {endpoint!r} has {len(baseline.variants)} production variants ({listed}): Sluice "
            "rolls a version out against a single production variant. Another rollout or an A/B test is in "
            "place: finish it (sluice status / abort) before uploading"
        )
    if baseline.config_settings.get(SHADOW_VARIANTS):
        raise RejectedTarget(
            f"endpoint {endpoint!r} runs a shadow test (ShadowProductionVariants): SageMaker allows one "
            "production variant beside a shadow variant, so a canary cannot add the candidate. End the "
            "shadow test (UpdateEndpoint to a config without ShadowProductionVariants) before uploading"
        )
    return baseline.variants[0]


def _capacity_warnings(
    endpoint: str, count: int, autoscaling: AutoscalingPlan | None, require_multi_instance: bool
) -> list[str]:
    """Single-instance warnings (rejections with require_multi_instance) and capacity surprises."""
    counts = [(count, f"endpoint {endpoint!r}")]
    notes: list[str] = []
    if autoscaling is not None:
        minimum = int(autoscaling.register_scalable_target["MinCapacity"])
        maximum = int(autoscaling.register_scalable_target["MaxCapacity"])
        if count > 1 and minimum == 1:
            counts.append((1, f"endpoint {endpoint!r} at its autoscaling min (1)"))
        if count > maximum:
            notes.append(
                f"endpoint {endpoint!r} will run {count} instances but its autoscaling max is {maximum}: "
                f"Application Auto Scaling will scale it in to {maximum} once registered"
            )
    warnings = [instance_count_warning(number, require_multi_instance, what=what) for number, what in counts]
    return [warning for warning in warnings if warning is not None] + notes


def plan_first_deployment(
    *,
    endpoint: str,
    version: str,
    config: DeployConfig,
    model_data_url: str,
    execution_role_arn: str,
    suffix: str,
    allowed_registries: Sequence[str],
) -> FirstDeploymentPlan:
    """Plan the first deployment of an endpoint that does not exist yet: the version at 100 %.

    Needs an image (or containers) and an instance type in deploy.json. Instances: initial_instance_count,
    else 2 (so SageMaker spreads them across Availability Zones), kept within autoscaling min..max.
    """
    _check_inputs(endpoint, version, model_data_url, suffix)
    containers = _model_containers(config, None, model_data_url, allowed_registries, endpoint)
    if config.instance_type is None:
        raise RejectedConfiguration(
            f"endpoint {endpoint!r} does not exist yet, so there is no production instance type to keep: "
            'its first deployment needs "instance_type" in deploy.json, e.g. "ml.m5.xlarge"'
        )
    count = config.initial_instance_count
    if count is None:
        count = FIRST_DEPLOYMENT_INSTANCE_COUNT
        if config.autoscaling is not None:
            count = min(max(count, config.autoscaling.min), config.autoscaling.max)
    name = fit_name(f"{endpoint}-{version}", f"-{suffix}")
    variant = version.rstrip("-")
    tags = _tags(endpoint, version, suffix)
    autoscaling = None if config.autoscaling is None else _from_config(endpoint, variant, config.autoscaling)
    return FirstDeploymentPlan(
        endpoint=endpoint,
        version=version,
        suffix=suffix,
        model_name=name,
        variant_name=variant,
        endpoint_config_name=name,
        create_model={"ModelName": name, "ExecutionRoleArn": execution_role_arn, **containers, "Tags": tags},
        endpoint_config={
            "EndpointConfigName": name,
            "ProductionVariants": [_production_variant(variant, name, config.instance_type, count, 1.0)],
            "Tags": tags,
        },
        create_endpoint={"EndpointName": endpoint, "EndpointConfigName": name, "Tags": tags},
        autoscaling=autoscaling,
        warnings=_capacity_warnings(endpoint, count, autoscaling, config.require_multi_instance),
    )


# --------------------------------------------------------------------------------------------------
# The lease queue
# --------------------------------------------------------------------------------------------------


_UPLOAD_IDENTITY = attrgetter("key", "object_version_id", "uploaded_at")


class QueuedVersion(_Record):
    """A version uploaded while another rollout of the endpoint runs. `uploaded_at` is the S3 event's
    time: events arrive late and out of order, so it, not arrival, says which upload is newer."""

    version: str
    key: str
    uploaded_at: datetime
    object_version_id: str | None = None

    def same_upload(self, other: QueuedVersion) -> bool:
        return _UPLOAD_IDENTITY(self) == _UPLOAD_IDENTITY(other)


def decide_next_queued(
    current: QueuedVersion | None, incoming: QueuedVersion
) -> tuple[QueuedVersion, QueuedVersion | None]:
    """(what stays queued, what is superseded) when `incoming` arrives while a rollout runs.

    Only the newest upload runs next; the other one is superseded - the one queued before, or the
    incoming one itself when its event is late and an upload made after it is already queued. A
    redelivered event supersedes nothing. Equal times: the later arrival wins.
    """
    if current is None or current.same_upload(incoming):
        return (current or incoming), None
    if incoming.uploaded_at < current.uploaded_at:
        return current, incoming
    return incoming, current
