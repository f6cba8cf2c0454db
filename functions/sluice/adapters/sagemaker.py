"""Amazon SageMaker: endpoint introspection, invocation and transform jobs."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sluice.adapters.clients import client, error_code, error_message
from sluice.domain.ports import InvocationResult, MultiModelEndpoint
from sluice.errors import (
    CapacityUnavailable,
    EndpointBusy,
    RejectedConfiguration,
    RejectedTarget,
    TransientAwsError,
)

_THROTTLING = {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}


def _is_missing(exc: ClientError) -> bool:
    return error_code(exc) == "ValidationException" and (
        "Could not find" in error_message(exc) or "does not exist" in error_message(exc)
    )


def _already_exists(exc: ClientError) -> bool:
    """A create of a name that exists. SageMaker answers ValidationException `Cannot create already
    existing model|endpoint configuration|endpoint "arn:…"` (quoted in public issues, e.g.
    aws/amazon-sagemaker-examples#2491, hashicorp/terraform-provider-aws#40080); never "already exists"."""
    return error_code(exc) == "ValidationException" and "Cannot create already existing" in error_message(exc)


class SageMakerGateway:
    def describe_multi_model_endpoint(self, endpoint: str) -> MultiModelEndpoint:
        """DescribeEndpoint → DescribeEndpointConfig → DescribeModel, rejecting what cannot host models.

        Raises RejectedTarget when the endpoint is missing, in a state that cannot serve, or has no
        multi-model container.
        """
        sm = client("sagemaker")
        try:
            described = sm.describe_endpoint(EndpointName=endpoint)
        except ClientError as exc:
            if _is_missing(exc):
                raise RejectedTarget(f"endpoint {endpoint!r} does not exist") from exc
            raise
        status = described["EndpointStatus"]
        if status not in ("InService", "Updating"):
            raise RejectedTarget(
                f"endpoint {endpoint!r} is {status}; models are registered only on an endpoint that is "
                "InService or Updating"
            )
        config = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
        model_names = [v["ModelName"] for v in config.get("ProductionVariants", []) if v.get("ModelName")]
        for model_name in model_names:
            model = sm.describe_model(ModelName=model_name)
            containers = [model["PrimaryContainer"]] if model.get("PrimaryContainer") else []
            containers += model.get("Containers", [])
            for container in containers:
                if container.get("Mode") == "MultiModel" and container.get("ModelDataUrl"):
                    return MultiModelEndpoint(
                        name=endpoint,
                        status=status,
                        model_name=model_name,
                        model_data_url=str(container["ModelDataUrl"]),
                    )
        raise RejectedTarget(
            f"endpoint {endpoint!r} is not a multi-model endpoint: none of its models "
            f"({', '.join(model_names) or 'none'}) has a container with Mode=MultiModel and a ModelDataUrl"
        )

    def invoke(self, endpoint: str, target_model: str, content_type: str, body: bytes) -> InvocationResult:
        try:
            response = client("sagemaker-runtime").invoke_endpoint(
                EndpointName=endpoint, TargetModel=target_model, ContentType=content_type, Body=body
            )
        except ClientError as exc:
            return InvocationResult(ok=False, detail=f"{error_code(exc)}: {error_message(exc)}")
        except BotoCoreError as exc:
            # No answer at all: a first load of a large model can outlast botocore's 60 s read timeout
            # (ReadTimeoutError), or the connection drops. The copy is published already: record it.
            return InvocationResult(ok=False, detail=f"no answer from the endpoint: {exc}")
        payload = response["Body"].read(512)
        return InvocationResult(ok=True, detail=f"HTTP 200, {len(payload)} bytes of response read")

    def model_exists(self, model: str) -> bool:
        try:
            client("sagemaker").describe_model(ModelName=model)
        except ClientError as exc:
            if _is_missing(exc):
                return False
            raise
        return True

    def create_transform_job(self, request: dict[str, Any]) -> bool:
        """Start a transform job. True when started now, False when it already existed (same name).

        Raises CapacityUnavailable for quota/throttling (the caller buffers and retries), and
        RejectedConfiguration for requests SageMaker refuses as invalid.
        """
        try:
            client("sagemaker").create_transform_job(**request)
        except ClientError as exc:
            code, message = error_code(exc), error_message(exc)
            if code == "ResourceInUse" or "already exists" in message:
                return False
            if code == "ResourceLimitExceeded" or code in _THROTTLING:
                raise CapacityUnavailable(f"{code}: {message}") from exc
            if code == "ValidationException":
                raise RejectedConfiguration(f"SageMaker refused the transform job: {message}") from exc
            if code in {"InternalFailure", "ServiceUnavailable"}:
                raise TransientAwsError(f"{code}: {message}") from exc
            raise
        return True


_BUSY_MESSAGES = ("Cannot update in-progress endpoint", "in-progress", "is currently being updated")


def _raise_busy_or(exc: ClientError, endpoint: str) -> None:
    code, message = error_code(exc), error_message(exc)
    if code in _THROTTLING or any(text in message for text in _BUSY_MESSAGES):
        raise EndpointBusy(f"{endpoint}: {code}: {message}") from exc


# What a rollout's configs set themselves; every other field DescribeEndpointConfig gives is carried over
# (AsyncInferenceConfig, DataCaptureConfig, KmsKeyId, ShadowProductionVariants, ... and, per variant,
# VolumeSizeInGB, ModelDataDownloadTimeoutInSeconds, ContainerStartupHealthCheckTimeoutInSeconds,
# RoutingConfig, InferenceAmiVersion, ...), so the baseline is never redeployed with SageMaker's defaults.
_CONFIG_IDENTITY = frozenset({"ProductionVariants", "ResponseMetadata"})  # the planner drops the rest
_VARIANT_IDENTITY = frozenset(
    {"VariantName", "ModelName", "InstanceType", "InitialInstanceCount", "InitialVariantWeight"}
)


class EndpointGateway:
    """The SageMaker calls of rollouts: read an endpoint's state, create and switch configs, shift weights.

    The Lambdas use the environment's client; the CLI passes its own (`sagemaker`)."""

    def __init__(self, sagemaker: Any = None) -> None:
        self._sagemaker = sagemaker

    def _sm(self) -> Any:
        return self._sagemaker or client("sagemaker")

    def state(self, endpoint: str) -> dict[str, Any] | None:
        """DescribeEndpoint + its config + each variant's model (containers), or None if no such endpoint."""
        sm = self._sm()
        try:
            described = sm.describe_endpoint(EndpointName=endpoint)
        except ClientError as exc:
            if _is_missing(exc):
                return None
            raise
        config = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
        configured = {v["VariantName"]: v for v in config.get("ProductionVariants", [])}
        variants = []
        for variant in described.get("ProductionVariants", []):
            spec = configured.get(variant["VariantName"], {})
            model = sm.describe_model(ModelName=spec["ModelName"]) if spec.get("ModelName") else {}
            containers = (
                [model["PrimaryContainer"]] if model.get("PrimaryContainer") else model.get("Containers", [])
            )
            variants.append(
                {
                    "variant_name": variant["VariantName"],
                    "model_name": spec.get("ModelName"),
                    "instance_type": spec.get("InstanceType"),
                    "current_instance_count": variant.get(
                        "CurrentInstanceCount", spec.get("InitialInstanceCount")
                    ),
                    "current_weight": variant.get("CurrentWeight", spec.get("InitialVariantWeight")),
                    "containers": [
                        {
                            "image": c.get("Image", ""),
                            "environment": c.get("Environment", {}),
                            "model_data_url": c.get("ModelDataUrl"),
                            "hostname": c.get("ContainerHostname"),
                        }
                        for c in containers
                    ],
                    "inference_execution_mode": (model.get("InferenceExecutionConfig") or {}).get("Mode"),
                    "model_settings": {
                        k: model[k] for k in ("VpcConfig", "EnableNetworkIsolation") if model.get(k)
                    },
                    "execution_role_arn": model.get("ExecutionRoleArn"),
                    "hosting_settings": {k: v for k, v in spec.items() if k not in _VARIANT_IDENTITY},
                }
            )
        return {
            "endpoint": endpoint,
            "status": described["EndpointStatus"],
            "failure_reason": described.get("FailureReason"),
            "config_name": described["EndpointConfigName"],
            "config_settings": {
                k: v for k, v in config.items() if k not in _CONFIG_IDENTITY and v not in (None, [], {})
            },
            "variants": variants,
        }

    def create_model(self, request: dict[str, Any]) -> None:
        try:
            self._sm().create_model(**request)
        except ClientError as exc:
            if not _already_exists(exc):  # a retried step: the model is ours
                raise

    def create_endpoint_config(self, request: dict[str, Any]) -> None:
        try:
            self._sm().create_endpoint_config(**request)
        except ClientError as exc:
            if not _already_exists(exc):
                raise

    def create_endpoint(self, endpoint: str, config_name: str, tags: list[dict[str, str]]) -> None:
        try:
            self._sm().create_endpoint(EndpointName=endpoint, EndpointConfigName=config_name, Tags=tags)
        except ClientError as exc:
            _raise_busy_or(exc, endpoint)
            if not _already_exists(exc):
                raise

    def update_endpoint(
        self, endpoint: str, config_name: str, *, retain_variant_properties: bool = False
    ) -> None:
        """UpdateEndpoint. With retain_variant_properties, variants that stay keep their current instance
        count and weight (RetainAllVariantProperties) instead of the config's initial ones."""
        try:
            self._sm().update_endpoint(
                EndpointName=endpoint,
                EndpointConfigName=config_name,
                RetainAllVariantProperties=retain_variant_properties,
            )
        except ClientError as exc:
            _raise_busy_or(exc, endpoint)
            raise

    def set_weights(self, endpoint: str, desired: list[dict[str, Any]]) -> None:
        """One UpdateEndpointWeightsAndCapacities; every entry carries both weight and instance count."""
        try:
            self._sm().update_endpoint_weights_and_capacities(
                EndpointName=endpoint, DesiredWeightsAndCapacities=desired
            )
        except ClientError as exc:
            _raise_busy_or(exc, endpoint)
            raise

    def delete_model(self, name: str, *, only_if_managed: bool = False) -> bool:
        """Delete a model (gone already: fine). With only_if_managed, only one Sluice created
        (tag sluice:managed=true): a user's own model is never deleted. True when deleted."""
        sm = self._sm()
        try:
            if only_if_managed and not self._managed(sm.describe_model(ModelName=name)["ModelArn"]):
                return False
            sm.delete_model(ModelName=name)
        except ClientError as exc:
            if not _is_missing(exc):
                raise
            return False
        return True

    def delete_endpoint_config(self, name: str, *, only_if_managed: bool = False) -> bool:
        """Delete an endpoint config, with the same rule as delete_model."""
        sm = self._sm()
        try:
            if only_if_managed and not self._managed(
                sm.describe_endpoint_config(EndpointConfigName=name)["EndpointConfigArn"]
            ):
                return False
            sm.delete_endpoint_config(EndpointConfigName=name)
        except ClientError as exc:
            if not _is_missing(exc):
                raise
            return False
        return True

    def _managed(self, arn: str) -> bool:
        tags = self._sm().list_tags(ResourceArn=arn).get("Tags", [])
        return any(tag["Key"] == "sluice:managed" and tag["Value"] == "true" for tag in tags)
