"""SageMaker as AWS reports it, built from moto's records: a transform job's state change event and an
endpoint's production variants (docs/EMULATION.md, SageMaker)."""

from __future__ import annotations

import datetime as dt
from typing import Any

TRANSFORM_DETAIL_TYPE = "SageMaker Transform Job State Change"


def _epoch_millis(moment: dt.datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def transform_job_event_detail(job: Any) -> dict[str, Any]:
    """The `detail` of "SageMaker Transform Job State Change" as AWS sends it (times in epoch millis,
    tags as a map)."""
    detail: dict[str, Any] = {
        "TransformJobName": job.transform_job_name,
        "TransformJobArn": job.arn,
        "TransformJobStatus": job.transform_job_status,
    }
    if job.failure_reason:
        detail["FailureReason"] = job.failure_reason
    detail["ModelName"] = job.model_name
    optional = {
        "MaxConcurrentTransforms": job.max_concurrent_transforms,
        "ModelClientConfig": job.model_client_config,
        "MaxPayloadInMB": job.max_payload_in_mb,
        "BatchStrategy": job.batch_strategy,
    }
    detail.update({k: v for k, v in optional.items() if v is not None})
    detail["Environment"] = job.environment or {}
    detail["TransformInput"] = job.transform_input
    detail["TransformOutput"] = job.transform_output
    detail["TransformResources"] = job.transform_resources
    for key, value in (
        ("DataProcessing", job.data_processing),
        ("DataCaptureConfig", job.data_capture_config),
    ):
        if value:
            detail[key] = value
    times = {
        "CreationTime": _epoch_millis(job.creation_time),
        "TransformStartTime": _epoch_millis(job.transform_start_time),
        "TransformEndTime": _epoch_millis(job.transform_end_time),
    }
    detail.update({k: v for k, v in times.items() if v is not None})
    detail["Tags"] = {str(t["Key"]): str(t["Value"]) for t in job.tags or []}
    return detail


def endpoint_variants(
    config_variants: list[dict[str, Any]],
    current: dict[str, dict[str, Any]] | None = None,
    retained: frozenset[str] | set[str] = frozenset(),
) -> list[dict[str, Any]]:
    """DescribeEndpoint's ProductionVariants once an endpoint runs `config_variants` (an endpoint config's
    ProductionVariants): weight and instance count from the config, as AWS reports them (a weight of 0
    is 0.0; no InitialVariantWeight is 1.0), or kept from `current` (variant name -> summary) for the
    properties in `retained` (UpdateEndpoint's RetainAllVariantProperties)."""
    current = current or {}
    variants = []
    for config in config_variants:
        name = config["VariantName"]
        variant: dict[str, Any] = {"VariantName": name}
        kept = current.get(name, {})
        weight = config.get("InitialVariantWeight")
        weight = 1.0 if weight is None else float(weight)
        if "DesiredWeight" in retained and kept.get("DesiredWeight") is not None:
            weight = float(kept["DesiredWeight"])
        variant["CurrentWeight"] = variant["DesiredWeight"] = weight
        if config.get("ServerlessConfig"):
            serverless = config["ServerlessConfig"]
            variant["CurrentServerlessConfig"] = variant["DesiredServerlessConfig"] = serverless
        else:
            count = config.get("InitialInstanceCount")
            if "DesiredInstanceCount" in retained and kept.get("DesiredInstanceCount") is not None:
                count = kept["DesiredInstanceCount"]
            if count is not None:
                variant["CurrentInstanceCount"] = variant["DesiredInstanceCount"] = int(count)
        variants.append(variant)
    return variants
