"""Amazon SageMaker: endpoint introspection, invocation and transform jobs."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from sluice.adapters.clients import client, error_code, error_message
from sluice.domain.ports import InvocationResult, MultiModelEndpoint
from sluice.errors import CapacityUnavailable, RejectedConfiguration, RejectedTarget, TransientAwsError

_THROTTLING = {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}


def _is_missing(exc: ClientError) -> bool:
    return error_code(exc) == "ValidationException" and (
        "Could not find" in error_message(exc) or "does not exist" in error_message(exc)
    )


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
